"""A trial's channel cut: output channels really removed, so the hardware costs a smaller dense network.

Zeroing a channel (the ``structured`` method) leaves the tensors their full size: a sparse accelerator
may skip the zeros, but the outputs still travel at full width (Eyeriss v2 writes them dense to DRAM, the
bulk of PointNet++'s energy there). Removing the channel shrinks the producer's M and the consumer's C.
Removal goes through Torch-Pruning's dependency graph, as ``sparse-hw train``'s structured method does
(``train.prune.structured``; the PointNet++ concat offsets come from ``train.prune.tp_concat``); the
history goes into the checkpoint, which ``checkpoint.build_model`` replays for the fine-tune, extract and
every later stage. Every cut is checked against the same model with the channels zeroed completely
(``train.prune.channel_check``) and refused if the two differ.

Kept widths are rounded: a layer keeps the channel count nearest its target for which its own width and
its consumers' input widths have no prime factor above ``max_prime`` (7 by default). A spatial
accelerator splits M and C into the factors its loop levels and PE array offer; a prime width cannot be
split, so one level takes it whole and the partial sums spill. Measured on eyeriss_v2 (PointNet++ with
weights at 0.5, cached mappings): sa2.mlp.0, which reads sa1.mlp.6's channels plus the 3 relative
coordinates PointNet++ concatenates, costs 19.6 µJ at C = 67, 17.5 at 59 and 13.3 at 43 (primes), but
8.9 at 63, 8.5 at 64, 7.7 at 56 and 6.9 at 48; sa1.mlp.6 itself costs 21.9 µJ at M = 61 against 15.8 at
64, 14.7 at 60 and 11.6 at 45. So sa1.mlp.6 keeps 45 or 60 channels, never 48 or 61.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn

from ..errors import ConfigError
from ..train.sparsity import WEIGHT_LAYER_TYPES

log = logging.getLogger(__name__)

def smooth(n: int, max_prime: int) -> bool:
    """Whether ``n`` has no prime factor above ``max_prime``."""
    for p in range(2, max_prime + 1):
        while n % p == 0 and n > 1:
            n //= p
    return n == 1


def kept_channels(channels: int, cut: float, extras: list[int], max_prime: int) -> int:
    """Channels a layer keeps when ``cut`` of its ``channels`` go: the count nearest ``channels * (1 - cut)``
    (ties: the larger) for which the kept width and each consumer's input width (kept + its ``extras``
    entry: 3 for PointNet++'s concatenated coordinates) have no prime factor above ``max_prime``. No cut
    (``cut`` rounds to no channel, or no such width below ``channels``) keeps every channel."""
    target = channels - round(cut * channels)
    if target >= channels:
        return channels
    fits = [k for k in range(1, channels) if smooth(k, max_prime) and all(smooth(k + e, max_prime) for e in extras)]
    if not fits:
        return channels
    return min(fits, key=lambda k: (abs(k - target), -k))


def _out_fn(module: nn.Module):
    import torch_pruning as tp

    return tp.prune_linear_out_channels if isinstance(module, nn.Linear) else tp.prune_conv_out_channels


def _graph(model: nn.Module, example: torch.Tensor):
    import torch_pruning as tp

    from ..train.prune.tp_concat import map_untraced_concat_inputs

    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example, verbose=False)
    map_untraced_concat_inputs(graph)
    return graph


def _consumer_extras(graph, module: nn.Module) -> list[int]:
    """What each consumer's input width adds to ``module``'s output width (3 for a PointNet++ concat): the
    remainder of its width over this layer's, so a consumer reading a whole multiple of it (a flatten, or a
    concat of equal widths) counts as this width alone."""
    width = int(module.weight.shape[0])
    extras = []
    for dep, _ in graph.get_pruning_group(module, _out_fn(module), idxs=[0]):
        target = dep.target.module
        if target is module or not isinstance(target, WEIGHT_LAYER_TYPES) or not graph.is_in_channel_pruning_fn(dep.handler):
            continue
        consumer_width = int(target.weight.shape[1]) * int(getattr(target, "groups", 1))
        extras.append(consumer_width % width if consumer_width >= width else 0)
    return sorted(set(extras))


def remove_channels(model: nn.Module, cut: dict[str, float], example: torch.Tensor, max_prime: int,
                    output_layer: str) -> tuple[list[tuple[str, bool, list[int]]], dict[str, int]]:
    """Remove, in place, ``cut[layer]`` of each layer's output channels (least L1 norm first, widths rounded
    by `kept_channels`); returns the Torch-Pruning history (``(module, is_out, indices)`` triples, for the
    checkpoint) and each layer's kept width.

    The output layer (its rows are the classes) is never cut. Layers coupled to one cut already (a residual
    partner) are cut with it. A removal that does not compute what zeroing the same channels computes
    raises ``ConfigError``. Runs with autograd on: Torch-Pruning traces the graph through it."""
    from ..train.prune import channel_check

    modules = dict(model.named_modules())
    original = copy.deepcopy(model)
    was_training = model.training
    model.eval()
    try:
        graph = _graph(model, example)
        recorder = channel_check.CutRecorder(model, graph)
        kept: dict[str, int] = {}
        for name, fraction in cut.items():
            module = modules[name]
            if name == output_layer or fraction <= 0 or name in recorder.cut:
                continue
            width = int(module.weight.shape[0])
            keep = kept_channels(width, fraction, _consumer_extras(graph, module), max_prime)
            if keep >= width:
                continue
            norms = module.weight.detach().abs().reshape(width, -1).sum(dim=1)
            order = torch.argsort(norms, stable=True)  # least L1 norm first; ties by position
            idxs = sorted(int(i) for i in order[: width - keep])
            group = graph.get_pruning_group(module, _out_fn(module), idxs=idxs)
            recorder.record(group)
            group.prune()
            kept[name] = keep
        history = [(str(n), bool(out), [int(i) for i in idx]) for n, out, idx in graph.pruning_history()]
    finally:
        model.train(was_training)
    if recorder.unverifiable:
        raise ConfigError(f"the channel cut removes {', '.join(sorted(recorder.unverifiable))}, whose removal is "
                          "not the same as zeroing channels", key_path="space.channels",
                          fix="set space.channels to [0, 0] for this model")
    if kept:
        diff, scale, same = channel_check.compare_with_zeroed(original, model, recorder.cut, example)
        if not same:
            raise ConfigError(
                f"removing the cut channels of {', '.join(sorted(kept))} does not compute what zeroing them "
                f"computes (max |logit difference| {diff:.3g}, logits up to {scale:.3g})",
                key_path="space.channels", fix="set space.channels to [0, 0] for this model")
        log.info("channel cut: kept widths %s", kept)
    return history, kept
