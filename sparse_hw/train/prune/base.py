"""What every pruning method shares: the method registry, the mask set and the context a method runs in.

A method is one callable ``apply(ctx) -> PruneOutcome``. It receives the model, the prunable layer
names, the cumulative sparsity it must reach (fraction of the *dense* model's prunable weights that
are zero or removed after it runs) and a trainer for methods that train while pruning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ...registry import Registry


class MaskSet:
    """Boolean keep-masks of conv/linear weights, re-applied after every optimizer step.

    Masks are plain tensors (not ``torch.nn.utils.prune`` re-parametrizations), so Torch-Pruning can
    change shapes in between: ``refresh_from_zeros`` rebuilds them from the zeros in the weights.
    """

    def __init__(self) -> None:
        self.masks: dict[str, torch.Tensor] = {}

    def __bool__(self) -> bool:
        return bool(self.masks)

    def set(self, name: str, mask: torch.Tensor) -> None:
        self.masks[name] = mask.detach().bool().clone()

    def apply(self, model: nn.Module) -> None:
        """Zero every masked-out weight in place."""
        modules = dict(model.named_modules())
        with torch.no_grad():
            for name, mask in self.masks.items():
                modules[name].weight.mul_(mask)

    def refresh_from_zeros(self, model: nn.Module) -> None:
        """Re-derive every mask from the current weights (after a shape change)."""
        modules = dict(model.named_modules())
        for name in list(self.masks):
            self.masks[name] = modules[name].weight.detach() != 0


def prunable_weights(model: nn.Module, names: Sequence[str]) -> dict[str, torch.Tensor]:
    """``name -> weight`` of the prunable layers, in the given order."""
    modules = dict(model.named_modules())
    return {n: modules[n].weight for n in names}


def prunable_nnz(model: nn.Module, names: Sequence[str]) -> int:
    return sum(int(torch.count_nonzero(w.detach())) for w in prunable_weights(model, names).values())


@dataclass
class PruneContext:
    """Everything a pruning method may read or change."""

    model: nn.Module
    prunable: list[str]
    masks: MaskSet
    target: float
    """Cumulative fraction of the dense model's prunable weights that must be zero or removed afterwards."""
    dense_numel: int
    """Prunable weight count of the dense model."""
    trainer: Any
    """A ``loop.Trainer`` for methods that train while pruning."""
    options: Any
    """The ``TrainConfig`` (method options are fields such as ``gmp_frequency`` or ``admm_rho``)."""
    example_inputs: torch.Tensor
    seed: int
    prune_epochs: int
    lr: float
    output_layer: str
    """Name of the classifier layer, whose output channels structured pruning must keep."""
    history: list = field(default_factory=list)
    """Torch-Pruning history of every structured step so far (plain data)."""

    @property
    def keep_target(self) -> int:
        """Non-zero prunable weights the model may keep after this method."""
        return int(round((1.0 - self.target) * self.dense_numel))


@dataclass(frozen=True)
class PruneOutcome:
    """The (possibly replaced) model and what the method did, recorded in ``CheckpointMeta.schedule``."""

    model: nn.Module
    record: Mapping[str, Any]


@dataclass(frozen=True)
class MethodEntry:
    """One registered pruning method."""

    name: str
    apply: Callable[[PruneContext], PruneOutcome]
    structure: str
    """``none``, ``unstructured`` or ``channel``: what the method does to the weights."""
    trains: bool
    """Whether the method trains while pruning (uses ``prune_epochs``)."""
    summary: str


PRUNE_METHODS: Registry[MethodEntry] = Registry("pruning method")


def register_method(name: str, *, structure: str, trains: bool = False) -> Callable:
    """Register ``apply(ctx) -> PruneOutcome`` as pruning method ``name``."""

    def deco(fn: Callable[[PruneContext], PruneOutcome]) -> Callable[[PruneContext], PruneOutcome]:
        doc = (fn.__doc__ or "").strip().splitlines()
        PRUNE_METHODS.add(name, MethodEntry(name, fn, structure, trains, doc[0] if doc else ""))
        return fn

    return deco


def nonzeros(weights: Mapping[str, torch.Tensor]) -> dict[str, int]:
    return {n: int(torch.count_nonzero(w.detach())) for n, w in weights.items()}


def layer_keep_counts(nnz: Mapping[str, int], keep_total: int) -> dict[str, int]:
    """Keep counts per layer that scale every layer's ``nnz`` by the same ratio and sum to ``keep_total``.

    Largest-remainder rounding, so the global count is exact (the ±0.01 target holds on tiny models).
    """
    total = sum(nnz.values())
    keep_total = max(0, min(keep_total, total))
    if total == 0:
        return dict.fromkeys(nnz, 0)
    exact = {n: z * keep_total / total for n, z in nnz.items()}
    counts = {n: int(v) for n, v in exact.items()}
    short = keep_total - sum(counts.values())
    for n in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[:short]:
        counts[n] += 1
    return counts


def topk_mask(weight: torch.Tensor, keep: int) -> torch.Tensor:
    """Keep-mask of the ``keep`` largest-magnitude entries (ties broken by position, deterministic)."""
    flat = weight.detach().abs().flatten()
    mask = torch.zeros_like(flat, dtype=torch.bool)
    if keep > 0:
        order = torch.argsort(flat, descending=True, stable=True)
        mask[order[:keep]] = True
    return mask.view_as(weight)


def global_layer_counts(weights: Mapping[str, torch.Tensor], keep_total: int) -> dict[str, int]:
    """How many of the ``keep_total`` globally largest magnitudes fall in each layer."""
    names = list(weights)
    flat = torch.cat([weights[n].detach().abs().flatten() for n in names])
    owner = torch.cat([torch.full((weights[n].numel(),), i, dtype=torch.long) for i, n in enumerate(names)])
    order = torch.argsort(flat, descending=True, stable=True)[:keep_total]
    counts = torch.bincount(owner[order], minlength=len(names))
    return {n: int(c) for n, c in zip(names, counts)}


def erk_layer_counts(weights: Mapping[str, torch.Tensor], caps: Mapping[str, int], keep_total: int) -> dict[str, int]:
    """Erdős–Rényi-kernel allocation (Evci et al. 2020, RigL; after Mocanu et al. 2018): a layer keeps
    ``eps * sum(shape) / prod(shape)`` of its weights, so small layers stay denser than large ones.

    ``eps`` is solved so that the counts sum to ``keep_total``; a layer is capped at ``caps[name]`` (its
    current non-zeros) and the rest is re-solved. Largest-remainder rounding keeps the total exact.
    """
    names = list(weights)
    raw = {n: float(sum(weights[n].shape)) for n in names}  # eps * sum(shape) weights kept of prod(shape)
    keep_total = max(0, min(keep_total, sum(caps[n] for n in names)))
    capped: set[str] = set()
    while True:
        free = [n for n in names if n not in capped]
        budget = keep_total - sum(caps[n] for n in capped)
        scale = sum(raw[n] for n in free)
        eps = budget / scale if scale > 0 else 0.0
        newly = {n for n in free if eps * raw[n] > caps[n]}
        if not newly:
            break
        capped |= newly
    exact = {n: float(caps[n]) if n in capped else eps * raw[n] for n in names}
    counts = {n: min(caps[n], int(v)) for n, v in exact.items()}
    short = keep_total - sum(counts.values())
    for n in sorted(names, key=lambda k: exact[k] - counts[k], reverse=True):
        if short <= 0:
            break
        if counts[n] < caps[n]:
            counts[n] += 1
            short -= 1
    return counts
