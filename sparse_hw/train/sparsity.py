"""Which layers are prunable, how sparse each one is, and what that sparsity could save in storage.

Pure measurements of a model (no training, no pruning): the per-layer table of the checkpoint and
the model-level figures of the training report both come from here.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from ..errors import ConfigError

Structure = Literal["dense", "unstructured", "n:m", "block", "channel"]
WEIGHT_LAYER_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


class LayerSparsity(BaseModel):
    """Sparsity of one conv/linear weight, as stored in ``CheckpointMeta.per_layer``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    """Module path of the layer (``features.3.conv.0.0``)."""
    shape: list[int]
    """Shape of the weight as stored (after any channel removal)."""
    numel: int
    """Number of weights in ``shape``."""
    nnz: int
    """Number of non-zero weights."""
    density: float
    """``nnz / numel``."""
    structure: Structure
    """``dense``, ``unstructured`` (zeros anywhere) or ``channel`` (channels removed, no zeros left)."""
    prunable: bool = True
    """Whether the pruning methods were allowed to touch this layer."""
    dense_shape: list[int] | None = None
    """Shape before structured pruning when it differs from ``shape``; None otherwise."""


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every conv and linear layer, in definition order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, WEIGHT_LAYER_TYPES)]


def select_prunable(model: nn.Module, *, include: Sequence[str] = ("*",), exclude: Sequence[str] = (),
                    exclude_first: bool = False, exclude_last: bool = False) -> list[str]:
    """Names of the prunable layers: conv/linear layers matching ``include`` and no ``exclude`` glob.

    Raises:
        ConfigError: when the selection is empty or a pattern matches no layer.
    """
    names = [n for n, _ in weight_layers(model)]
    for key, patterns in (("prunable", include), ("exclude", exclude)):
        dead = [p for p in patterns if p != "*" and not any(fnmatch.fnmatch(n, p) for n in names)]
        if dead:
            raise ConfigError(f"pattern(s) {', '.join(map(repr, dead))} match no conv/linear layer", key_path=key,
                              fix=f"layer names are: {', '.join(names)}")
    chosen = [n for n in names if any(fnmatch.fnmatch(n, p) for p in include)
              and not any(fnmatch.fnmatch(n, p) for p in exclude)]
    if exclude_first and names:
        chosen = [n for n in chosen if n != names[0]]
    if exclude_last and names:
        chosen = [n for n in chosen if n != names[-1]]
    if not chosen:
        raise ConfigError("no prunable layer is left after the include/exclude options", key_path="prunable",
                          fix="loosen --prunable/--exclude/--exclude-first/--exclude-last")
    return chosen


def layer_stats(model: nn.Module, prunable: Sequence[str] = (),
                dense_shapes: Mapping[str, Sequence[int]] | None = None) -> list[LayerSparsity]:
    """One ``LayerSparsity`` per conv/linear layer; ``dense_shapes`` are the shapes before channel pruning."""
    dense_shapes = dense_shapes or {}
    rows = []
    for name, module in weight_layers(model):
        w = module.weight.detach()
        numel, nnz = w.numel(), int(torch.count_nonzero(w))
        before = list(dense_shapes.get(name, w.shape))
        shrunk = before != list(w.shape)
        structure: Structure = "unstructured" if nnz < numel else ("channel" if shrunk else "dense")
        rows.append(LayerSparsity(name=name, shape=list(w.shape), numel=numel, nnz=nnz,
                                  density=nnz / numel if numel else 0.0, structure=structure,
                                  prunable=name in prunable, dense_shape=before if shrunk else None))
    return rows


def global_sparsity(rows: Sequence[LayerSparsity], dense_numel: int | None = None) -> float:
    """Fraction of prunable weights that are zero or removed, relative to ``dense_numel`` (default:
    the current prunable weight count)."""
    prunable = [r for r in rows if r.prunable]
    total = dense_numel if dense_numel is not None else sum(r.numel for r in prunable)
    return 1.0 - sum(r.nnz for r in prunable) / total if total else 0.0


@dataclass(frozen=True)
class SizeEstimate:
    """Parameter counts and storage sizes of a model (float32 values)."""

    params: int
    nonzero_params: int
    dense_bytes: int
    bitmask_bytes: int
    csr_bytes: int


def _index_bytes(extent: int) -> int:
    """Narrowest unsigned integer that indexes ``extent`` positions (1, 2 or 4 bytes)."""
    return 1 if extent <= 1 << 8 else 2 if extent <= 1 << 16 else 4


def size_estimate(model: nn.Module, value_bytes: int = 4) -> SizeEstimate:
    """Dense, bitmask and CSR sizes of all parameters.

    Conv/linear weights are stored compressed: bitmask = non-zero values + one bit per position;
    CSR = non-zero values + one column index per value (narrowest integer that fits the row length)
    + ``rows + 1`` 32-bit row pointers, with rows = output channels. Every other parameter (biases,
    batch norm) is stored dense in all three.
    """
    weights = {id(m.weight) for _, m in weight_layers(model)}
    params = nnz = dense = bitmask = csr = 0
    for p in model.parameters():
        n, z = p.numel(), int(torch.count_nonzero(p.detach()))
        params, nnz, dense = params + n, nnz + z, dense + n * value_bytes
        if id(p) in weights and p.dim() >= 2:
            rows, cols = p.shape[0], n // max(p.shape[0], 1)
            bitmask += z * value_bytes + math.ceil(n / 8)
            csr += z * (value_bytes + _index_bytes(cols)) + (rows + 1) * 4
        else:
            bitmask += n * value_bytes
            csr += n * value_bytes
    return SizeEstimate(params, nnz, dense, bitmask, csr)
