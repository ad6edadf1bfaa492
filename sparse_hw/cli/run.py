"""``sparse-hw run CONFIG.yaml``: train -> extract -> simulate -> report from one configuration."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import console, err_console, handle_errors


def register(app: typer.Typer) -> None:
    @app.command("run")
    @handle_errors
    def run_cmd(
        config: Path = typer.Argument(..., help="Run configuration (see examples/pointnet2_gmp.yaml)."),
    ) -> None:
        """Run the whole pipeline; unchanged stages of an earlier run are reused."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from ..pipeline import run

        with Progress(
            TextColumn("[bold]{task.fields[stage]}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}"), console=err_console,
        ) as bar:
            task = bar.add_task("", total=None, stage="run")

            def log(message: str) -> None:
                bar.console.print(message)

            def sim_progress(result, total: int) -> None:
                source = "cache" if result.cached else f"{result.seconds:.1f} s"
                bar.update(task, advance=1, total=total, stage="simulate", description=f"{result.job.label()} ({source})")

            out = run(config, log=log, sim_progress=sim_progress)
        console.print(f"done: {out} (report in {out / 'report'})", markup=False)
