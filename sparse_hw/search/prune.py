"""Prune a dense model to a per-layer sparsity: the trial's own cut, made before the short fine-tune.

`sparse_hw.train` prunes to one global target; a search needs one target per layer, so the cut is made
here on the dense checkpoint's weights (zeros), and `train` fine-tunes from that checkpoint, keeping the
zeros as masks (see ``train.api.train``: an init checkpoint's zeros become masks).

Methods, per layer: ``l1`` keeps the largest |w|; ``structured`` zeroes whole output channels of least
L1 norm (the classifier, whose rows are the classes, falls back to l1) and makes the cut channel-complete,
as removing the channel would: the layer's bias entry and the directly following batch norm's weight, bias
and running mean are zeroed too, else the norm's shift (beta) keeps the channel's output non-zero and the
next layer's input density does not drop. Those entries are returned (``kept zeros``) so that the
fine-tune keeps them zero; ``global`` ranks |w| across all
layers (one threshold for the numel-weighted target), each layer's |w| divided by its hardware-cost scale:
(marginal cost per weight over the network's, `.tilt`)^tilt times its allocation weight, so that layers
whose weights cost more on the hardware are pruned harder (tilt 0 and no allocation: plain global
magnitude); ``gmp`` is l1 reached gradually over the fine-tune
(see .trial). A composition (``structured,l1``) applies each part in turn, each removing an equal
geometric share, as ``TrainConfig.method_targets`` does.
"""

from __future__ import annotations

import itertools
import logging

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..train.sparsity import WEIGHT_LAYER_TYPES
from .config import SearchConfig

log = logging.getLogger(__name__)


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


def _structured_rows(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Boolean keep-mask of the output channels: those of largest L1 norm, at least one."""
    channels = weight.shape[0]
    norms = weight.abs().reshape(channels, -1).sum(dim=1)
    keep = max(1, channels - int(round(sparsity * channels)))
    return _keep_largest(norms, keep)


def _structured(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    rows = _structured_rows(weight, sparsity)
    return rows.view(-1, *([1] * (weight.dim() - 1))).expand_as(weight) & (weight != 0)


def following_norms(model: nn.Module, example: torch.Tensor | None = None) -> dict[str, str]:
    """conv/linear name -> name of the batch norm that takes its output directly (same channel count).

    With an ``example`` input the forward is traced with hooks: a norm follows a layer when its input is the
    very tensor the layer returned. This works for any model, control flow included (PointNet++'s sampling
    defeats torch.fx). Without an example, or if the forward fails, a norm right after the layer in the
    same ``nn.Sequential`` is taken."""
    modules = dict(model.named_modules())
    found: dict[str, str] = {}
    if example is not None:
        produced: dict[int, tuple[str, torch.Tensor]] = {}  # the tensor is held so that its id stays unique
        handles = []

        def layer_hook(name):
            def hook(_m, _inputs, out):  # returns None: the output stays as it is
                produced.setdefault(id(out), (name, out))
            return hook

        def norm_hook(name):
            def hook(_m, inputs, _out):
                hit = produced.get(id(inputs[0])) if inputs else None
                if hit is not None and hit[1] is inputs[0]:
                    found.setdefault(hit[0], name)
            return hook

        for name, m in modules.items():
            if isinstance(m, WEIGHT_LAYER_TYPES):
                handles.append(m.register_forward_hook(layer_hook(name)))
            elif isinstance(m, _BatchNorm):
                handles.append(m.register_forward_hook(norm_hook(name)))
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                model(example)
        except Exception as exc:  # noqa: BLE001 -- any model the trace cannot run falls back to module order
            log.warning("structured cut: the traced forward failed (%s); norms found by module order", exc)
            found.clear()
            example = None
        finally:
            for h in handles:
                h.remove()
            model.train(was_training)
    if example is None:
        for parent, seq in modules.items():
            if isinstance(seq, nn.Sequential):
                children = list(seq.named_children())
                for (a, ma), (b, mb) in itertools.pairwise(children):
                    if isinstance(ma, WEIGHT_LAYER_TYPES) and isinstance(mb, _BatchNorm):
                        found.setdefault(f"{parent}.{a}" if parent else a, f"{parent}.{b}" if parent else b)
    return {n: b for n, b in found.items() if modules[b].num_features == modules[n].weight.shape[0]}


def _zero_channels(modules: dict[str, nn.Module], layer: str, norm: str | None,
                   cut: list[int]) -> dict[str, list[int]]:
    """Zero the ``cut`` output channels' bias and following norm entries; ``{tensor name: channels}``."""
    tensors = [(f"{layer}.bias", modules[layer].bias)]
    if norm is not None:
        tensors += [(f"{norm}.{attr}", getattr(modules[norm], attr, None))
                    for attr in ("weight", "bias", "running_mean")]
    zeroed = {}
    for name, t in tensors:
        if t is not None and cut:
            t[cut] = 0
            zeroed[name] = list(cut)
    return zeroed


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
                global_scale: dict[str, float] | None = None,
                example: torch.Tensor | None = None) -> dict[str, list[int]]:
    """Zero weights in place so that each layer reaches its sparsity (or the global target, for global,
    ranking |w| / ``global_scale[layer]`` with no layer pruned beyond `MAX_LAYER_SPARSITY`).

    Returns the kept zeros of the structured cut: ``{tensor name: channels}`` of the biases and norm
    entries zeroed with the cut channels (empty without structured); ``example`` finds the norms
    (`following_norms`)."""
    from .space import MAX_LAYER_SPARSITY

    modules = dict(model.named_modules())
    from ..train.sparsity import weight_layers

    output_layer = weight_layers(model)[-1][0]
    parts = method.split(",")
    norms = following_norms(model, example) if "structured" in parts else {}
    cut_channels: dict[str, set[int]] = {}
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
            if part == "structured" and name != output_layer:
                rows = _structured_rows(w, target)
                cut_channels.setdefault(name, set()).update((~rows).nonzero().flatten().tolist())
                w.mul_(_structured(w, target))
            else:
                w.mul_(_l1(w, target))
    kept: dict[str, list[int]] = {}
    for name, cut in cut_channels.items():
        kept.update(_zero_channels(modules, name, norms.get(name), sorted(cut)))
    return kept
