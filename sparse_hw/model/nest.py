"""Dense nest analysis in closed form, vectorized over a batch of mappings.

This reproduces what Timeloop v3.0.3's `NestAnalysis` + `CollapseDataMovementNest` compute for
perfectly factorized mappings, without walking the loop nest:

* Tile of a data space at level ``l`` = projection of the box spanned by every loop of levels
  ``<= l`` (temporal and spatial); its size is a product of per-coordinate extents
  (`GetCurrentWorkingSet`, AAHR projection; strided holes included).
* Fills of a tile (``delta``): Timeloop visits each child tile once per iteration of the temporal
  loops above it, simulating only iterations #0 and #1 of every loop (#1 weighted by n-1,
  `gExtrapolateUniformTemporal`), and takes the set difference with the previous visit only if
  the tile moved by the same translation as before (`OperationSpace::SaveAndSubtractIfSameStride`,
  enabled because `gResetOnStrideChange = !UsesFlattening`, nest-analysis.cpp Init); otherwise
  the whole tile is fetched again. Enumerating the visits as a binary counter over the
  non-trivial loops gives a closed form (see ``temporal_fills``).
* Spatial fan-out: children whose delta sets are equal share one parent access (multicast,
  `ComputeAccurateMulticastedAccesses`); deltas are translates of each other, so the number of
  distinct deliveries is the number of distinct child offsets (``distinct_offsets``).
* Bypass promotion (`MaskTiles`), partition sizes (`ComputePartitionSizes`), parent access share
  and the legacy read/fill/update split with first-read elision
  (`ComputeReadUpdateReductionAccesses_Legacy`), all in src/loop-analysis/tiling.cpp.
"""

from __future__ import annotations

import msgspec
import numpy as np

from .arch import ArchModel
from .mapping import MappingBatch
from .problem import ProblemModel
from .unique_rows import pack_rows


class DenseNest(msgspec.Struct):
    """Per-instance dense counts, arrays over [N, L, T] unless noted."""

    e_below: np.ndarray  # [N, L+1, D] extents of the box of all loops below level l
    tile_size: np.ndarray  # [N, L, T] data tile size at level l (also for bypassed levels)
    tile_extents: list[np.ndarray]  # per t: [N, L, C_t]
    deltas: np.ndarray  # [N, L, T] fills of level l's tile over the run (pre-masking share)
    distinct: np.ndarray  # [N, L, T] distinct child offsets under level l's fan-out
    content: np.ndarray  # [N, L, T] accesses delivered to the child side, after bypass promotion
    partition: np.ndarray  # [N, L, T]
    reads: np.ndarray  # [N, L, T]
    fills: np.ndarray  # [N, L, T]
    updates: np.ndarray  # [N, L, T]
    keep: np.ndarray  # [N, L, T]
    utilized: np.ndarray  # [N, L] utilized instances of each level
    x_expansion: np.ndarray  # [N, L+1] (index L... 0: levels; compute is index -1 below)
    y_expansion: np.ndarray
    compute_utilized: np.ndarray  # [N]
    compute_x: np.ndarray
    compute_y: np.ndarray
    ops: np.ndarray  # [N] operations per compute instance (temporal iterations)
    slot_dims: np.ndarray  # [N, K] dim of each temporal loop slot, innermost first
    slot_bounds: np.ndarray  # [N, K]
    slot_steps: np.ndarray  # [N, K] step of the loop index in dimension units
    slot_level: np.ndarray  # [K]

    def select(self, rows: np.ndarray) -> DenseNest:
        """The analysis of the mappings ``rows`` only: every count is per mapping, so this equals
        analyzing ``MappingBatch.select(rows)`` again (the mapper's exact evaluation skips that)."""
        out = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if name == "slot_level":
                out[name] = value
            elif name == "tile_extents":
                out[name] = [x[rows] for x in value]
            else:
                out[name] = value[rows]
        return DenseNest(**out)


def _exclusive_suffix_prod(x: np.ndarray, axis: int = -1) -> np.ndarray:
    rev = np.flip(x, axis=axis)
    cp = np.cumprod(rev, axis=axis)
    cp = np.flip(cp, axis=axis)
    out = np.ones_like(x)
    sl_dst = [slice(None)] * x.ndim
    sl_src = [slice(None)] * x.ndim
    sl_dst[axis] = slice(0, -1)
    sl_src[axis] = slice(1, None)
    out[tuple(sl_dst)] = cp[tuple(sl_src)]
    return out


