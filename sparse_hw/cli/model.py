"""``sparse-hw model``: evaluate one fixed mapping, like ``timeloop-model`` on the same files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import console, echo, handle_errors

if TYPE_CHECKING:
    import typer

#: the parameters `register` declares, as `sparse_hw.cli._fast` reads them without importing typer (see `map`)
FAST_PARAMS = (
    ("files", list[Path], (), ..., None),
    ("arch", str | None, ("--arch",), None, None),
    ("as_json", bool, ("--json",), False, None),
    ("out", Path | None, ("--out",), None, None),
    ("force", bool, ("--force",), False, None),
    ("jinja", list[str], ("--jinja",), [], None),
)


def register(app: typer.Typer) -> None:
    import typer

    @app.command("model")
    @handle_errors
    def model_cmd(
        files: list[Path] = typer.Argument(..., help="Timeloop input files (YAML), merged like Timeloop merges them."),
        arch: str | None = typer.Option(None, "--arch", help="Use a built-in architecture (see `sparse-hw arch list`)."),
        as_json: bool = typer.Option(False, "--json", help="Print the evaluation as one JSON object."),
        out: Path | None = typer.Option(None, "--out", help="Write evaluation.json, stats.txt and map.yaml here."),
        force: bool = typer.Option(
            False, "--force", help="Replace --out even when sparse-hw did not write it (never an input or a file)."
        ),
        jinja: list[str] = typer.Option([], "--jinja", help="KEY=VALUE for Jinja templates (repeatable), as `check`."),
    ) -> None:
        """Evaluate the mapping given in FILES (energy, cycles, area, per-level accesses)."""
        run(files=files, arch=arch, as_json=as_json, out=out, force=force, jinja=jinja)


def run(
    files: list[Path], arch: str | None, as_json: bool, out: Path | None, force: bool, jinja: list[str]
) -> None:
    """The ``model`` command's work: typer's command above calls it, and `_fast` does without typer."""
    from ..pipeline import model_files
    from ._common import jinja_data
    from ._process import started

    ev = model_files(files, arch=arch, out=out, force=force, jinja=jinja_data(jinja) or None, on_start=started)
    if as_json:
        echo(json.dumps(ev.to_json()))
    else:
        _print_summary(ev)


def _print_summary(ev) -> None:
    from rich.table import Table

    table = Table(title="sparse-hw model", show_header=True)
    table.add_column("component")
    table.add_column("energy (pJ)", justify="right")
    table.add_column("share", justify="right")
    for comp, energy in ev.energy_breakdown_pj.items():
        share = energy / ev.energy_pj if ev.energy_pj else 0.0
        table.add_row(comp, f"{energy:,.2f}", f"{share:.1%}")
    table.add_row("total", f"{ev.energy_pj:,.2f}", "100.0%")
    console.print(table)
    console.print(
        f"cycles {ev.cycles:,}  utilization {ev.utilization:.2f}  area {ev.area_um2:,.0f} um^2  "
        f"computes {ev.actual_computes:,.0f} actual / {ev.algorithmic_computes:,.0f} algorithmic"
        + (f"  bound by {ev.bound_by}" if ev.bound_by else "")
    )
    for note in ev.notes:
        console.print(f"note: {note}", markup=False)
