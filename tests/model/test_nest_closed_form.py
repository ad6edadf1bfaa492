"""The telescoped temporal-fill formula equals the direct per-loop sum it was derived from.

The direct form visits every non-trivial loop above a child tile and charges each advance either the
tile minus its overlap with the innermost loop's move (same stride) or the whole tile
(Timeloop's SaveAndSubtractIfSameStride). The engine uses an algebraically equal O(K) form; this test
checks both on random loop nests, including strides that repeat, wrap and never match.
"""

from __future__ import annotations

import numpy as np
import pytest

from sparse_hw.model.nest import temporal_fills


def _direct_fills(bounds, vectors, start, extents):
    n, k = bounds.shape
    g = start.shape[1]
    out = np.zeros((n, g))
    for i in range(n):
        for j in range(g):
            w = float(np.prod(extents[i, j]))
            loops = [kk for kk in range(start[i, j], k) if bounds[i, kk] > 1]
            if not loops:
                out[i, j] = w
                continue
            k0 = loops[0]
            v0 = vectors[i, k0]
            ov0 = float(np.prod(np.clip(extents[i, j] - np.abs(v0), 0, None)))
            total = w
            seen = np.zeros_like(v0)
            for pos, kk in enumerate(loops):
                times = (bounds[i, kk] - 1) * float(np.prod([bounds[i, x] for x in loops[pos + 1 :]]))
                move = vectors[i, kk] - seen
                total += times * (w - ov0 if np.array_equal(move, v0) else w)
                seen = seen + vectors[i, kk]
            out[i, j] = total
    return out


@pytest.mark.parametrize("seed", range(5))
def test_telescoped_form_matches_direct_sum(seed):
    rng = np.random.default_rng(seed)
    n, k, g, c = 200, 7, 4, 3
    bounds = rng.choice([1, 2, 3, 4, 7], size=(n, k))
    # compact the non-trivial slots to the front, as the nest analysis does
    order = np.argsort(bounds <= 1, axis=1, kind="stable")
    bounds = np.take_along_axis(bounds, order, axis=1)
    steps = rng.choice([0, 1, 2, 3], size=(n, k, c))
    vectors = steps * rng.choice([1, 2], size=(n, k, 1))
    start = np.sort(rng.integers(0, k + 1, size=(n, g)), axis=1)
    extents = rng.integers(1, 6, size=(n, g, c))
    got = temporal_fills(bounds, vectors, start, extents)
    want = _direct_fills(bounds, vectors, start, extents)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_wide_coordinates_fall_back_to_vector_comparison():
    rng = np.random.default_rng(9)
    n, k, g, c = 50, 6, 3, 4
    bounds = rng.choice([2, 3], size=(n, k))
    vectors = rng.integers(0, 2**20, size=(n, k, c))
    vectors[:, 1] = vectors[:, 0] * 2  # a move that repeats the innermost stride
    start = np.sort(rng.integers(0, k, size=(n, g)), axis=1)
    extents = rng.integers(1, 2**16, size=(n, g, c))
    np.testing.assert_allclose(
        temporal_fills(bounds, vectors, start, extents), _direct_fills(bounds, vectors, start, extents), rtol=1e-12
    )
