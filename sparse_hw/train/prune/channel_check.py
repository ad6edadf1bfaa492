"""Does a physically pruned model compute what the unpruned one computes with the cut channels zeroed?

Removing a channel is only sound if it equals zeroing it completely: the producer's weight rows and
bias, and the following batch norm's scale, shift and running mean (as the search's structured cut,
``sparse_hw.search.prune``, does), so that the channel's output is exactly 0 and the consumer's
matching input column contributes nothing. Torch-Pruning decides which consumer columns go by its
traced graph; where that graph is wrong (an index mapping it could not infer), the consumer loses
other columns and the logits change silently. One forward pass of each model on the example inputs
catches it.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

_ZEROABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, _BatchNorm)

#: Tolerance of the comparison, relative to the largest reference logit (removal only re-orders sums).
RELATIVE_TOLERANCE = 1e-4


def _width(module: nn.Module) -> int:
    if isinstance(module, _BatchNorm):
        return int(module.num_features)
    return int(module.weight.shape[0])


class CutRecorder:
    """Collects, group by group, the original output channels that Torch-Pruning removes.

    Group indices refer to the model as pruned so far; ``alive`` maps them back to the original
    channels. Modules whose cut cannot be expressed as zeros (a layer norm, a bare parameter) are
    listed in ``unverifiable``."""

    def __init__(self, model: nn.Module, graph: Any) -> None:
        self.graph = graph
        self.names = {id(m): n for n, m in model.named_modules()}
        self.names.update({id(p): n for n, p in model.named_parameters()})
        self.alive: dict[str, list[int]] = {}
        self.cut: dict[str, list[int]] = {}
        self.unverifiable: set[str] = set()

    def record(self, group: Any) -> None:
        """Call before ``group.prune()``."""
        for dep, idxs in group:
            module = dep.target.module
            if not self.graph.is_out_channel_pruning_fn(dep.handler):
                continue  # an input-channel cut follows from its producer's output cut: that is what is checked
            if isinstance(module, _ZEROABLE):
                name = self.names[id(module)]
                alive = self.alive.setdefault(name, list(range(_width(module))))
                gone = {alive[int(i)] for i in idxs}
                self.cut.setdefault(name, []).extend(sorted(gone))
                self.alive[name] = [c for c in alive if c not in gone]
            elif isinstance(module, nn.Module) and next(module.parameters(), None) is None \
                    and next(module.buffers(), None) is None:
                continue  # Torch-Pruning's bookkeeping ops, activations: nothing to zero
            else:
                label = self.names.get(id(module), type(module).__name__)
                self.unverifiable.add(f"{label} ({type(module).__name__})")


@torch.no_grad()
def zero_channels(model: nn.Module, cut: dict[str, list[int]]) -> nn.Module:
    """A copy of ``model`` with each ``cut`` output channel zeroed completely (rows, bias, norm entries)."""
    ref = copy.deepcopy(model)
    modules = dict(ref.named_modules())
    for name, channels in cut.items():
        module = modules[name]
        if not channels:
            continue
        if isinstance(module, _BatchNorm):
            tensors = (module.weight, module.bias, module.running_mean)
        else:
            tensors = (module.weight, module.bias)
        for t in tensors:
            if t is not None:
                t[channels] = 0
    return ref


@torch.no_grad()
def max_logit_difference(reference: nn.Module, pruned: nn.Module, inputs: torch.Tensor) -> tuple[float, float]:
    """``(max |difference|, max |reference logit|)`` of the two models in eval mode on ``inputs``."""
    states = reference.training, pruned.training
    reference.eval()
    pruned.eval()
    try:
        expected, got = reference(inputs), pruned(inputs)
    finally:
        reference.train(states[0])
        pruned.train(states[1])
    if expected.shape != got.shape:
        return float("inf"), float(expected.abs().max())
    return float((expected - got).abs().max()), float(expected.abs().max())


def within_tolerance(difference: float, scale: float) -> bool:
    return difference <= RELATIVE_TOLERANCE * max(1.0, scale)


def compare_with_zeroed(original: nn.Module, pruned: nn.Module, cut: dict[str, list[int]],
                        inputs: torch.Tensor) -> tuple[float, float, bool]:
    """``(max |logit difference|, max |reference logit|, within tolerance)`` of ``pruned`` against
    ``original`` with the ``cut`` output channels zeroed completely (`zero_channels`): the check of every
    removal, by ``train``'s structured method and by the search's channel cut. A RuntimeError when the
    pruned model no longer runs."""
    diff, scale = max_logit_difference(zero_channels(original, cut), pruned, inputs)
    return diff, scale, within_tolerance(diff, scale)
