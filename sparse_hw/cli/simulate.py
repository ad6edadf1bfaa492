"""``sparse-hw simulate``: map and evaluate every layer of every extract folder on every architecture."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import console, handle_errors, objective_metrics
from ._jobs import BUDGET_S, CACHE, ENGINE, FORCE, JOBS, OBJECTIVE, PAD, SCHEDULER, SEED, job_progress


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    @handle_errors
    def simulate_cmd(
        dirs: list[Path] = typer.Argument(..., help="Folders written by `sparse-hw extract`."),
        arch: list[str] = typer.Option(..., "--arch", help="Built-in architecture (repeat for several)."),
        out: Path = typer.Option(..., "--out", help="Output folder (results.csv, breakdown.csv, mappings/)."),
        backend: str = typer.Option("builtin", "--backend", help="builtin (sparse-hw's engine) or timeloop."),
        jobs: int = JOBS,
        engine: str = ENGINE,
        scheduler: str | None = SCHEDULER,
        seed: int = SEED,
        budget_s: float | None = BUDGET_S,
        objective: str | None = OBJECTIVE,
        pad: bool = PAD,
        cache: Path | None = CACHE,
        force: bool = FORCE,
        jinja: list[str] = typer.Option([], "--jinja", help="KEY=VALUE for Jinja templates (repeatable), as `check`."),
        density: str = typer.Option(
            "statistical", "--density", help="statistical, or actual: also re-evaluate each chosen mapping on the "
            "masks of `extract --masks` (results get *_statistical, *_actual, *_stat_error columns).",
        ),
    ) -> None:
        """Map every layer on every architecture; cached and resumable."""
        from ..pipeline import simulate
        from ._common import jinja_data

        metrics = objective_metrics(objective)
        with job_progress("simulate") as progress:
            out_dir = simulate(
                dirs, arch, out=out, backend=backend, workers=jobs, engine=engine, scheduler=scheduler,
                seed=seed, budget_s=budget_s, metrics=metrics, pad=pad, cache=cache, progress=progress,
                force=force, jinja=jinja_data(jinja) or None,
                **({"density": density} if density != "statistical" else {}),
            )
        console.print(
            f"wrote {out_dir / 'results.csv'}, {out_dir / 'breakdown.csv'}, {out_dir / 'mappings'}", markup=False
        )
