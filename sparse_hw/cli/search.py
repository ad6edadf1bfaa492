"""``sparse-hw search CONFIG.yaml``: hardware-aware sparsity search (Optuna; the ``search`` extra)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import console, err_console, handle_errors


def register(app: typer.Typer) -> None:
    @app.command("search")
    @handle_errors
    def search_cmd(
        config: Path = typer.Argument(..., help="Search configuration (see examples/lenet5_search.yaml)."),
        storage: str | None = typer.Option(
            None, "--storage", help="Optuna RDB URL (default sqlite:///OUT/study.db); postgresql://... to share."),
        worker: bool = typer.Option(
            False, "--worker", help="Join the study with other workers: run trials only (a run without --worker "
            "trains and simulates the front in full)."),
    ) -> None:
        """Search per-layer sparsity against accuracy and simulated energy/cycles/EDP; resumable."""
        from importlib.util import find_spec

        from ..errors import ConfigError

        if find_spec("optuna") is None:
            raise ConfigError("`sparse-hw search` needs Optuna", fix="pip install -e '.[search]'")
        from ..search.api import search

        out = search(config, storage=storage, worker=worker, log=lambda m: err_console.print(m, markup=False))
        console.print(f"done: {out} (trials.csv, front.csv, front.png, layers.png)", markup=False)
