"""sparse-hw: what does this pruned network actually cost on a sparse accelerator?

Stages (each a plain function, composed in :mod:`sparse_hw.pipeline`): train/prune → extract
measured per-layer densities → map and model every layer on Timeloop/Sparseloop-style
architectures → report tidy tables and figures.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    BackendError,
    CheckpointError,
    ConfigError,
    DataError,
    MappingError,
    SparseHwError,
    SpecError,
)

#: Public functions, imported on first use so that `import sparse_hw` stays light (no torch).
_LAZY = {
    "load_spec": ("sparse_hw.spec", "load_spec"),
    "train": ("sparse_hw.pipeline", "train"),
    # in memory (an nn.Module, records, results) or through folders (paths, out=...): sparse_hw.inmemory
    "extract": ("sparse_hw.inmemory", "extract"),
    "simulate": ("sparse_hw.inmemory", "simulate"),
    "report": ("sparse_hw.inmemory", "report"),
    "run": ("sparse_hw.pipeline", "run"),
    "model_files": ("sparse_hw.pipeline", "model_files"),
    "map_files": ("sparse_hw.pipeline", "map_files"),
    "search": ("sparse_hw.search.api", "search"),
    "TrainConfig": ("sparse_hw.train.config", "TrainConfig"),
    "Engine": ("sparse_hw.model.evaluate", "Engine"),
    "Evaluation": ("sparse_hw.model.result", "Evaluation"),
    "list_architectures": ("sparse_hw.spec.library", "list_architectures"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sparse_hw' has no attribute {name!r}")


__all__ = [
    "__version__",
    *_LAZY,
    "SparseHwError",
    "SpecError",
    "CheckpointError",
    "MappingError",
    "BackendError",
    "DataError",
    "ConfigError",
]
