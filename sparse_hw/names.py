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


class Objective(StrEnum):
    """Mapper optimization metrics."""

    EDP = "edp"
    ENERGY = "energy"
    DELAY = "delay"


@dataclass(frozen=True)
class AccessKey:
    """Addresses one access count: a storage level, a tensor and an action."""

    level: str
    tensor: str
    action: str
