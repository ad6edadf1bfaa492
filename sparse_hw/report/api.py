"""The report stage: simulate folders in, ``summary.csv``, ``layers.csv`` and figures out.

The output folder is built in a temporary sibling and moved into place only when everything was
written (``sparse_hw.io.atomic_dir``), so a failed report leaves no half-written folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import ConfigError
from ..io import RunManifest, atomic_dir, check_out_dir
from . import figures as figs
from .inputs import load_inputs
from .tables import ReportTables, build_tables

_KNOWN_FORMATS = ("png", "pdf", "svg")


@dataclass(frozen=True)
class ReportResult:
    """What a report wrote: its folder, the two main tables, every file, the figures and the notes."""

    out: Path
    summary: pd.DataFrame
    layers: pd.DataFrame
    files: tuple[Path, ...]
    figures: tuple[Path, ...]
    baseline: str | None
    notes: tuple[str, ...]


def _check_out(out: Path, dirs: Sequence[Path], force: bool = False) -> None:
    """Never replace an input, a file or a folder sparse-hw did not write (unless ``force``)."""
    check_out_dir(out, inputs=dirs, force=force)


def write_tables(tables: ReportTables, folder: Path) -> list[Path]:
    """The report's CSV files (the figures' inputs included, so they can be redrawn from the folder)."""
    written = []
    frames = {
        figs.SUMMARY_FILE: tables.summary,
        figs.LAYERS_FILE: tables.layers,
        figs.ENERGY_BREAKDOWN_FILE: tables.energy_breakdown,
        figs.WEIGHT_HIST_FILE: tables.weight_hist,
    }
    for name, df in frames.items():
        path = folder / name
        df.to_csv(path, index=False)
        written.append(path)
    return written


def report(
    dirs: Sequence[str | Path],
    *,
    baseline: str | None = None,
    out: str | Path,
    extract_dirs: Sequence[str | Path] = (),
    formats: Sequence[str] = figs.FORMATS,
    force: bool = False,
) -> ReportResult:
    """Summarize one or more simulate folders into tables and figures.

    Args:
        dirs: folders written by ``sparse-hw simulate`` (results.csv, breakdown.csv, manifest.json).
        baseline: architecture the others are compared with; default ``eyeriss_like`` when present.
        out: the report folder (replaced as a whole when a sparse-hw stage wrote it, or with ``force``).
        force: replace ``out`` even when sparse-hw did not write it (never an input or a file).
        extract_dirs: extract folders whose ``weight_hist.csv`` to draw (found beside ``dirs`` otherwise).
        formats: figure file formats.

    Raises:
        DataError: a folder is not a simulate output or its tables are unusable.
        ConfigError: the baseline is not in the results, a format is unknown, or ``out`` is an input.
    """
    out = Path(out)
    bad = [f for f in formats if f not in _KNOWN_FORMATS]
    if bad or not formats:
        raise ConfigError(
            f"unknown figure format(s) {', '.join(bad) or '(none given)'}",
            key_path="--format",
            fix=f"use some of: {', '.join(_KNOWN_FORMATS)}",
        )
    input_dirs = [Path(d) for d in [*dirs, *extract_dirs]]
    _check_out(out, input_dirs, force)
    manifest = RunManifest(
        stage="report",
        settings={
            "dirs": [str(d) for d in dirs],
            "extract_dirs": [str(d) for d in extract_dirs],
            "baseline_requested": baseline,
            "formats": list(formats),
        },
    )
    inputs = load_inputs(dirs, extract_dirs=extract_dirs)
    for path in inputs.files:
        manifest.add_input(path)
    # The report draws nothing at random; it records the mapper seeds of the results it summarizes.
    seeds = pd.to_numeric(inputs.results["mapper_seed"], errors="coerce").dropna().unique()
    manifest.seeds = {"mapper_seed": int(seeds[0]) if len(seeds) == 1 else None}
    if len(seeds) > 1:
        manifest.settings["mapper_seeds"] = sorted(int(x) for x in seeds)
    tables = build_tables(inputs, baseline)
    modeled = tables.layers[tables.layers["reason"].isna()] if "reason" in tables.layers else tables.layers
    # layers without a Timeloop form (issue 14) have nothing to draw
    figures, skipped = figs.build_figures(tables.summary, modeled, tables.energy_breakdown, tables.weight_hist)
    with atomic_dir(out, force=force, inputs=input_dirs) as tmp:
        written = write_tables(tables, tmp)
        drawn = figs.save_figures(figures, tmp / figs.FIGURES_DIR, formats)
        manifest.settings.update(
            baseline=tables.baseline,
            dense_checkpoints=tables.dense_checkpoints,
            figures_skipped=skipped,
            notes=list(tables.notes),
        )
        manifest.outputs = [str(p.relative_to(tmp)) for p in [*written, *drawn]] + ["manifest.json"]
        manifest.finish()
        manifest.write(tmp)
    files = tuple(out / rel for rel in manifest.outputs)
    return ReportResult(
        out=out,
        summary=tables.summary,
        layers=tables.layers,
        files=files,
        figures=tuple(out / p.relative_to(tmp) for p in drawn),
        baseline=tables.baseline,
        notes=tables.notes,
    )
