"""Prune a dense model to a per-layer sparsity: the trial's own cut, made before the short fine-tune.

`sparse_hw.train` prunes to one global target; a search needs one target per layer, so the cut is made
here on the dense checkpoint's weights (zeros), and `train` fine-tunes from that checkpoint, keeping the
zeros as masks (see ``train.api.train``: an init checkpoint's zeros become masks).

Methods, per layer: ``l1`` keeps the largest |w|; ``structured`` zeroes whole output channels of least
L1 norm (the classifier, whose rows are the classes, falls back to l1); ``global`` ranks |w| across all
layers (one threshold for the numel-weighted target), each layer's |w| divided by its hardware-cost scale:
(marginal cost per weight over the network's, `.tilt`)^tilt times its allocation weight, so that layers
whose weights cost more on the hardware are pruned harder (tilt 0 and no allocation: plain global
magnitude); ``gmp`` is l1 reached gradually over the fine-tune
(see .trial). A composition (``structured,l1``) applies each part in turn, each removing an equal
geometric share, as ``TrainConfig.method_targets`` does.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import SearchConfig


def layer_names(cfg: SearchConfig) -> list[str]:
    """Prunable conv/linear layers of the configured model, built untrained (no training, no data pass)."""
    from ..train.config import TrainConfig
    from ..train.data import adapt_model_kwargs, load_dataset
    from ..train.models import create_model, resolve_model_kwargs
    from ..train.sparsity import select_prunable

    tc = TrainConfig.model_validate(cfg.dense_train_config())
    bundle = load_dataset(tc.data, seed=tc.seed, **tc.data_options)
    kwargs = resolve_model_kwargs(tc.model, {**adapt_model_kwargs(tc.model, bundle), **tc.model_kwargs})
    model = create_model(tc.model, **kwargs)
    return select_prunable(model, include=tc.prunable, exclude=tc.exclude, exclude_first=tc.exclude_first,
                           exclude_last=tc.exclude_last)


def _keep_largest(scores: torch.Tensor, keep: int) -> torch.Tensor:
    """Boolean mask keeping the ``keep`` largest scores (ties broken by position: deterministic)."""
    flat = scores.flatten()
    order = torch.argsort(-flat, stable=True)
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[order[:keep]] = True
    return mask.view_as(scores)


def _l1(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    keep = weight.numel() - int(round(sparsity * weight.numel()))
    return _keep_largest(weight.abs(), keep)


def _structured(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    channels = weight.shape[0]
    norms = weight.abs().reshape(channels, -1).sum(dim=1)
    keep = max(1, channels - int(round(sparsity * channels)))
    rows = _keep_largest(norms, keep)
    return rows.view(-1, *([1] * (weight.dim() - 1))).expand_as(weight) & (weight != 0)


def _global(weights: dict[str, torch.Tensor], target: float, scale: dict[str, float] | None = None,
            cap: float = 1.0) -> dict[str, torch.Tensor]:
    """One threshold over every layer's |w| / scale[layer] removing ``target`` of all weights; a layer
    never loses more than ``cap`` of its own (water-filled: what it cannot take goes to the others).

    The scale is the hardware-cost tilt (`.space.global_scale`): dividing a layer's magnitudes by s > 1
    ranks its weights as if they were smaller, so it is pruned harder. Within a layer the order stays |w|."""
    scale = scale or {}
    scores = {n: w.abs().flatten() / float(scale.get(n, 1.0)) for n, w in weights.items()}
    prune = round(target * sum(w.numel() for w in weights.values()))
    capped: dict[str, int] = {}
    while True:
        free = [n for n in weights if n not in capped]
        flat = torch.cat([scores[n] for n in free]) if free else torch.zeros(0)
        budget = min(flat.numel(), max(0, prune - sum(capped.values())))
        keep = _keep_largest(flat, flat.numel() - budget)
        out, start = {}, 0
        for n in free:
            out[n] = keep[start:start + weights[n].numel()]
            start += weights[n].numel()
        over = [n for n in free if int((~out[n]).sum()) > int(cap * weights[n].numel())]
        if not over:
            break
        for n in over:
            capped[n] = int(cap * weights[n].numel())
    for n, count in capped.items():
        out[n] = _keep_largest(scores[n], weights[n].numel() - count)
    return {n: out[n].view_as(weights[n]) for n in weights}


def part_targets(method: str, sparsity: float) -> list[tuple[str, float]]:
    """``(part, cumulative sparsity)`` of each part of a composition (equal geometric shares)."""
    parts = method.split(",")
    keep_each = (1.0 - sparsity) ** (1.0 / len(parts))
    targets = [1.0 - keep_each ** (i + 1) for i in range(len(parts))]
    targets[-1] = sparsity
    return list(zip(parts, targets))


@torch.no_grad()
def prune_model(model: nn.Module, per_layer: dict[str, float], method: str, global_target: float,
                global_scale: dict[str, float] | None = None) -> None:
    """Zero weights in place so that each layer reaches its sparsity (or the global target, for global,
    ranking |w| / ``global_scale[layer]`` with no layer pruned beyond `MAX_LAYER_SPARSITY`)."""
    from .space import MAX_LAYER_SPARSITY

    modules = dict(model.named_modules())
    from ..train.sparsity import weight_layers

    output_layer = weight_layers(model)[-1][0]
    parts = method.split(",")
    for i in range(len(parts)):
        if parts[i] == "global":
            weights = {n: modules[n].weight for n in per_layer}
            target = part_targets(method, global_target)[i][1]
            for name, mask in _global(weights, target, global_scale, MAX_LAYER_SPARSITY).items():
                modules[name].weight.mul_(mask)
            continue
        for name, sparsity in per_layer.items():
            part, target = part_targets(method, sparsity)[i]
            w = modules[name].weight
            cut = _structured if part == "structured" and name != output_layer else _l1
            w.mul_(cut(w, target))
