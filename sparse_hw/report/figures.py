"""Which figures a report draws, from its CSV tables alone, and how they are saved (PNG and PDF).

``scripts/make_figures.py`` uses :func:`read_tables` + :func:`build_figures` + :func:`save_figures` to
redraw a report's figures from its folder without re-reading any simulate output.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ..errors import DataError, ProblemCollector
from ..io import atomic_write
from . import columns as col
from . import plots
from .actual_plots import actual_vs_statistical_figure
from .inputs import _coerce_numeric, read_table

SUMMARY_FILE = "summary.csv"
LAYERS_FILE = "layers.csv"
ENERGY_BREAKDOWN_FILE = "energy_breakdown.csv"
WEIGHT_HIST_FILE = "weight_hist.csv"
FIGURES_DIR = "figures"
FORMATS: tuple[str, ...] = ("png", "pdf")

#: Figure kinds, in the order they are drawn; each file is ``<kind>__<model>.<format>``.
FIGURE_KINDS: tuple[str, ...] = (
    "energy_breakdown",
    "ratio_per_layer",
    "energy_per_mac",
    "density_per_layer",
    "weight_histogram",
    "accuracy_vs_energy",
)
#: Drawn only for results that hold them (``simulate --density actual``); never listed as skipped.
OPTIONAL_FIGURE_KINDS: tuple[str, ...] = ("actual_vs_statistical",)


def slug(text: str) -> str:
    """A file-name-safe version of a model name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "model"


def build_figures(
    summary: pd.DataFrame, layers: pd.DataFrame, energy_breakdown: pd.DataFrame, weight_hist: pd.DataFrame
) -> tuple[dict[str, Figure], dict[str, str]]:
    """Every figure the tables support, by file stem; and the figures skipped, with the reason."""
    figures: dict[str, Figure] = {}
    skipped: dict[str, str] = {}
    for model in dict.fromkeys(summary["model"].astype(str)):
        makers = {
            "energy_breakdown": (
                lambda m=model: plots.energy_breakdown_figure(energy_breakdown, layers, m),
                "breakdown.csv held no energy rows for this model",
            ),
            "ratio_per_layer": (
                lambda m=model: plots.ratio_per_layer_figure(layers, summary, m),
                "needs a dense checkpoint and a pruned one of the same model",
            ),
            "energy_per_mac": (
                lambda m=model: plots.energy_per_mac_figure(summary, layers, m),
                "no network total with MACs",
            ),
            "density_per_layer": (
                lambda m=model: plots.density_figure(layers, m),
                "no densities in the results",
            ),
            "weight_histogram": (
                lambda m=model: plots.weight_histogram_figure(weight_hist, layers, m),
                "no weight_hist.csv found for this model's checkpoints",
            ),
            "accuracy_vs_energy": (
                lambda m=model: plots.accuracy_energy_figure(summary, m),
                "no accuracy in the results",
            ),
            "actual_vs_statistical": (
                lambda m=model: actual_vs_statistical_figure(layers, m),
                "no `simulate --density actual` results",
            ),
        }
        for kind in FIGURE_KINDS + OPTIONAL_FIGURE_KINDS:
            make, reason = makers[kind]
            stem = f"{kind}__{slug(model)}"
            fig = make()
            if fig is None:
                if kind not in OPTIONAL_FIGURE_KINDS:
                    skipped[stem] = reason
            else:
                figures[stem] = fig
    return figures, skipped


def save_figures(figures: dict[str, Figure], folder: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write each figure in each format (atomically, reproducibly: no timestamps in the files)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    metadata = {"png": {"Software": "sparse-hw"}, "pdf": {"Creator": "sparse-hw", "CreationDate": None}}
    with plots.style():
        for stem, fig in figures.items():
            for fmt in formats:
                buf = io.BytesIO()
                fig.savefig(buf, format=fmt, metadata=metadata.get(fmt))
                written.append(atomic_write(folder / f"{stem}.{fmt}", buf.getvalue()))
    return written


def read_tables(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A report folder's summary, layers, energy breakdown and weight histogram tables."""
    folder = Path(folder)
    problems = ProblemCollector()
    summary = read_table(folder / SUMMARY_FILE, problems, col.SUMMARY_COLUMNS)
    layers = read_table(folder / LAYERS_FILE, problems, col.LAYER_REPORT_COLUMNS)
    problems.raise_if_any(DataError)
    optional = []
    for name, columns in (
        (ENERGY_BREAKDOWN_FILE, col.ENERGY_BREAKDOWN_COLUMNS),
        (WEIGHT_HIST_FILE, col.WEIGHT_HIST_COLUMNS),
    ):
        path = folder / name
        table = read_table(path, problems, columns, allow_empty=True) if path.is_file() else None
        optional.append(table if table is not None else pd.DataFrame(columns=list(columns)))
    problems.raise_if_any(DataError)
    # a `nan` typed into a number cell stays text (read_table): refused here, as `report` refuses it
    for name, df in zip((SUMMARY_FILE, LAYERS_FILE, ENERGY_BREAKDOWN_FILE, WEIGHT_HIST_FILE),
                        (summary, layers, *optional), strict=True):
        numeric = [c for c in df.columns if c not in col.TEXT_COLUMNS and c != "is_dense"]
        _coerce_numeric(df, numeric, folder / name, problems)
    problems.raise_if_any(DataError)
    for df in (summary, layers):
        df["is_dense"] = df["is_dense"].astype(str).str.lower().isin(("true", "1"))
    return summary, layers, optional[0], optional[1]
