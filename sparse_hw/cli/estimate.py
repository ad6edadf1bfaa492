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
    ) -> None:
        """Estimate the energy per action (ERT) and area (ART) of every component in FILES."""
        from ..errors import ConfigError
        from ..estimate.cli import write_estimate
        from ._common import jinja_data

        if estimator not in ("builtin", "accelergy"):
            raise ConfigError(f"unknown estimator {estimator!r}", key_path="--estimator", fix="use builtin or accelergy")
        written = write_estimate(files, out, estimator=estimator, force=force, jinja=jinja_data(jinja) or None)
        typer.echo(f"wrote {', '.join(p.name for p in written)} to {out}")