def _prod_last(a: np.ndarray) -> np.ndarray:
    """``np.prod(a, axis=-1)`` of an integer array, as a loop over the (short) last axis: numpy's reduce
    over a few contiguous elements per row is several times slower (issue 15, item 14). Integer products
    are exact in any order; the dtype is np.prod's."""
    dtype = np.prod(np.empty((1, 0), dtype=a.dtype), axis=-1).dtype
    if a.shape[-1] == 0:
        return np.ones(a.shape[:-1], dtype=dtype)
    out = a[..., 0].astype(dtype)
    for j in range(1, a.shape[-1]):
        out *= a[..., j]
    return out


def _slot_context(bounds: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, ...]:
    """What `temporal_fills` derives from the loop slots alone, the same for every data space: (non-trivial
    slots, suffix products, advances, first slot above each child, row index, slots above, product above)."""
    n, k = bounds.shape
    nt = bounds > 1
    nf = bounds.astype(np.float64)
    suffix = np.ones((n, k + 1), dtype=np.float64)  # suffix[:, k] = prod_{j>=k} n_j
    suffix[:, :k] = np.flip(np.cumprod(np.flip(nf, axis=1), axis=1), axis=1)
    adv = (nf - 1.0) * suffix[:, 1:]  # times loop k advances
    s_idx = np.minimum(start, k - 1)  # [N,G]
    rows = np.arange(n)[:, None]  # fancy indexing: `take_along_axis` without its index building
    above = np.arange(k)[None, None, :] >= start[:, :, None]
    total_n = suffix[rows, np.minimum(start, k)]  # prod_{j>=k0} n_j (1 if none)
    return nt, suffix, adv, s_idx, rows, above, total_n


