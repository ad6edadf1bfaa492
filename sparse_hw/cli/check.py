"""``sparse-hw check``: load and validate Timeloop input files like Timeloop does, print what they hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import console, echo, handle_errors, jinja_data

if TYPE_CHECKING:
    import typer

#: the parameters `register` declares, as `sparse_hw.cli._fast` reads them without importing typer (see `map`)
FAST_PARAMS = (
    ("files", list[Path], (), ..., None),
    ("arch", str | None, ("--arch",), None, None),
    ("jinja", list[str], ("--jinja",), [], None),
    ("as_json", bool, ("--json",), False, None),
)


def register(app: typer.Typer) -> None:
    import typer

    @app.command("check")
    @handle_errors
    def check_cmd(
        files: list[Path] = typer.Argument(
            ...,
            help="Timeloop/Sparseloop/Accelergy YAML files (v0.3 or v0.4, "
            "*.jinja2 templates too), merged like Timeloop merges them.",
        ),
        arch: str | None = typer.Option(None, "--arch", help="Prepend a built-in architecture's files."),
        jinja: list[str] = typer.Option([], "--jinja", help="KEY=VALUE for Jinja2 templates (repeatable)."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    ) -> None:
        """Validate FILES and print the architecture levels, problem, mapping and sparse optimizations.

        Every problem is reported at once (file, key path, line, fix); exit code 2 on bad input.
        """
        run(files=files, arch=arch, jinja=jinja, as_json=as_json)


def run(files: list[Path], arch: str | None, jinja: list[str], as_json: bool) -> None:
    """The ``check`` command's work: typer's command above calls it, and `_fast` does without typer."""
    from ..spec import load_spec

    paths = list(files)
    if arch is not None:
        from ..spec.library import architecture_files

        paths = [*architecture_files(arch), *paths]
    spec = load_spec(paths, jinja_data=jinja_data(jinja) or None)
    from ..spec.summary import summarize

    summary = summarize(spec)
    if as_json:
        echo(json.dumps(summary, default=str))
    else:
        _print(summary)


def _print(s: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    def e(value: object) -> str:  # names come from the user's files: never markup
        return escape(str(value))

    console.print(f"[bold]sparse-hw check[/bold]: {len(s['files'])} file(s) OK")
    arch = s.get("architecture")
    if arch:
        table = Table(
            title=f"architecture {e(arch['name'])} (v{e(arch['version'])}, {arch['format']} format), "
            "outermost first",
            show_header=True,
        )
        for col in ("level", "class", "instances", "mesh", "capacity", "keeps"):
            table.add_column(col, justify="right" if col in ("instances",) else "left", overflow="fold")
        for row in arch["levels"]:
            keeps = "" if row.get("keeps") is None else ", ".join(row["keeps"]) or "-"
            table.add_row(
                e(row["name"]),
                e(row["class"]),
                f"{row['instances']:,}",
                e(row["mesh"]),
                e(row.get("capacity", "(compute)")),
                e(keeps),
            )
        console.print(table)
        sparse = [(row["name"], row["sparse"]) for row in arch["levels"] if row["sparse"]]
        if sparse:
            console.print("[bold]sparse optimizations[/bold]")
            for name, lines in sparse:
                for line in lines:
                    console.print(f"  {name}: {line}", markup=False)
        if "area_um2" in s:
            console.print(f"area (ART x instances): {s['area_um2']:,.1f} um^2")
    prob = s.get("problem")
    if prob:
        dims = " ".join(f"{k}={v}" for k, v in prob["dimensions"].items())
        console.print(f"[bold]problem[/bold] {e(prob['shape'])}: {e(dims)}")
        for ds in prob["data_spaces"]:
            density = f"density {ds['density']:g}" if ds["density"] is not None else "density from"
            source = ds["distribution"]
            if ds.get("data_file_path"):
                source += f" {ds['data_file_path']}"
            console.print(
                f"  {ds['name']}: {ds['size']:,} elements, {density} "
                f"({source}){'  read-write' if ds['read_write'] else ''}",
                markup=False,
            )
    if "mapping" in s:
        console.print(f"[bold]mapping[/bold]: {len(s['mapping'])} directives")
        for d in s["mapping"]:
            if d["type"] == "bypass":
                console.print(f"  {d['target']:>16} keep {', '.join(d['keep'] or []) or '-'}", markup=False)
            else:
                extra = f" split {d['split']}" if d.get("split") is not None else ""
                console.print(
                    f"  {d['target']:>16} {d['type']:8} {d['factors'] or ''} {d['permutation'] or ''}{extra}",
                    markup=False,
                )
    if s.get("sparse_optimizations") and not arch:
        console.print("[bold]sparse optimizations[/bold]")
        for name, lines in s["sparse_optimizations"].items():
            console.print(f"  {name}: " + "; ".join(lines), markup=False)
    c = s["constraints"]
    console.print(f"constraints: {c['architecture']} architecture, {c['mapspace']} mapspace")
    if "mapper" in s:
        m = s["mapper"]
        console.print("mapper: " + ", ".join(f"{k}={v}" for k, v in m.items() if k != "version"), markup=False)
    if s["components"]:
        console.print(f"compound components: {', '.join(s['components'])}", markup=False)
    if s["ert_entries"] is not None or s["art_entries"] is not None:
        console.print(f"ERT entries: {s['ert_entries']}, ART entries: {s['art_entries']}")
