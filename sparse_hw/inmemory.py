"""The stages from Python without folders: ``extract(model, data)`` -> records, ``simulate(records, archs)`` ->
results, ``report(results)`` -> tables and matplotlib Figures. ``sparse_hw.extract`` / ``simulate`` / ``report``
are these functions.

Each stage still takes what the CLI takes (checkpoint files, extract and simulate folders) and still
writes its folder, atomically, when given ``out=``. Without ``out``, simulate runs the same sweep on
problem files staged in a private temporary folder (the engine's jobs and result cache are keyed on
them) that lives as long as the results object; nothing is left behind.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError


def _is_module(obj: Any) -> bool:
    try:
        from torch import nn
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(obj, nn.Module)


def extract(model: Any, data: Any = None, *, out: str | Path | None = None, threads: int | None = 1, **options):
    """Layer records of ``model`` (an ``nn.Module``) or of a checkpoint file, measured on ``data``.

    Args:
        model: an ``nn.Module`` (left unchanged), or a checkpoint path as for ``sparse-hw extract``.
        data: a DataLoader, an iterable of tensors, a tensor, a Dataset or a dataset spec (``digits``);
            for a checkpoint, None means the dataset it records.
        out: also write the extract folder there (atomically).
        threads: torch intra-op threads while calibrating (None keeps torch's setting).
        options: ``calib_samples``, ``seed``, ``batch_size``, ``dialect``, ``pad``, ``force``... as for
            :func:`sparse_hw.extract.api.extract`.

    Returns:
        ``LayerRecords``: a sequence of ``LayerRecord`` with ``.to_pandas()`` (the layer table) and ``.notes``.
    """
    from .extract.inmemory import LayerRecords, extract_model
    from .train.api import torch_threads

    with torch_threads(threads):
        if _is_module(model):
            return extract_model(model, data, out=out, **options)
        from .extract.api import extract as extract_checkpoint

        if isinstance(data, str) or data is None:
            result = extract_checkpoint(model, data=data, out=out, **options)
        else:
            from .extract.inmemory import calibration_inputs

            _, batches = calibration_inputs(data, calib_samples=options.get("calib_samples", 256),
                                            batch_size=options.get("batch_size", 64))
            result = extract_checkpoint(model, batches=batches, out=out, **options)
    source = {} if out is not None else {"checkpoint": Path(model), "data": data, "threads": threads,
                                         "options": options}
    return LayerRecords(tuple(result.records), result, tuple(result.notes), source)


@dataclass
class SimulationResults:
    """One simulate run: ``to_pandas()`` is ``results.csv``; the folder is private unless ``out`` was given."""

    folder: Path
    extract_dirs: tuple[Path, ...]
    _tmp: Any = field(default=None, repr=False)
    """The TemporaryDirectory holding a private folder (removed with this object)."""

    def __fspath__(self) -> str:
        return str(self.folder)

    def to_pandas(self):
        """Every (checkpoint, layer, architecture) result, as ``results.csv``."""
        import pandas as pd

        return pd.read_csv(self.folder / "results.csv")

    def breakdown(self):
        """Per-component energy and access counts (``breakdown.csv``)."""
        import pandas as pd

        return pd.read_csv(self.folder / "breakdown.csv")


def _stage_records(item: Any, tmp: Path, index: int) -> Path:
    """The extract folder of ``item`` (records, an ExtractResult or a folder), written under ``tmp`` if needed."""
    from .extract.api import ExtractResult
    from .extract.inmemory import LayerRecords

    if isinstance(item, (str, Path)):
        return Path(item)
    if isinstance(item, ExtractResult):
        if item.out is None:
            raise ConfigError("this ExtractResult wrote no folder", key_path="records",
                              fix="pass the records returned by sparse_hw.extract")
        return Path(item.out)
    if isinstance(item, LayerRecords):
        if item.result.out is not None:
            return Path(item.result.out)
        folder = tmp / f"extract_{index:02d}_{item.model}"
        source = item._source
        if "checkpoint" in source:  # a checkpoint extracted without a folder: write it the CLI's way
            from .extract.api import extract as extract_checkpoint
            from .train.api import torch_threads

            with torch_threads(source["threads"]):
                data = source["data"] if isinstance(source["data"], str) else None
                if data is None and source["data"] is not None:
                    raise ConfigError("records of a checkpoint measured on in-memory batches cannot be re-staged",
                                      key_path="records", fix="extract with out=FOLDER, or with a dataset spec")
                extract_checkpoint(source["checkpoint"], data=data, out=folder, **source["options"])
            return folder
        return item.write(folder)
    raise ConfigError(f"cannot simulate a {type(item).__name__}", key_path="records",
                      fix="pass the records of sparse_hw.extract, or extract folders")


def simulate(records: Any, archs: Sequence[str], *, out: str | Path | None = None, **options) -> SimulationResults:
    """Map and evaluate every layer of ``records`` on every architecture in ``archs``.

    Args:
        records: what ``sparse_hw.extract`` returned, an extract folder, or a list of them.
        archs: architecture names (``sparse-hw arch list``).
        out: also keep the simulate folder there (written atomically, as ``sparse-hw simulate --out``).
        options: ``backend``, ``workers``, ``seed``, ``budget_s``, ``metrics``, ``pad``, ``cache``, ``force``...
            as for :func:`sparse_hw.pipeline.simulate`.
    """
    from . import pipeline

    items = list(records) if isinstance(records, (list, tuple)) else [records]
    if not items:
        raise ConfigError("no records given", key_path="records", fix="pass what sparse_hw.extract returned")
    tmp = tempfile.TemporaryDirectory(prefix="sparse-hw-")
    root = Path(tmp.name)
    folders = [_stage_records(item, root, i) for i, item in enumerate(items)]
    target = Path(out) if out is not None else root / "simulate"
    pipeline.simulate(folders, list(archs), out=target, **options)
    staged = any(Path(f).is_relative_to(root) for f in folders)
    keep = tmp if out is None or staged else None
    if keep is None:
        tmp.cleanup()
    return SimulationResults(target, tuple(folders), keep)


@dataclass(frozen=True)
class ReportView:
    """The report's tables and figures in memory (``summary`` and ``layers`` as in ``summary.csv``/``layers.csv``)."""

    summary: Any
    layers: Any
    energy_breakdown: Any
    weight_hist: Any
    figures: dict[str, Any]
    """Figure name -> ``matplotlib.figure.Figure``."""
    baseline: str | None
    notes: tuple[str, ...]
    out: Path | None = None
    written: Any = None
    """The ``ReportResult`` of the folder written with ``out`` (its files and figure paths), else None."""


def report(results: Any, *, baseline: str | None = None, out: str | Path | None = None, **options) -> ReportView:
    """Summary tables and matplotlib Figures of ``results`` (``sparse_hw.simulate``'s, or simulate folders).

    With ``out`` the report folder is written too (atomically, as ``sparse-hw report --out``).
    """
    from .report import figures as figs
    from .report.inputs import load_inputs
    from .report.tables import build_tables

    items = list(results) if isinstance(results, (list, tuple)) else [results]
    dirs = [Path(r.folder) if isinstance(r, SimulationResults) else Path(r) for r in items]
    extract_dirs = [d for r in items if isinstance(r, SimulationResults) for d in r.extract_dirs]
    written = None
    if out is not None:
        from .report.api import report as write_report

        written = write_report(dirs, baseline=baseline, out=out, extract_dirs=extract_dirs, **options)
    tables = build_tables(load_inputs(dirs, extract_dirs=extract_dirs), baseline)
    layers = tables.layers  # rows with a reason (no Timeloop form) have nothing to draw
    modeled = layers[layers["reason"].isna()] if "reason" in layers else layers
    figures, _ = figs.build_figures(tables.summary, modeled, tables.energy_breakdown, tables.weight_hist)
    return ReportView(tables.summary, tables.layers, tables.energy_breakdown, tables.weight_hist, dict(figures),
                      tables.baseline, tuple(tables.notes), Path(out) if out is not None else None, written)


__all__ = ["ReportView", "SimulationResults", "extract", "report", "simulate"]
