"""ADMM weight pruning (Zhang et al. 2018, "A Systematic DNN Weight Pruning Framework using ADMM").

Minimize ``loss(W) + sum_l rho/2 ||W_l - Z_l + U_l||^2`` with ``Z_l`` constrained to keep ``k_l``
weights: W-step = SGD/Adam on the augmented loss; Z-step = projection of ``W + U`` onto the top-``k_l``
magnitudes; U-step = ``U += W - Z``. The global removal ratio sets each layer's ``k_l`` automatically:
the ``k_l`` are the per-layer counts of the model's globally largest weights when ADMM starts, so
layers with many small weights lose more. Afterwards the weights are hard-pruned to the ``k_l``
largest magnitudes; the common fine-tuning phase retrains them under the masks.
"""

from __future__ import annotations

import torch

from .base import (
    PruneContext,
    PruneOutcome,
    global_layer_counts,
    prunable_nnz,
    prunable_weights,
    register_method,
    topk_mask,
)


@register_method("admm", structure="unstructured", trains=True)
def admm(ctx: PruneContext) -> PruneOutcome:
    """ADMM pruning: augmented-Lagrangian W-steps, top-k Z projection, U update, then a hard prune."""
    o = ctx.options
    if ctx.keep_target >= prunable_nnz(ctx.model, ctx.prunable):
        return PruneOutcome(ctx.model, {"skipped": "already at or above the target sparsity"})
    weights = prunable_weights(ctx.model, ctx.prunable)
    counts = global_layer_counts(weights, ctx.keep_target)
    with torch.no_grad():
        z = {n: w.detach() * topk_mask(w, counts[n]) for n, w in weights.items()}
        u = {n: torch.zeros_like(w) for n, w in weights.items()}
    state = {"rho": float(o.admm_rho), "updates": 0}
    every = int(o.admm_update_every) if o.admm_update_every else ctx.trainer.steps_per_epoch

    def penalty(model) -> torch.Tensor:
        current = prunable_weights(model, ctx.prunable)
        return 0.5 * state["rho"] * sum(((current[n] - z[n] + u[n]) ** 2).sum() for n in current)

    def on_step(step: int) -> None:
        if (step + 1) % every:
            return
        with torch.no_grad():
            for n, w in prunable_weights(ctx.model, ctx.prunable).items():
                v = w.detach() + u[n]
                z[n] = v * topk_mask(v, counts[n])
                u[n] += w.detach() - z[n]
        state["rho"] = min(state["rho"] * float(o.admm_rho_growth), float(o.admm_rho_max))
        state["updates"] += 1

    ctx.trainer.fit(ctx.model, epochs=ctx.prune_epochs, lr=ctx.lr, phase="admm", masks=ctx.masks,
                    on_step=on_step, extra_loss=penalty)
    with torch.no_grad():
        current = prunable_weights(ctx.model, ctx.prunable)
        residual = sum(float(((current[n] - z[n]) ** 2).sum()) for n in current) ** 0.5
        scale = sum(float((w ** 2).sum()) for w in current.values()) ** 0.5
        for n, w in current.items():
            ctx.masks.set(n, topk_mask(w, counts[n]))
    ctx.masks.apply(ctx.model)
    layer_ratios = {n: round(1.0 - counts[n] / w.numel(), 6) for n, w in weights.items()}
    return PruneOutcome(ctx.model, {
        "rho": float(o.admm_rho), "rho_final": state["rho"], "rho_growth": float(o.admm_rho_growth),
        "update_every_steps": every, "dual_updates": state["updates"], "epochs": ctx.prune_epochs,
        "relative_primal_residual": round(residual / scale, 6) if scale else 0.0, "layer_removal_ratio": layer_ratios,
    })
