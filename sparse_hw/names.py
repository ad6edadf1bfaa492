"""Timeloop's vocabulary, verbatim, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Dim(StrEnum):
    """CNN-layer problem dimensions (Timeloop's CNN-Layer shape, plus G for grouped convs)."""

    N = "N"
    C = "C"
    M = "M"
    R = "R"
    S = "S"
    P = "P"
    Q = "Q"
    G = "G"


class Tensor(StrEnum):
    """Data spaces of a CNN layer."""

    WEIGHTS = "Weights"
    INPUTS = "Inputs"
    OUTPUTS = "Outputs"


class Action(StrEnum):
    """Storage actions as Timeloop counts them."""

    READ = "read"
    FILL = "fill"
    UPDATE = "update"


class SparseAction(StrEnum):
    """How an access is treated under sparsity (Sparseloop)."""

    ACTUAL = "actual"
    GATED = "gated"
    SKIPPED = "skipped"


class DensityModel(StrEnum):
    """Sparseloop density distributions."""

    FIXED_STRUCTURED = "fixed_structured"
    HYPERGEOMETRIC = "hypergeometric"
    BANDED = "banded"


class PruneMethod(StrEnum):
    """Pruning methods of the trainer."""

    NONE = "none"
    GMP = "gmp"
    L1 = "l1"
    GLOBAL = "global"
    STRUCTURED = "structured"
    ADMM = "admm"
    NM = "nm"


class Objective(StrEnum):
    """Mapper optimization metrics."""

    EDP = "edp"
    ENERGY = "energy"
    DELAY = "delay"


#: The columns of extract's ``layers.csv`` fixed by the CLI contract (``CLI.md``), in this order: what
#: the extractor writes first and the report reads (``extract.record``, ``report.columns``).
LAYER_TABLE_COLUMNS: tuple[str, ...] = (
    "model", "checkpoint", "layer", "order", "op",
    "N", "C", "M", "R", "S", "P", "Q", "G",
    "stride_h", "stride_w", "dilation_h", "dilation_w",
    "weight_density", "input_density", "output_density",
    "density_model", "pattern", "macs", "params", "nnz",
)  # fmt: skip


@dataclass(frozen=True)
class AccessKey:
    """Addresses one access count: a storage level, a tensor and an action."""

    level: str
    tensor: str
    action: str
