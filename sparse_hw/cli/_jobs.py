"""What ``simulate`` and ``sweep`` share: their layer-job options and the progress bar shown while jobs run.

The options are module-level ``typer.Option`` objects: typer copies each one per command, so both commands
keep the same flags, defaults and help from one definition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from ._common import err_console

JOBS: int = typer.Option(0, "--jobs", min=0, help="Parallel layer jobs; 0 = every core (at most 8).")
ENGINE: str = typer.Option("local", "--engine", help="local (process pool) or dask.")
SCHEDULER: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786.")
SEED: int = typer.Option(0, "--seed", help="Mapper seed (recorded).")
BUDGET_S: float | None = typer.Option(None, "--budget-s", help="Mapper time budget per layer.")
OBJECTIVE: str | None = typer.Option(None, "--objective", help="Mapper metrics, e.g. delay,energy.")
PAD: bool = typer.Option(True, "--pad/--no-pad", help="Pad dimensions that do not factorize.")
CACHE: Path | None = typer.Option(None, "--cache", help="SQLite result cache (default next to --out).")
FORCE: bool = typer.Option(
    False, "--force", help="Replace --out even when sparse-hw did not write it (never an input or a file)."
)


@contextmanager
def job_progress(label: str) -> Iterator[Callable[[Any, int], None]]:
    """A bar titled ``label``; yields the per-result callback the pool calls (job label, cache or seconds)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=err_console, transient=False,
    ) as bar:  # fmt: skip
        task = bar.add_task("", total=None)

        def progress(result: Any, total: int) -> None:
            source = "cache" if result.cached else f"{result.seconds:.1f} s"
            bar.update(task, advance=1, total=total, description=f"{result.job.label()} ({source})")

        yield progress
