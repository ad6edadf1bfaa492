"""``sparse-hw estimate``: ERT.yaml, ART.yaml and a provenance summary for an architecture."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import handle_errors


def register(app: typer.Typer) -> None:
    @app.command("estimate")
    @handle_errors
    def estimate_cmd(
        files: list[Path] = typer.Argument(..., help="Architecture and compound-component files (YAML)."),
        out: Path = typer.Option(..., "--out", help="Write ERT.yaml, ART.yaml and estimate_summary.yaml here."),
        estimator: str = typer.Option(
            "builtin", "--estimator", help="builtin (sparse-hw's tables and fits) or accelergy (run it if installed)."
        ),
        force: bool = typer.Option(False, "--force", help="Replace --out even when sparse-hw did not write it."),
        jinja: list[str] = typer.Option([], "--jinja", help="KEY=VALUE for Jinja templates (repeatable)."),
        accelergy: str | None = typer.Option(
            None, "--accelergy", help="Reproduce this Accelergy's arithmetic: 0.4 (today's, the default) or 0.3 "
            "(nested action shares dropped, dummy_table fallbacks, log = ceil(log2))."),
        precision: int | None = typer.Option(
            None, "--precision", help="Round every plug-in figure and compound total to N decimals, as "
            "Accelergy's --precision (3 before May 2021, then 5); default: no rounding."),
    ) -> None:
        """Estimate the energy per action (ERT) and area (ART) of every component in FILES."""
        from ..errors import ConfigError
        from ..estimate.cli import emulation, write_estimate
        from ._common import jinja_data

        if estimator not in ("builtin", "accelergy"):
            raise ConfigError(f"unknown estimator {estimator!r}", key_path="--estimator", fix="use builtin or accelergy")
        emulate = emulation(accelergy, precision)
        if estimator == "accelergy" and (accelergy is not None or precision is not None):
            raise ConfigError("--accelergy/--precision choose the builtin estimator's arithmetic, not that of an "
                              "installed Accelergy", key_path="--estimator",
                              fix="drop --accelergy/--precision, or use --estimator builtin")
        written = write_estimate(files, out, estimator=estimator, force=force, jinja=jinja_data(jinja) or None,
                                 emulate=emulate)
        typer.echo(f"wrote {', '.join(p.name for p in written)} to {out}")
