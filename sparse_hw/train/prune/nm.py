"""N:M semi-structured pruning (``--method nm --nm 2:4``): in every group of M consecutive weights along
the reduction dimension, the N largest magnitudes are kept and the rest zeroed.

Groups run along the input channels C at each (output channel, kernel position), ``[K, C, R, S] ->
[K*R*S, C/M, M]``, which is the layout NVIDIA's sparse tensor cores read and the one NVIDIA ASP prunes
(Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks", arXiv:2104.08378). A layer whose C is
not a multiple of M (the first convolution of an RGB model) is grouped along its flattened reduction
axis C*R*S instead; a layer where neither divides stays dense and is named in the method's record. The
extractor (``sparse_hw.extract.density.detect_nm``) recognizes both layouts and writes the weights as
``fixed_structured``.

The sparsity is fixed by N:M (1 - N/M of every pruned layer), so the method needs no ``--sparsity``;
when one is given it is recorded, not enforced.
"""

from __future__ import annotations

import torch

from .base import PruneContext, PruneOutcome, prunable_weights, register_method

LAYOUT_C = "along C"
LAYOUT_FLAT = "along C*R*S (flattened)"


def parse_nm(text: str) -> tuple[int, int]:
    """``"2:4"`` -> ``(2, 4)``; ``ValueError`` unless ``1 <= N < M <= 64``."""
    head, sep, tail = str(text).partition(":")
    try:
        n, m = int(head), int(tail)
    except ValueError:
        n = m = 0
    if not sep or not 1 <= n < m <= 64:
        raise ValueError(f"expected N:M with 1 <= N < M <= 64 (e.g. 2:4), got {text!r}")
    return n, m


def nm_layout(shape: tuple[int, ...], m: int) -> str | None:
    """Which axis groups of ``m`` run along for a weight of ``shape`` (None: the layer cannot be N:M)."""
    c = shape[1] if len(shape) > 1 else 0
    spatial = 1
    for d in shape[2:]:
        spatial *= d
    if c and c % m == 0:
        return LAYOUT_C
    if c and (c * spatial) % m == 0:
        return LAYOUT_FLAT
    return None


def nm_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor | None:
    """Keep-mask with the ``n`` largest magnitudes of every group of ``m`` (None when no layout fits).

    Ties are broken by position (stable sort), so the mask is deterministic.
    """
    layout = nm_layout(tuple(weight.shape), m)
    if layout is None:
        return None
    w = weight.detach().abs()
    while w.dim() < 4:
        w = w.unsqueeze(-1)
    k, c, r, s = w.shape
    rows = w.permute(0, 2, 3, 1) if layout == LAYOUT_C else w  # groups are consecutive in memory order
    groups = rows.contiguous().reshape(-1, m)
    order = torch.argsort(groups, dim=1, descending=True, stable=True)
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(1, order[:, :n], True)
    if layout == LAYOUT_C:
        keep = keep.reshape(k, r, s, c).permute(0, 3, 1, 2)
    return keep.reshape(weight.shape).contiguous()


@register_method("nm", structure="n:m")
def nm(ctx: PruneContext) -> PruneOutcome:
    """N:M semi-structured magnitude pruning (2:4, 4:8, 1:4...) of every prunable layer, groups along C."""
    n, m = parse_nm(getattr(ctx.options, "nm", "2:4"))
    layouts: dict[str, str] = {}
    skipped: list[str] = []
    with torch.no_grad():
        for name, w in prunable_weights(ctx.model, ctx.prunable).items():
            mask = nm_mask(w, n, m)
            if mask is None:
                skipped.append(name)
                continue
            # replaces any earlier mask: a group left with fewer than N nonzeros by an earlier method
            # regrows to exactly N while fine-tuning, so the pattern stays N:M
            ctx.masks.set(name, mask)
            layouts[name] = nm_layout(tuple(w.shape), m) or ""
    ctx.masks.apply(ctx.model)
    record = {"n": n, "m": m, "layouts": layouts}
    if skipped:
        record["dense_layers"] = {"layers": skipped, "why": f"no reduction axis is a multiple of {m}"}
    return PruneOutcome(ctx.model, record)