def temporal_fills(bounds: np.ndarray, vectors: np.ndarray, start: np.ndarray, extents: np.ndarray,
                   context: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
    """Words a child tile receives over the whole run, per instance.

    ``context``: `_slot_context(bounds, start)`, when the caller computed it once for several data spaces.

    Args:
        bounds: [N, K] bounds of the non-trivial temporal loop slots, innermost first, compacted to the
            front (trailing slots have bound 1).
        vectors: [N, K, C] translation of the child tile per loop increment, in data-space coords.
        start: [N, G] index of the first slot above each of G children (slots ``>= start`` lie above).
        extents: [N, G, C] child tile extents per coordinate.

    Returns:
        [N, G] fills. With k0 the innermost non-trivial loop above the child and v0 its vector:
        every odd visit moves by v0 and costs ``W - overlap(v0)``; a visit where loop k > k0 advances
        moves by ``T_k = v_k - sum_{k0<=j<k} v_j`` (inner loops wrap from their simulated iteration 1)
        and costs ``W - overlap(v0)`` if ``T_k == v0`` (same stride), else the whole tile ``W``.

        Loop k advances ``(n_k - 1) * prod_{j>k} n_j`` times, and these counts telescope:
        ``W + sum_k (n_k-1) prod_{j>k} n_j W = W prod_{k>=k0} n_k``. With ``P_k`` the prefix sum of
        vectors below k, ``T_k == v0`` is ``v_k - P_k == v_k0 - P_k0``, so one key per slot decides
        "same stride" for every child at once:
        ``fills = W prod_{k>=k0} n_k - overlap(v0) * sum_{k>=k0, same} (n_k-1) prod_{j>k} n_j``.
    """
    nt, _, adv, s_idx, rows, above, total_n = _slot_context(bounds, start) if context is None else context
    vec = vectors * nt[:, :, None]
    prefix = np.cumsum(vec, axis=1) - vec
    q = vec - prefix  # [N,K,C]
    v0 = vec[rows, s_idx]  # [N,G,C]
    w = _prod_last(extents).astype(np.float64)
    ov0 = _prod_last(np.clip(extents - np.abs(v0), 0, None)).astype(np.float64)
    key = pack_rows(q)
    if key is not None:
        k0key = key[rows, s_idx]  # [N,G]
        same = key[:, None, :] == k0key[:, :, None]  # [N,G,K]
    else:
        q0 = q[rows, s_idx]
        same = np.all(q[:, None, :, :] == q0[:, :, None, :], axis=3)
    # sum over the slots as a batched matrix product: integer-valued doubles, exact in any order
    same_adv = np.matmul((same & above).astype(np.float64), adv[:, :, None])[:, :, 0]  # [N,G]
    return w * total_n - ov0 * same_adv


def distinct_offsets(coef: np.ndarray, spatial: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Number of distinct data-space offsets among the children of one spatial fan-out.

    Args:
        coef: [C, D] projection coefficients of the data space.
        spatial: [N, L, D] spatial factors.
        steps: [N, L, D] index step of each spatial loop in dimension units.

    Two spatial loops feeding one coordinate (e.g. P and R for the input width) collide where
    ``a*i + b*j`` repeats; with ``g = gcd(a, b)`` the number of distinct values is
    ``n1*n2 - max(0, n1 - b/g) * max(0, n2 - a/g)``. More than two loops on one coordinate never
    occur in CNN shapes; their product is then an upper bound.
    """
    out = np.ones(spatial.shape[:2], dtype=np.int64)
    for c in range(coef.shape[0]):
        dims = np.nonzero(coef[c])[0]
        if len(dims) == 1:
            out *= spatial[:, :, dims[0]]
        elif len(dims) == 2:
            x1, x2 = dims
            n1 = spatial[:, :, x1]
            n2 = spatial[:, :, x2]
            a = coef[c, x1] * steps[:, :, x1]
            b = coef[c, x2] * steps[:, :, x2]
            g = np.gcd(a, b)
            g = np.where(g == 0, 1, g)
            ap = a // g
            bp = b // g
            out *= n1 * n2 - np.clip(n1 - bp, 0, None) * np.clip(n2 - ap, 0, None)
        elif len(dims) > 2:
            out *= np.prod(spatial[:, :, dims], axis=2)
    return out


def analyze(problem: ProblemModel, arch: ArchModel, mb: MappingBatch) -> DenseNest:
    """Run the dense nest analysis for every mapping of the batch."""
    n, levels, n_dims = mb.temporal.shape
    spaces = problem.dataspaces
    t_count = len(spaces)
    tf = mb.temporal.astype(np.int64)
    sf = mb.spatial.astype(np.int64)

    e_below = np.ones((n, levels + 1, n_dims), dtype=np.int64)
    np.cumprod(tf * sf, axis=1, out=e_below[:, 1:, :])
    e_tile = e_below[:, 1:, :]  # [N,L,D]
    e_master = e_below[:, :-1, :] * sf  # spatial loops of l and everything below

    # Temporal loop slots: level l, position j (innermost first).
    slot_dims = mb.perm.reshape(n, levels * n_dims)
    lvl_idx = np.repeat(np.arange(levels), n_dims)
    at_n, at_l = np.arange(n)[:, None, None], np.arange(levels)[None, :, None]  # indexing [N, L, D] by perm
    slot_bounds = tf[at_n, at_l, mb.perm].reshape(n, -1)
    step_at_level = e_below[:, :-1, :] * sf  # step of level l's temporal loop in dim units
    slot_steps = step_at_level[at_n, at_l, mb.perm].reshape(n, -1)

    tile_size = np.zeros((n, levels, t_count), dtype=np.int64)
    deltas = np.zeros((n, levels, t_count), dtype=np.float64)
    distinct = np.zeros((n, levels, t_count), dtype=np.int64)
    partition = np.zeros((n, levels, t_count), dtype=np.int64)
    tile_extents = []
    ops = np.prod(tf.reshape(n, -1), axis=1).astype(np.float64)
    sp_steps = e_below[:, :-1, :]

    # Trivial loops never move a tile: keep only the non-trivial slots (in order) to shrink the arrays.
    nontrivial = slot_bounds > 1
    k_eff = max(1, int(nontrivial.sum(axis=1).max(initial=0)))
    order = np.argsort(~nontrivial, axis=1, kind="stable")[:, :k_eff]
    at_row = np.arange(n)[:, None]
    c_bounds = slot_bounds[at_row, order]
    c_dims = slot_dims[at_row, order]
    c_steps = slot_steps[at_row, order]
    c_level = lvl_idx[order]
    c_nt = nontrivial[at_row, order]
    c_bounds = np.where(c_nt, c_bounds, 1)
    # first compacted slot above each level (non-trivial slots keep their level order)
    c_start = ((c_level[:, None, :] <= np.arange(levels)[None, :, None]) & c_nt[:, None, :]).sum(axis=2)

    has_spatial = (sf > 1).any(axis=2)  # [N,L]
    slots = _slot_context(c_bounds, c_start)
    for t, ds in enumerate(spaces):
        coef = ds.coef
        ext = ds.extents(e_tile)  # [N,L,C]
        tile_extents.append(ext)
        tile_size[:, :, t] = ds.tile_size(e_tile)
        master = ds.tile_size(e_master)  # [N,L]
        # translation vectors of every slot in data-space coordinates
        vectors = np.empty((*c_dims.shape, coef.shape[0]), dtype=np.result_type(coef, c_steps))  # [N,K',C]
        for c in range(coef.shape[0]):
            vectors[:, :, c] = coef[c, c_dims] * c_steps
        deltas[:, :, t] = temporal_fills(c_bounds, vectors, c_start, ext, slots)
        distinct[:, :, t] = distinct_offsets(coef, sf, sp_steps)
        # partition sizes (integer arithmetic as in ComputePartitionSizes)
        part = tile_size[:, levels - 1, t].copy()
        partition[:, levels - 1, t] = part
        for lv in range(levels - 2, -1, -1):
            denom = np.where(has_spatial[:, lv + 1], master[:, lv + 1], tile_size[:, lv, t])
            part = (part * tile_size[:, lv, t]) // np.maximum(denom, 1)
            partition[:, lv, t] = part

    # Content accesses before masking: distinct deliveries x the child's deltas.
    content = np.empty((n, levels, t_count), dtype=np.float64)
    content[:, 0, :] = distinct[:, 0, :] * ops[:, None]
    content[:, 1:, :] = distinct[:, 1:, :] * deltas[:, :-1, :]
    keep = mb.keep.copy()
    keep[:, -1, :] = True
    for lv in range(levels - 1):
        bypassed = ~keep[:, lv, :]
        content[:, lv + 1, :] = np.where(bypassed, distinct[:, lv + 1, :] * content[:, lv, :], content[:, lv + 1, :])

    rw = np.array([ds.read_write for ds in spaces])
    outermost = np.zeros((levels,), dtype=bool)
    outermost[-1] = True
    share = np.where(outermost[None, :, None], 0.0, deltas)
    part_f = partition.astype(np.float64)
    reads = np.where(rw[None, None, :], content - part_f, content)
    updates = np.where(rw[None, None, :], content, 0.0)
    fills = np.where(rw[None, None, :] & ~outermost[None, :, None], share - part_f, share)
    reads = np.where(keep, np.round(reads), 0.0)
    updates = np.where(keep, np.round(updates), 0.0)
    fills = np.where(keep, np.round(fills), 0.0)

    sp_all = _prod_last(sf)  # [N,L]
    on_x = mb.spatial_x
    sx = _prod_last(np.where(on_x, sf, 1))
    sy = _prod_last(np.where(on_x, 1, sf))
    # utilized instances of level l = product of the spatial fan-outs above l
    above = _exclusive_suffix_prod(sp_all.astype(np.int64), axis=1)
    x_exp = _exclusive_suffix_prod(sx.astype(np.int64), axis=1)
    y_exp = _exclusive_suffix_prod(sy.astype(np.int64), axis=1)
    return DenseNest(
        e_below=e_below,
        tile_size=tile_size,
        tile_extents=tile_extents,
        deltas=deltas,
        distinct=distinct,
        content=content,
        partition=partition,
        reads=reads,
        fills=fills,
        updates=updates,
        keep=keep,
        utilized=above,
        x_expansion=x_exp,
        y_expansion=y_exp,
        compute_utilized=np.prod(sp_all, axis=1),
        compute_x=np.prod(sx, axis=1),
        compute_y=np.prod(sy, axis=1),
        ops=ops,
        slot_dims=slot_dims,
        slot_bounds=slot_bounds,
        slot_steps=slot_steps,
        slot_level=lvl_idx,
    )
