"""The Optuna search space of a config, and a trial's parameters decoded into per-layer sparsity.

Parameter names (what optuna-dashboard shows): ``sparsity.<layer>`` per layer, or ``global_target`` plus
``alloc.<layer>``; ``method``; ``global_tilt`` (the hardware-cost tilt of global pruning) when its range is
not [0, 0]; ``channels.<layer>`` (the fraction of its output channels removed) when ``space.channels`` is
searched; ``finetune_epochs`` when its range is searched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from .config import SearchConfig, _bounds

#: A layer is never pruned beyond this in global-target mode (the allocation is water-filled under it).
MAX_LAYER_SPARSITY = 0.98


@dataclass(frozen=True)
class Decoded:
    """What one trial prunes: a sparsity per prunable layer, the method, the fine-tune length."""

    per_layer: dict[str, float]
    method: str
    finetune_epochs: int
    global_target: float
    global_scale: dict[str, float] | None = None
    """What ``global`` divides each layer's |w| by before ranking (tilt and allocation); None: plain |w|."""
    tilt: float = 0.0
    channels: dict[str, float] | None = None
    """Fraction of each layer's output channels removed before the weight method prunes (`.channels`)."""


def distributions(cfg: SearchConfig, layers: list[str]) -> dict[str, BaseDistribution]:
    space = cfg.space
    dists: dict[str, BaseDistribution] = {}
    if space.mode == "per_layer":
        for name in layers:
            low, high = _bounds(cfg, name)
            if high > low:
                dists[f"sparsity.{name}"] = FloatDistribution(low, high)
    else:
        low, high = space.global_target
        dists["global_target"] = FloatDistribution(low, high)
        a_low, a_high = space.allocation
        if a_high > a_low:
            for name in layers:
                dists[f"alloc.{name}"] = FloatDistribution(a_low, a_high, log=True)
    if space.channels[1] > space.channels[0]:
        low, high = space.channels
        for name in layers:  # from 0: a spike at "no cut" (values <= 0), see Space.channels
            dists[f"channels.{name}"] = FloatDistribution(-high if low == 0 else low, high)
    choices = space.method_choices()
    dists["method"] = CategoricalDistribution(choices)
    if space.tilt[1] > space.tilt[0]:
        dists["global_tilt"] = FloatDistribution(*space.tilt)
    if isinstance(space.finetune_epochs, list) and space.finetune_epochs[1] > space.finetune_epochs[0]:
        dists["finetune_epochs"] = IntDistribution(*space.finetune_epochs)
    return dists


def allocate(target: float, weights: dict[str, float], numels: dict[str, int]) -> dict[str, float]:
    """Per-layer sparsity proportional to ``weights`` whose numel-weighted mean is ``target``: water-filling,
    layers that reach ``MAX_LAYER_SPARSITY`` stay there and the rest is spread over the others."""
    total = sum(numels.values())
    capped: dict[str, float] = {}
    for _ in range(len(weights) + 1):
        free = {n: w for n, w in weights.items() if n not in capped}
        left = target * total - sum(capped[n] * numels[n] for n in capped)
        norm = sum(free[n] * numels[n] for n in free)
        if not free or norm <= 0:
            break
        scale = left / norm
        over = [n for n in free if free[n] * scale > MAX_LAYER_SPARSITY]
        if not over:
            return {n: capped[n] if n in capped else max(0.0, free[n] * scale) for n in weights}
        for n in over:
            capped[n] = MAX_LAYER_SPARSITY
    return {n: capped.get(n, MAX_LAYER_SPARSITY) for n in weights}


def global_scale(tilt: float, ratios: dict[str, float] | None, alloc: dict[str, float] | None) -> dict[str, float] | None:
    """What global pruning divides each layer's |w| by: ratio^tilt (the hardware-cost tilt; ratio is the
    layer's marginal cost per weight over the network's, `.tilt.marginal_ratios`) times the layer's
    allocation weight (global-target mode). None when both are neutral (plain global magnitude)."""
    layers = list(ratios or alloc or {})
    scale = {n: (ratios[n] ** tilt if ratios and tilt else 1.0) * (alloc[n] if alloc else 1.0) for n in layers}
    return scale if any(v != 1.0 for v in scale.values()) else None


def decode(cfg: SearchConfig, params: dict[str, Any], layers: list[str], numels: dict[str, int],
           ratios: dict[str, float] | None = None) -> Decoded:
    """A trial's parameters as what to prune. ``ratios``: `.tilt.marginal_ratios` of the dense network,
    which the hardware-cost tilt of ``global`` needs (without them the tilt is refused rather than ignored)."""
    space = cfg.space
    ft = params.get("finetune_epochs", space.finetune_epochs if isinstance(space.finetune_epochs, int)
                    else space.finetune_epochs[0])
    alloc = None
    if space.mode == "per_layer":
        per_layer = {n: float(params.get(f"sparsity.{n}", _bounds(cfg, n)[0])) for n in layers}
        total = sum(numels[n] for n in layers)
        target = sum(per_layer[n] * numels[n] for n in layers) / total
    else:
        target = float(params["global_target"])
        alloc = {n: float(params.get(f"alloc.{n}", 1.0)) for n in layers}
        per_layer = allocate(target, alloc, {n: numels[n] for n in layers})
    method = str(params["method"])
    tilt = float(params.get("global_tilt", 0.0))
    scale = None
    if "global" in method.split(","):
        if tilt and ratios is None:
            raise ValueError("a global_tilt needs the layers' cost ratios (decode(..., ratios=cost_ratios(...)))")
        scale = global_scale(tilt, {n: ratios[n] for n in layers} if ratios else None, alloc)
    channels = None
    if space.channels[1] > 0:
        channels = {n: max(0.0, float(params.get(f"channels.{n}", space.channels[0]))) for n in layers}
    return Decoded(per_layer, method, int(ft), target, scale, tilt, channels)


def baseline_trials(cfg: SearchConfig, layers: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """``(label, params)`` of the baselines a user tries first: uniform sparsity at several levels (the first
    configured method) and global magnitude pruning, each clipped into the space."""
    dists = distributions(cfg, layers)
    out = []

    def clip(key: str, value: float) -> float:
        d = dists[key]
        return float(min(max(value, d.low), d.high))

    def common(method: str) -> dict[str, Any]:
        extra: dict[str, Any] = {"method": method}
        if "finetune_epochs" in dists:
            extra["finetune_epochs"] = dists["finetune_epochs"].low
        return extra

    levels = [("uniform", s, cfg.space.methods[0]) for s in cfg.baselines.uniform]
    levels += [("global", s, "global") for s in cfg.baselines.global_]
    seen: list[dict[str, Any]] = []
    for kind, s, method in levels:
        params: dict[str, Any] = {}
        for key in dists:
            if key.startswith("sparsity."):
                params[key] = clip(key, s)
            elif key == "global_target":
                params[key] = s = clip(key, s)  # the label names the target actually run
            elif key.startswith("channels."):
                params[key] = clip(key, 0.0)  # the baselines remove no channel
            elif key.startswith("alloc."):
                params[key] = clip(key, 1.0)
            elif key == "global_tilt":
                params[key] = clip(key, 0.0)  # plain global magnitude (and ignored by the other methods)
        params |= common(method)
        if params not in seen:  # levels clipped onto one another run once
            seen.append(params)
            out.append((f"{kind}-{s:g}", params))
    return out
