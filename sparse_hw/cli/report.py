"""``sparse-hw report DIR... [--baseline ARCH] --out DIR``: network totals, per-layer table and figures."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from ._common import console, err_console, handle_errors


def _fmt(value: float, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def register(app: typer.Typer) -> None:
    @app.command("report")
    @handle_errors
    def report_command(
        dirs: list[Path] = typer.Argument(..., help="Simulate output folders (results.csv, breakdown.csv)."),
        out: Path = typer.Option(
            ..., "--out", help="Report folder to write (an earlier sparse-hw output there is replaced)."
        ),
        force: bool = typer.Option(
            False, "--force", help="Replace --out even when sparse-hw did not write it (never an input or a file)."
        ),
        baseline: str | None = typer.Option(
            None, "--baseline", help="Architecture to compare against (default: eyeriss_like when present)."
        ),
        extract: list[Path] | None = typer.Option(
            None, "--extract", help="Extract folders with weight_hist.csv (found beside DIR otherwise)."
        ),
        fmt: str = typer.Option(
            "png,pdf", "--format", help="Figure formats, comma-separated (png, pdf, svg)."
        ),
    ) -> None:
        """Summarize simulate outputs: summary.csv (network totals), layers.csv and figures (PNG, PDF)."""
        from ..report import report

        formats = [f.strip() for f in fmt.split(",") if f.strip()]
        result = report(dirs, baseline=baseline, out=out, extract_dirs=extract or [], formats=formats,
                        force=force)
        models = list(dict.fromkeys(result.summary["model"].astype(str)))
        from rich.markup import escape  # names come from edited files: `[bold]` or `[b]` is text, not markup
        from rich.table import Table

        table = Table(title=escape(f"{', '.join(models)}: network totals (baseline: {result.baseline or 'none'})"))
        for name in (
            "checkpoint",
            "arch",
            "exploits",
            "energy uJ",
            "cycles",
            "vs baseline",
            "vs dense",
            "acc.",
        ):
            text = name in ("checkpoint", "arch", "exploits")
            table.add_column(name, justify="left" if text else "right", overflow="fold", no_wrap=not text)
        for r in result.summary.itertuples(index=False):
            table.add_row(
                escape(str(r.checkpoint_label) if len(models) == 1 else f"{r.model} {r.checkpoint_label}"),
                escape(str(r.arch) + (f" [{r.backend}]" if result.summary["backend"].nunique() > 1 else "")),
                escape(str(r.arch_exploits)),
                _fmt(r.energy_pj / 1e6, ".4g"),
                _fmt(r.cycles, ",.0f"),
                _fmt(r.energy_ratio_to_baseline, ".3f"),
                _fmt(r.energy_ratio_to_dense, ".3f"),
                _fmt(r.accuracy, ".3f"),
            )
        console.print(table)
        for note in result.notes:
            err_console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
        console.print(
            f"wrote {len(result.files)} files to {result.out} ({len(result.figures)} figure files)",
            markup=False,
            highlight=False,
        )
