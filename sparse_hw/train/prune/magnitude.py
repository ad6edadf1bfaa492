"""Magnitude pruning: none, per-layer L1 (``torch.nn.utils.prune``), global unstructured, and GMP.

Every method hits the cumulative target exactly: it keeps ``round((1 - target) * dense_numel)``
prunable weights, so the achieved global sparsity equals the target up to one weight.
"""

from __future__ import annotations

import logging

import torch
from torch.nn.utils import prune as torch_prune

from .base import (
    PruneContext,
    PruneOutcome,
    erk_layer_counts,
    global_layer_counts,
    layer_keep_counts,
    nonzeros,
    prunable_nnz,
    prunable_weights,
    register_method,
    topk_mask,
)
from .schedules import cubic_sparsity, is_update_step

log = logging.getLogger(__name__)


def _already_there(ctx: PruneContext, method: str) -> PruneOutcome | None:
    nnz = prunable_nnz(ctx.model, ctx.prunable)
    if ctx.keep_target >= nnz:
        log.warning("%s: the model already has %d <= %d non-zero prunable weights; nothing to prune",
                    method, nnz, ctx.keep_target)
        return PruneOutcome(ctx.model, {"skipped": "already at or above the target sparsity"})
    return None


@register_method("none", structure="none")
def none(ctx: PruneContext) -> PruneOutcome:
    """No pruning: the dense baseline."""
    return PruneOutcome(ctx.model, {})


@register_method("l1", structure="unstructured")
def l1(ctx: PruneContext) -> PruneOutcome:
    """One-shot L1 unstructured pruning of every prunable layer by the same ratio (torch.nn.utils.prune)."""
    if (done := _already_there(ctx, "l1")) is not None:
        return done
    modules = dict(ctx.model.named_modules())
    nnz = nonzeros(prunable_weights(ctx.model, ctx.prunable))
    counts = layer_keep_counts(nnz, ctx.keep_target)
    for name in ctx.prunable:
        module = modules[name]
        torch_prune.l1_unstructured(module, "weight", amount=module.weight.numel() - counts[name])
        ctx.masks.set(name, module.weight_mask)
        torch_prune.remove(module, "weight")
    return PruneOutcome(ctx.model, {"ratio_of_nonzeros_per_layer": round(1.0 - ctx.keep_target / sum(nnz.values()), 6)})


@register_method("global", structure="unstructured")
def global_magnitude(ctx: PruneContext) -> PruneOutcome:
    """One-shot global unstructured magnitude pruning: one threshold across all prunable layers."""
    if (done := _already_there(ctx, "global")) is not None:
        return done
    modules = dict(ctx.model.named_modules())
    params = [(modules[n], "weight") for n in ctx.prunable]
    total = sum(modules[n].weight.numel() for n in ctx.prunable)
    torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=total - ctx.keep_target)
    for name in ctx.prunable:
        ctx.masks.set(name, modules[name].weight_mask)
        torch_prune.remove(modules[name], "weight")
    return PruneOutcome(ctx.model, {})


def gmp_plan(ctx: PruneContext) -> dict[str, float | int]:
    """Resolved GMP schedule: steps of the pruning phase, start/end/frequency, initial/final sparsity."""
    o = ctx.options
    steps = ctx.prune_epochs * ctx.trainer.steps_per_epoch
    start = int(o.gmp_start_step)
    end = int(o.gmp_end_step) if o.gmp_end_step is not None else max(start, int(0.75 * steps))
    frequency = int(o.gmp_frequency) if o.gmp_frequency is not None else max(1, (end - start) // 10)
    current = 1.0 - prunable_nnz(ctx.model, ctx.prunable) / ctx.dense_numel
    return {"phase_steps": steps, "start_step": start, "end_step": end, "frequency": frequency,
            "initial_sparsity": max(float(o.gmp_initial_sparsity), current), "final_sparsity": ctx.target,
            "distribution": o.gmp_distribution}


@register_method("gmp", structure="unstructured", trains=True)
def gmp(ctx: PruneContext) -> PruneOutcome:
    """Gradual magnitude pruning (Zhu & Gupta 2017): cubic schedule while training, magnitude masks.

    The masks are recomputed every ``frequency`` steps from the current weights; ``gmp_distribution`` picks how
    the schedule's sparsity is spread over layers (global threshold, uniform ratio, or Erdős–Rényi-kernel).
    """
    plan = gmp_plan(ctx)
    weights = prunable_weights(ctx.model, ctx.prunable)
    base = nonzeros(weights)
    sched = {"start": int(plan["start_step"]), "end": int(plan["end_step"]), "frequency": int(plan["frequency"])}
    updates: list[tuple[int, float]] = []

    def prune_to(sparsity: float, step: int) -> None:
        sparsity = max(sparsity, float(plan["initial_sparsity"]))
        keep = int(round((1.0 - sparsity) * ctx.dense_numel))
        current = prunable_weights(ctx.model, ctx.prunable)
        if plan["distribution"] == "global":
            counts = global_layer_counts(current, keep)
        elif plan["distribution"] == "erk":
            counts = erk_layer_counts(current, base, keep)
        else:
            counts = layer_keep_counts(base, keep)
        with torch.no_grad():
            for name, w in current.items():
                ctx.masks.set(name, topk_mask(w, counts[name]))
        ctx.masks.apply(ctx.model)
        updates.append((step, round(sparsity, 6)))

    def on_step(step: int) -> None:
        t = step + 1  # optimizer steps done
        if is_update_step(t, **sched):
            prune_to(cubic_sparsity(t, initial=float(plan["initial_sparsity"]), final=ctx.target, **sched), t)

    if plan["start_step"] == 0 and plan["initial_sparsity"] > 0:
        prune_to(float(plan["initial_sparsity"]), 0)
    ctx.trainer.fit(ctx.model, epochs=ctx.prune_epochs, lr=ctx.lr, phase="gmp", masks=ctx.masks, on_step=on_step)
    if not updates or updates[-1][1] < round(ctx.target, 6):
        prune_to(ctx.target, int(plan["phase_steps"]))  # the phase ended before end_step: finish the schedule
    final = prunable_weights(ctx.model, ctx.prunable)
    layer_density = {n: round(int(torch.count_nonzero(w)) / w.numel(), 6) for n, w in final.items()}
    return PruneOutcome(ctx.model, {**plan, "updates": len(updates), "epochs": ctx.prune_epochs,
                                    "layer_density": layer_density})
