"""Which Sparseloop density model a layer's weights follow, detected from the weights themselves.

* no zeros -> ``dense``: density 1.0, written as the plain number ``1.0``;
* N:M (every group of M consecutive weights along the input channels holds exactly N nonzeros) or
  block (zeros come in whole aligned blocks: kernels, filters, input channels, or MxC tiles) ->
  ``fixed_structured``: every tile holds the same share of nonzeros;
* any other zeros -> ``unstructured`` -> ``hypergeometric``: nonzeros placed uniformly at random;
* channels removed (the weight is smaller than the registered architecture's) -> ``channel``: the
  shape shrinks and the remaining weights are dense (density 1.0); zeros left inside a shrunk layer are
  classified as above (``channel+unstructured``...).

Sparseloop semantics: Timeloop v3.0.3 ``src/workload/density-models/fixed-structured-distribution.cpp``
(every tile has density x size nonzeros) and ``hypergeometric-distribution.cpp`` (tile occupancy of a
randomly placed nonzero set); a bare number in the problem is fixed-structured
(``src/workload/workload.cpp``, ``ParseWorkloadInstance``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..names import DensityModel

#: Group sizes tried for N:M (smallest first: 2:4 is reported as 2:4, not as 4:8).
NM_GROUP_SIZES = (2, 4, 8, 16, 32)
#: Share of groups that must hold exactly N nonzeros (a trained weight can itself be exactly zero).
NM_EXACT_SHARE = 0.95
#: Share of the blocks holding any nonzero that must be entirely nonzero for a block pattern.
BLOCK_FULL_SHARE = 0.99
_TILE_SIZES = (1, 2, 4, 8, 16, 32)
#: Elements looked at first when rejecting a block pattern (a slice of whole filters).
_SAMPLE_ELEMENTS = 1 << 15


@dataclass(frozen=True)
class WeightPattern:
    """The zero pattern of one weight tensor and the density model it implies."""

    pattern: str
    """dense | unstructured | n:m | block | channel | channel+<pattern>."""
    detail: str
    density_model: str
    """``fixed_structured`` or ``hypergeometric`` (DensityModel values)."""


def _as_4d(weight: torch.Tensor) -> torch.Tensor:
    """Weights as ``[M, C, kh, kw]`` (Linear ``[M, C]`` and Conv1d ``[M, C, k]`` padded with unit axes)."""
    w = weight.detach()
    while w.dim() < 4:
        w = w.unsqueeze(-1)
    return w


def _group_counts(prefix: torch.Tensor, size: int) -> torch.Tensor:
    """Nonzeros of every consecutive group of ``size`` elements, from the prefix sums of a 0/1 vector.

    Differences of prefix sums cost O(n) for any group size, unlike a reduction over a tiny inner axis.
    """
    ends = prefix[size - 1 :: size]
    return torch.diff(ends, prepend=ends.new_zeros(1))


def _prefix(mask: torch.Tensor) -> torch.Tensor:
    dtype = torch.int32 if mask.numel() < 2**31 else torch.int64
    return torch.cumsum(mask.reshape(-1), 0, dtype=dtype)


def _nm_candidates(density: float, group: int) -> int | None:
    """The N an N:group pattern of this density would have, or None when no N fits.

    At least :data:`NM_EXACT_SHARE` of the groups hold exactly N nonzeros and none more, so the
    density lies in ``[NM_EXACT_SHARE * N / group, N / group]``.
    """
    n = math.ceil(density * group - 1e-9)
    if 0 < n < group and NM_EXACT_SHARE * n / group <= density + 1e-12:
        return n
    return None


def detect_nm(weight: torch.Tensor) -> tuple[int, int, str] | None:
    """``(n, m, layout)`` when the nonzeros follow an N:M pattern, else None.

    Two layouts are tried: groups along the flattened input (``[M, C*kh*kw]``, row-major) and groups
    along the input channels at each kernel position (``[M*kh*kw, C]``, NVIDIA ASP's layout).
    """
    w = _as_4d(weight) != 0
    _, c, kh, kw = w.shape
    density = float(w.sum()) / w.numel()
    prefixes: dict[str, torch.Tensor] = {}
    lengths = {"along C*R*S (flattened)": c * kh * kw, "along C": c}
    for group in NM_GROUP_SIZES:
        n = _nm_candidates(density, group)
        if n is None:
            continue
        for layout, length in lengths.items():
            if length % group:
                continue
            if layout not in prefixes:
                rows = w if layout.startswith("along C*") else w.permute(0, 2, 3, 1)
                prefixes[layout] = _prefix(rows.contiguous())
            counts = _group_counts(prefixes[layout], group)
            if int(counts.max()) == n and float((counts == n).sum()) >= NM_EXACT_SHARE * counts.numel():
                return n, group, layout
    return None


def _block_candidates(shape: Sequence[int]) -> list[tuple[int, int, int, int]]:
    m, c, kh, kw = shape
    cands: set[tuple[int, int, int, int]] = set()
    spatial = [(kh, kw), (1, 1)] if kh * kw > 1 else [(1, 1)]
    for (bh, bw), bm, bc in itertools.product(spatial, (*_TILE_SIZES, m), (*_TILE_SIZES, c)):
        if bm * bc * bh * bw > 1 and m % bm == 0 and c % bc == 0 and bm <= m and bc <= c:
            cands.add((bm, bc, bh, bw))
    return sorted(cands, key=lambda b: (-b[0] * b[1] * b[2] * b[3], b))


def detect_block(weight: torch.Tensor) -> tuple[int, int, int, int] | None:
    """The largest aligned block ``(bm, bc, bh, bw)`` such that zeros come in whole blocks, else None.

    Blocks span either the whole kernel or one kernel position; along M and C they are 1-32 wide or the
    whole axis (a whole filter or a whole input channel).
    """
    nz = _as_4d(weight) != 0
    m, c, kh, kw = nz.shape
    # A block pattern is also a pattern of every aligned sub-block, so when none of the smallest
    # blocks along M, along C or over the kernel fits, no larger one can: unstructured zeros stop here.
    atoms = [
        b
        for b in ((_smallest_divisor(m), 1, 1, 1), (1, _smallest_divisor(c), 1, 1), (1, 1, kh, kw))
        if b[0] * b[1] * b[2] * b[3] > 1
    ]
    # First on a slice of whole output-channel groups: random zeros fail there already, at a fraction of the cost.
    step = _smallest_divisor(m)
    rows = step * max(1, _SAMPLE_ELEMENTS // max(1, step * c * kh * kw))
    if rows < m and not any(_fits(nz[:rows], b, decisive=False) for b in atoms):
        return None
    if not any(_fits(nz, b) for b in atoms):
        return None
    for block in _block_candidates(nz.shape):
        if _fits(nz, block):
            return block
    return None


def _tile_counts(nz: torch.Tensor, block: tuple[int, int, int, int]) -> torch.Tensor | None:
    """Nonzeros per aligned ``block``-sized tile of the mask ``nz`` ``[M, C, kh, kw]`` (None if it does not tile)."""
    m, c, kh, kw = nz.shape
    bm, bc, bh, bw = block
    if m % bm or c % bc or kh % bh or kw % bw:
        return None
    tiles = nz.reshape(m // bm, bm, c // bc, bc, kh // bh, bh, kw // bw, bw).permute(0, 2, 4, 6, 1, 3, 5, 7)
    return _group_counts(_prefix(tiles.contiguous()), bm * bc * bh * bw)


def _fits(nz: torch.Tensor, block: tuple[int, int, int, int], *, decisive: bool = True) -> bool:
    """Whether ``nz`` is made of whole tiles: every tile holding a nonzero is (>= 99 %) full.

    ``decisive=False`` (for samples) also accepts a sample with no empty or no occupied tile.
    """
    counts = _tile_counts(nz, block)
    if counts is None:
        return False
    occupied = int((counts > 0).sum())
    if decisive and occupied in (0, counts.numel()):
        return False
    full = int((counts == block[0] * block[1] * block[2] * block[3]).sum())
    return full >= BLOCK_FULL_SHARE * occupied


def _smallest_divisor(n: int) -> int:
    return next((t for t in _TILE_SIZES[1:] if n % t == 0), n)


def classify_zeros(weight: torch.Tensor) -> WeightPattern:
    """Pattern of the zeros inside the weight tensor as stored (shape changes are not looked at)."""
    numel = weight.numel()
    nnz = int(torch.count_nonzero(weight))
    if nnz == numel:
        return WeightPattern("dense", "no zero weights", DensityModel.FIXED_STRUCTURED.value)
    nm = detect_nm(weight)
    if nm is not None:
        n, m, layout = nm
        return WeightPattern("n:m", f"{n}:{m} {layout}", DensityModel.FIXED_STRUCTURED.value)
    block = detect_block(weight)
    if block is not None:
        bm, bc, bh, bw = block
        return WeightPattern(
            "block", f"blocks of {bm}x{bc}x{bh}x{bw} (M x C x S x R) all zero or all nonzero",
            DensityModel.FIXED_STRUCTURED.value,
        )  # fmt: skip
    return WeightPattern(
        "unstructured",
        f"{numel - nnz} of {numel} zero, no N:M or block structure",
        DensityModel.HYPERGEOMETRIC.value,
    )


def weight_pattern(weight: torch.Tensor, dense_shape: Sequence[int] | None = None) -> WeightPattern:
    """The layer's pattern: channel pruning (shape smaller than ``dense_shape``) combined with its zeros."""
    inner = classify_zeros(weight)
    shape = tuple(weight.shape)
    if dense_shape is None or tuple(dense_shape) == shape:
        return inner
    shrink = f"weight {list(dense_shape)} -> {list(shape)} (channels removed)"
    if inner.pattern == "dense":
        return WeightPattern("channel", shrink, DensityModel.FIXED_STRUCTURED.value)
    return WeightPattern(f"channel+{inner.pattern}", f"{shrink}; {inner.detail}", inner.density_model)


__all__ = ["WeightPattern", "classify_zeros", "detect_block", "detect_nm", "weight_pattern"]
