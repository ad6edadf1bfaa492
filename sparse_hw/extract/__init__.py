"""The extract stage: measured per-layer shapes and densities of a checkpoint, as Timeloop problems.

``extract(ckpt, out=...)`` loads any checkpoint (ours, plain or ``torch.nn.utils.prune`` state dicts,
structurally pruned models), runs calibration data through it with forward hooks, and writes
``layers.csv``, ``layers.json``, ``problems/NNN_<layer>.yaml``, ``weight_hist.csv`` and ``manifest.json``.
``load_layer_records(folder)`` reads the records back for the simulate stage.
"""

from __future__ import annotations

from .api import ExtractResult, LayersFile, extract, load_layer_records, read_layers_file
from .record import CSV_COLUMNS, EXTRA_COLUMNS, LayerRecord

__all__ = [
    "CSV_COLUMNS",
    "EXTRA_COLUMNS",
    "ExtractResult",
    "LayerRecord",
    "LayersFile",
    "extract",
    "load_layer_records",
    "read_layers_file",
]

from .._callable import stage_module

stage_module(__name__, "extract")  # sparse_hw.extract(model, data) still calls the stage once this is imported
