"""``sparse-hw map``: search the best mapping, like ``timeloop-mapper`` on the same files."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ._common import console, err_console, handle_errors


def register(app: typer.Typer) -> None:
    @app.command("map")
    @handle_errors
    def map_cmd(
        files: list[Path] = typer.Argument(..., help="Timeloop input files (architecture, problem, constraints, mapper)."),
        arch: str | None = typer.Option(None, "--arch", help="Use a built-in architecture (see `sparse-hw arch list`)."),
        objective: str | None = typer.Option(
            None, "--objective", help="Metrics in order, ties broken by the next: edp, energy, delay (e.g. delay,energy)."
        ),
        seed: int | None = typer.Option(None, "--seed", help="Seed of the search (recorded in the outputs)."),
        budget_s: float | None = typer.Option(None, "--budget-s", help="Stop searching after this many seconds."),
        jobs: int = typer.Option(
            1, "--jobs", min=0, help="Processes evaluating candidates (same result for any value); 0 = every core."),
        mode: str = typer.Option("auto", "--mode", help="auto | exhaustive | random."),
        pad: bool = typer.Option(False, "--pad", help="Pad dimensions with large prime factors so they factorize."),
        as_json: bool = typer.Option(False, "--json", help="Print the best mapping's evaluation as JSON."),
        out: Path | None = typer.Option(None, "--out", help="Write map.yaml, evaluation.json, stats.txt here."),
    ) -> None:
        """Find the best mapping of the problem in FILES on the architecture."""
        from ..pipeline import map_files

        metrics = [m.strip() for m in objective.split(",") if m.strip()] if objective else None
        result, ev = map_files(
            files, arch=arch, metrics=metrics, seed=seed, budget_s=budget_s, jobs=jobs, mode=mode, pad=pad, out=out
        )
        if as_json:
            typer.echo(json.dumps(ev.to_json() | {"mapper": result.stats()}))
            return
        from .model import _print_summary

        _print_summary(ev)
        stats = result.stats()
        err_console.print(
            f"mapper: {stats['mode']} search, {stats['mappings_evaluated']:,} candidates, "
            f"{stats['valid_mappings']:,} valid, {stats['mapper_seconds']:.2f} s"
        )
        if out is not None:
            console.print(f"wrote {out / 'map.yaml'}")
