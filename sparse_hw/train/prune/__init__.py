"""Pruning methods, chosen by name from a registry and composed in the order given.

``none`` (dense), ``gmp`` (gradual magnitude, Zhu-Gupta cubic schedule), ``l1`` (per-layer L1
unstructured), ``global`` (global unstructured magnitude), ``structured`` (Torch-Pruning channel
removal), ``admm`` (ADMM with automatic per-layer ratios) and ``nm`` (N:M semi-structured, e.g. 2:4).
"""

from __future__ import annotations

from . import admm, magnitude, nm, structured  # noqa: F401 - registration on import
from .base import PRUNE_METHODS, MaskSet, MethodEntry, PruneContext, PruneOutcome, register_method
from .schedules import cubic_sparsity, linear_sparsity


def list_methods(pattern: str = "*") -> list[str]:
    """Registered pruning method names matching a glob pattern."""
    return PRUNE_METHODS.list(pattern)


__all__ = [
    "PRUNE_METHODS",
    "MaskSet",
    "MethodEntry",
    "PruneContext",
    "PruneOutcome",
    "cubic_sparsity",
    "linear_sparsity",
    "list_methods",
    "register_method",
]
