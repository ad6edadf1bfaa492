"""Channel (filter) pruning that really removes channels, with Torch-Pruning's DepGraph.

Coupled layers (a conv, its batch norm, the next layer's input channels, residual partners) are
pruned together, so the smaller model runs and its parameter count shrinks. The per-layer channel
ratio is found by bisection so that the prunable weight count lands on the cumulative target. The
pruning history (plain ``[module, is_out_channel, indices]`` triples) goes into the checkpoint and
``checkpoint.build_model`` replays it.
"""

from __future__ import annotations

import copy
import logging

from torch import nn

from ..sparsity import weight_layers
from .base import PruneContext, PruneOutcome, prunable_nnz, register_method

log = logging.getLogger(__name__)

MAX_CHANNEL_RATIO = 0.98
BISECTION_STEPS = 18


def _pruner(model: nn.Module, ctx: PruneContext, ratio: float):
    import torch_pruning as tp

    modules = dict(model.named_modules())
    ignored = [m for n, m in weight_layers(model) if n not in ctx.prunable or n == ctx.output_layer]
    norm = 1 if ctx.options.structured_importance == "l1" else 2
    return tp.pruner.MagnitudePruner(
        model, ctx.example_inputs, importance=tp.importance.MagnitudeImportance(p=norm), pruning_ratio=ratio,
        ignored_layers=ignored or [modules[ctx.output_layer]], global_pruning=bool(ctx.options.structured_global),
        round_to=ctx.options.structured_round_to,
    )


def _prune(model: nn.Module, ctx: PruneContext, ratio: float):
    was_training = model.training
    model.eval()
    pruner = _pruner(model, ctx, ratio)
    pruner.step()
    model.train(was_training)
    return pruner


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
        _prune(trial, ctx, mid)
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
    pruner = _prune(ctx.model, ctx, best_ratio)
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
