"""``sparse-hw simulate``: map and evaluate every layer of every extract folder on every architecture."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import console, err_console, handle_errors


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    @handle_errors
    def simulate_cmd(
        dirs: list[Path] = typer.Argument(..., help="Folders written by `sparse-hw extract`."),
        arch: list[str] = typer.Option(..., "--arch", help="Built-in architecture (repeat for several)."),
        out: Path = typer.Option(..., "--out", help="Output folder (results.csv, breakdown.csv, mappings/)."),
        backend: str = typer.Option("builtin", "--backend", help="builtin (sparse-hw's engine) or timeloop."),
        jobs: int = typer.Option(0, "--jobs", min=0, help="Parallel layer jobs; 0 = every core (at most 8)."),
        engine: str = typer.Option("local", "--engine", help="local (process pool) or dask."),
        scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786."),
        seed: int = typer.Option(0, "--seed", help="Mapper seed (recorded)."),
        budget_s: float | None = typer.Option(None, "--budget-s", help="Mapper time budget per layer."),
        objective: str | None = typer.Option(None, "--objective", help="Mapper metrics, e.g. delay,energy."),
        pad: bool = typer.Option(True, "--pad/--no-pad", help="Pad dimensions that do not factorize."),
        cache: Path | None = typer.Option(None, "--cache", help="SQLite result cache (default next to --out)."),
    ) -> None:
        """Map every layer on every architecture; cached and resumable."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from ..pipeline import simulate

        metrics = [m.strip() for m in objective.split(",")] if objective else None
        with Progress(
            TextColumn("[bold]simulate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}"), console=err_console, transient=False,
        ) as bar:
            task = bar.add_task("", total=None)

            def progress(result, total: int) -> None:
                source = "cache" if result.cached else f"{result.seconds:.1f} s"
                bar.update(task, advance=1, total=total, description=f"{result.job.label()} ({source})")

            out_dir = simulate(
                dirs, arch, out=out, backend=backend, workers=jobs, engine=engine, scheduler=scheduler,
                seed=seed, budget_s=budget_s, metrics=metrics, pad=pad, cache=cache, progress=progress,
            )
        console.print(f"wrote {out_dir / 'results.csv'}, {out_dir / 'breakdown.csv'}, {out_dir / 'mappings'}")
