"""``sparse-hw map``: search the best mapping, like ``timeloop-mapper`` on the same files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import console, echo, err_console, handle_errors, objective_metrics

if TYPE_CHECKING:
    import typer

MODE_HELP = (
    "auto | exhaustive | random. "
    "exhaustive: every mapping of the constrained mapspace, as Timeloop's (factorizations, loop orders, "
    "X/Y spatial splits, keep/bypass of every data space the constraints leave free), streamed in bounded "
    "memory; bound its time with --budget-s. Both exhaustive and auto skip only what cannot win: orders of "
    "unit loops (they change no number), spatial configurations whose compute-cycle lower bound "
    "(computes / PEs used) already exceeds the best delay when delay is the first metric, and the exact "
    "sparse evaluation of candidates whose proven lower bounds on cycles and energy cannot beat the best. "
    "auto: the same walk, but it also caps, which is sampling, not safe "
    "pruning: beyond max_permutations_per_if_visit loop orders per tiling, 64 keep/bypass combinations or "
    "1.5 M tilings per spatial configuration it draws a seeded random subset, and it places free spatial loops "
    "on X first. "
    "random: seeded random tilings until the mapper's victory condition."
)


#: the parameters `register` declares, as `sparse_hw.cli._fast` reads them without importing typer:
#: (name, type, option names (none: an argument), default (``...``: required), minimum);
#: tests/cli/test_fast_dispatch.py checks them against the declarations
FAST_PARAMS = (
    ("files", list[Path], (), ..., None),
    ("arch", str | None, ("--arch",), None, None),
    ("objective", str | None, ("--objective",), None, None),
    ("seed", int | None, ("--seed",), None, None),
    ("budget_s", float | None, ("--budget-s",), None, None),
    ("jobs", int, ("--jobs",), 1, 0),
    ("mode", str, ("--mode",), "auto", None),
    ("pad", bool, ("--pad",), False, None),
    ("as_json", bool, ("--json",), False, None),
    ("out", Path | None, ("--out",), None, None),
    ("force", bool, ("--force",), False, None),
    ("jinja", list[str], ("--jinja",), [], None),
)


def register(app: typer.Typer) -> None:
    import typer

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
        mode: str = typer.Option("auto", "--mode", help=MODE_HELP),
        pad: bool = typer.Option(False, "--pad", help="Pad dimensions with large prime factors so they factorize."),
        as_json: bool = typer.Option(False, "--json", help="Print the best mapping's evaluation as JSON."),
        out: Path | None = typer.Option(None, "--out", help="Write map.yaml, evaluation.json, stats.txt here."),
        force: bool = typer.Option(
            False, "--force", help="Replace --out even when sparse-hw did not write it (never an input or a file)."
        ),
        jinja: list[str] = typer.Option([], "--jinja", help="KEY=VALUE for Jinja templates (repeatable), as `check`."),
    ) -> None:
        """Find the best mapping of the problem in FILES on the architecture."""
        run(files=files, arch=arch, objective=objective, seed=seed, budget_s=budget_s, jobs=jobs, mode=mode,
            pad=pad, as_json=as_json, out=out, force=force, jinja=jinja)


def run(
    files: list[Path], arch: str | None, objective: str | None, seed: int | None, budget_s: float | None,
    jobs: int, mode: str, pad: bool, as_json: bool, out: Path | None, force: bool, jinja: list[str],
) -> None:
    """The ``map`` command's work: typer's command above calls it, and `_fast` does without typer."""
    from ..pipeline import map_files
    from ._common import jinja_data
    from ._process import started

    metrics = objective_metrics(objective)
    result, ev = map_files(
        files, arch=arch, metrics=metrics, seed=seed, budget_s=budget_s, jobs=jobs, mode=mode, pad=pad,
        out=out, force=force, jinja=jinja_data(jinja) or None, on_start=started,
    )
    if as_json:
        echo(json.dumps(ev.to_json() | {"mapper": result.stats()}))
        return
    from .model import _print_summary

    _print_summary(ev)
    stats = result.stats()
    err_console.print(
        f"mapper: {stats['mode']} search, {stats['mappings_evaluated']:,} candidates, "
        f"{stats['valid_mappings']:,} valid, {stats['mapper_seconds']:.2f} s"
    )
    if out is not None:
        console.print(f"wrote {out / 'map.yaml'}", markup=False)
