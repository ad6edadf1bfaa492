"""sparse-hw: what does this pruned network actually cost on a sparse accelerator?

Stages (each a plain function, composed in :mod:`sparse_hw.pipeline`): train/prune → extract
measured per-layer densities → map and model every layer on Timeloop/Sparseloop-style
architectures → report tidy tables and figures.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    BackendError,
    CheckpointError,
    ConfigError,
    DataError,
    MappingError,
    SparseHwError,
    SpecError,
)

__all__ = [
    "__version__",
    "SparseHwError",
    "SpecError",
    "CheckpointError",
    "MappingError",
    "BackendError",
    "DataError",
    "ConfigError",
]
