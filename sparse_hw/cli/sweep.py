"""``sparse-hw sweep``: a design-space sweep of one architecture's attributes over every layer."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import console, err_console, handle_errors, objective_metrics
from ._jobs import BUDGET_S, CACHE, ENGINE, FORCE, JOBS, OBJECTIVE, PAD, SCHEDULER, SEED, job_progress

_HELP = (
    "Vary architecture attributes over a grid; map every layer at every point; tidy CSV + Pareto plot.\n\n"
    "--set NAME.ATTR=v1,v2,... names a component or container of ARCH (a built-in name or a folder with "
    "arch.yaml) and one of its attributes: shared_glb.depth=8192,16384 (depth/width also find "
    "data_storage_depth/width), DummyBuffer.meshX=7,14 (spatial fan-out, meshX/meshY) or "
    "eyeriss_168.technology=22nm,45nm (a container: every component below it). Repeat --set for more axes; "
    "the grid is their product. Sizes must be whole numbers >= 1.\n\n"
    "The recorded ERT/ART entries of the components an attribute changes are dropped at every point (also "
    "where the value is the original one) and re-estimated with sparse-hw's estimator, so points compare "
    "like with like; a fan-out change keeps the per-instance tables.\n\n"
    "Writes sweep.csv (point, attributes, status, energy, cycles, area, EDP = energy x cycles; totals over "
    "layers), layers.csv (one row per point and layer), pareto.png (energy against cycles, coloured by "
    "area) and points/ (each point's architecture files). A point whose layers no longer map is reported "
    "infeasible with the reason and the sweep goes on; failed jobs are not cached, so a rerun tries them "
    "again (a --budget-s too small for the mapper to find any mapping also shows up as infeasible)."
)


def register(app: typer.Typer) -> None:
    @app.command("sweep", help=_HELP)
    @handle_errors
    def sweep_cmd(
        arch: str = typer.Argument(..., help="Built-in architecture name or a folder with arch.yaml."),
        layers: list[Path] = typer.Argument(..., help="Extract folders and/or Timeloop problem files."),
        sets: list[str] = typer.Option(..., "--set", help="NAME.ATTR=v1,v2,... (repeat for more axes)."),
        out: Path = typer.Option(..., "--out", help="Output folder (sweep.csv, layers.csv, pareto.png, points/)."),
        jobs: int = JOBS,
        engine: str = ENGINE,
        scheduler: str | None = SCHEDULER,
        seed: int = SEED,
        budget_s: float | None = BUDGET_S,
        max_exact: int | None = typer.Option(None, "--max-exact", min=1, help=(
            "Stop each layer's search after this many exact evaluations: a deterministic budget (the "
            "same CSV on any machine), unlike --budget-s.")),
        objective: str | None = OBJECTIVE,
        max_points: int | None = typer.Option(None, "--max-points", min=1, help=(
            "Most grid points (the product of the --set value counts) the sweep may have; a larger grid is "
            "refused before any work starts. Default 4,096.")),
        pad: bool = PAD,
        cache: Path | None = CACHE,
        force: bool = FORCE,
    ) -> None:
        from ..archsweep import MAX_POINTS, arch_sweep, prepare

        max_points = max_points or MAX_POINTS
        plan = prepare(arch, sets, layers, max_points)  # a bad --set or grid fails before the progress bar
        metrics = objective_metrics(objective)
        with job_progress("sweep") as progress:
            out_dir = arch_sweep(
                arch, sets, layers, out=out, cache=cache, workers=jobs, engine=engine, scheduler=scheduler,
                seed=seed, budget_s=budget_s, max_exact=max_exact, metrics=metrics, pad=pad, force=force, plan=plan,
                progress=progress, max_points=max_points,
                log=lambda m: err_console.print(m, markup=False, highlight=False, soft_wrap=True),
            )
        console.print(f"wrote {out_dir / 'sweep.csv'}, {out_dir / 'layers.csv'}, {out_dir / 'pareto.png'}",
                      markup=False)
