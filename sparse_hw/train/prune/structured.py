"""Channel (filter) pruning that really removes channels, with Torch-Pruning's DepGraph.

Coupled layers (a conv, its batch norm, the next layer's input channels, residual partners) are
pruned together, so the smaller model runs and its parameter count shrinks. The per-layer channel
ratio is found by bisection so that the prunable weight count lands on the cumulative target. The
pruning history (plain ``[module, is_out_channel, indices]`` triples) goes into the checkpoint and
``checkpoint.build_model`` replays it.

Torch-Pruning's graph misses a ``torch.cat`` input made without autograd (PointNet++'s relative xyz),
which shifted the consumer's cut columns; ``tp_concat`` supplies the offsets. Every final cut is then
checked against the unpruned model with the same channels zeroed (``channel_check``, one forward pass
each) and refused with a ``ConfigError`` if the two differ, instead of training a wrongly cut model.
"""

from __future__ import annotations

import copy
import logging

from torch import nn

from ...errors import ConfigError
from ..sparsity import weight_layers
from . import channel_check
from .base import PruneContext, PruneOutcome, prunable_nnz, register_method
from .tp_concat import map_untraced_concat_inputs

log = logging.getLogger(__name__)

MAX_CHANNEL_RATIO = 0.98
BISECTION_STEPS = 18


def _pruner(model: nn.Module, ctx: PruneContext, ratio: float):
    import torch_pruning as tp

    modules = dict(model.named_modules())
    ignored = [m for n, m in weight_layers(model) if n not in ctx.prunable or n == ctx.output_layer]
    norm = 1 if ctx.options.structured_importance == "l1" else 2
    pruner = tp.pruner.MagnitudePruner(
        model, ctx.example_inputs, importance=tp.importance.MagnitudeImportance(p=norm), pruning_ratio=ratio,
        ignored_layers=ignored or [modules[ctx.output_layer]], global_pruning=bool(ctx.options.structured_global),
        round_to=ctx.options.structured_round_to,
    )
    map_untraced_concat_inputs(pruner.DG)
    return pruner


def _prune(model: nn.Module, ctx: PruneContext, ratio: float):
    """Prune ``model`` in place; the pruner and the original output channels each layer lost."""
    was_training = model.training
    model.eval()
    try:
        pruner = _pruner(model, ctx, ratio)
        recorder = channel_check.CutRecorder(model, pruner.DG)
        for group in pruner.step(interactive=True):
            recorder.record(group)
            group.prune()
    finally:
        model.train(was_training)
    return pruner, recorder


def _some(names, shown: int = 4) -> str:
    names = sorted(names)
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _verify(original: nn.Module, pruned: nn.Module, ctx: PruneContext, recorder: channel_check.CutRecorder) -> float:
    """Max |logit difference| between ``pruned`` and ``original`` with the cut channels zeroed; a
    ``ConfigError`` (exit 2) where they differ, the pruned model fails to run or a cut cannot be zeroed."""
    model = getattr(ctx.options, "model", "this model")
    fix = f"prune {model!r} with an unstructured method (l1, global, gmp, admm, nm)"
    if recorder.unverifiable:
        raise ConfigError(
            f"structured pruning of {model!r} cuts {_some(recorder.unverifiable)}, whose removal "
            "cannot equal zeroing channels (e.g. a layer norm's statistics change), so the cut cannot be "
            "verified", key_path="methods", fix=fix)
    fix += ", or keep the layers whose output is concatenated with untraced tensors out of it ('exclude')"
    try:
        diff, scale, same = channel_check.compare_with_zeroed(original, pruned, recorder.cut, ctx.example_inputs)
    except RuntimeError as exc:
        raise ConfigError(f"structured pruning of {model!r} leaves a model that no longer runs: {exc}",
                          key_path="methods", fix=fix) from None
    layers = [n for n, _ in weight_layers(original) if n in recorder.cut]
    if not same:
        raise ConfigError(
            f"structured pruning of {model!r} does not compute what zeroing the cut channels computes "
            f"(max |logit difference| {diff:.3g} on the example inputs, logits up to {scale:.3g}): "
            f"Torch-Pruning removed other input columns than the cut channels of {_some(layers)}",
            key_path="methods", fix=fix)
    return diff


@register_method("structured", structure="channel")
def structured(ctx: PruneContext) -> PruneOutcome:
    """Channel pruning with Torch-Pruning (DepGraph, L1/L2 filter magnitude); channels are removed."""
    nnz = prunable_nnz(ctx.model, ctx.prunable)
    if ctx.keep_target >= nnz:
        log.warning("structured: %d <= %d non-zero prunable weights already; nothing to prune", nnz, ctx.keep_target)
        return PruneOutcome(ctx.model, {"skipped": "already at or above the target sparsity"})
    lo, hi = 0.0, MAX_CHANNEL_RATIO
    best_ratio, best_gap = hi, float("inf")
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        trial = copy.deepcopy(ctx.model)
        _, cuts = _prune(trial, ctx, mid)  # only counted: the final cut below is the one verified ...
        if cuts.unverifiable:  # ... but a cut that cannot be is refused at once
            _verify(ctx.model, trial, ctx, cuts)
        kept = prunable_nnz(trial, ctx.prunable)
        gap = abs(kept - ctx.keep_target)
        if gap < best_gap or (gap == best_gap and mid < best_ratio):
            best_ratio, best_gap = mid, gap
        if kept > ctx.keep_target:
            lo = mid
        else:
            hi = mid
        if gap <= 0.001 * ctx.dense_numel:
            break
    params_before = sum(p.numel() for p in ctx.model.parameters())
    original = copy.deepcopy(ctx.model)
    pruner, recorder = _prune(ctx.model, ctx, best_ratio)
    diff = _verify(original, ctx.model, ctx, recorder)
    log.info("structured: the pruned model matches the zeroed one to %.3g", diff)
    history = [[str(name), bool(out), [int(i) for i in idxs]] for name, out, idxs in pruner.pruning_history()]
    ctx.history.extend(history)
    ctx.masks.refresh_from_zeros(ctx.model)
    kept = prunable_nnz(ctx.model, ctx.prunable)
    achieved = 1.0 - kept / ctx.dense_numel
    if abs(achieved - ctx.target) > 0.01:
        log.warning("structured: channel granularity reaches %.4f, not %.4f", achieved, ctx.target)
    return PruneOutcome(ctx.model, {
        "channel_ratio": round(best_ratio, 6), "importance": ctx.options.structured_importance,
        "global_ranking": bool(ctx.options.structured_global), "params_before": params_before,
        "params_after": sum(p.numel() for p in ctx.model.parameters()), "history_entries": len(history),
    })
