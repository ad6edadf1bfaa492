"""Sparseloop density models: the distribution of nonzeros in a tile of a given shape.

Semantics follow Timeloop v3.0.3 `src/workload/density-models/`:

* ``fixed_structured`` (a bare number in the problem file): a tile of shape T holds exactly
  ``T*d`` nonzeros; a fractional count is floor/ceil with probabilities giving the exact mean.
  Conditioned on a parent tile (T, k) a sub-tile of shape s uses density ``k/T``.
* ``hypergeometric``: random pruning of a tensor of N elements with ``r = ceil(d*N)`` nonzeros;
  occupancy of a T-tile ~ Hypergeom(N, r, T). Conditioned on a parent tile (T, k), a sub-tile
  of shape s ~ Hypergeom(T, k, s). Max occupancy at confidence 1.0 is ``min(T, r)``.
* ``banded``: a band matrix of the given ``band_width``; we use its global density with the
  fixed-structured tile model (Timeloop's banded model needs point coordinates; documented).

Density 1.0 is dense under every distribution (the reference README's hypergeometric-1.0 pitfall:
Timeloop v3.0.3 mis-models ``{hypergeometric, 1.0}``; a tensor without zeros has full tiles).
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import msgspec
import numpy as np

from .problem import DensitySpec


def gammaln(x):
    """scipy's ``gammaln``, imported on first use: scipy.special costs ~0.1 s of start-up that dense
    problems and ``check`` never need (issue 15, item 14). Same function, so the same numbers."""
    from scipy.special import gammaln as _gammaln

    globals()["gammaln"] = _gammaln
    return _gammaln(x)

# Probabilities below this (relative to the mode) are dropped from occupancy sums; Timeloop sums
# every non-zero double, whose contribution beyond ~1e-18 is below print precision.
_TAIL = 1e-18


def _log_comb(n, k):
    return gammaln(np.asarray(n, dtype=np.float64) + 1) - gammaln(np.asarray(k, dtype=np.float64) + 1) - gammaln(
        np.asarray(n, dtype=np.float64) - np.asarray(k, dtype=np.float64) + 1
    )


def hypergeom_pmf(k: np.ndarray, big_n: int, r: int, n: int) -> np.ndarray:
    """P(k successes in n draws from N with r successes), vectorized over k."""
    k = np.asarray(k, dtype=np.float64)
    lo = max(0, n + r - big_n)
    hi = min(n, r)
    valid = (k >= lo) & (k <= hi)
    kk = np.where(valid, k, lo)
    logp = _log_comb(r, kk) + _log_comb(big_n - r, n - kk) - _log_comb(big_n, n)
    return np.where(valid, np.exp(logp), 0.0)


def p_empty_hypergeom(s, big_t, k):
    """P(a sub-tile of shape s holds no nonzero | parent of shape T holds k), vectorized."""
    s = np.asarray(s, dtype=np.float64)
    big_t = np.asarray(big_t, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    ok = (s <= big_t - k)
    safe_s = np.where(ok, s, 0.0)
    logp = gammaln(big_t - k + 1) - gammaln(big_t - k - safe_s + 1) - gammaln(big_t + 1) + gammaln(big_t - safe_s + 1)
    # A single element is empty with probability exactly (T-k)/T; keep that exact, since counts are
    # later floored (`floor(computes * p)`) and a rounding error would move them by one.
    exact_one = (big_t - k) / np.where(big_t > 0, big_t, 1.0)
    return np.where(ok, np.where(safe_s == 1, exact_one, np.exp(logp)), 0.0)


def p_empty_fixed(s, big_t, k):
    """Fixed-structured: a sub-tile holds s*k/T nonzeros (floor/ceil); empty iff that is < 1."""
    x = np.asarray(s, dtype=np.float64) * np.asarray(k, dtype=np.float64) / np.asarray(big_t, dtype=np.float64)
    return np.where(np.floor(x) == 0, 1.0 - x, 0.0)


class TensorDensity(msgspec.Struct, frozen=True):
    """The density model of one tensor, bound to its full size (Timeloop's workload tensor size)."""

    kind: str  # dense | fixed | hyper
    density: float
    tensor_size: int
    nnz: int  # hypergeometric r = ceil(d*N)

    @staticmethod
    def build(spec: DensitySpec, tensor_size: int) -> TensorDensity:
        dist = spec.distribution.replace("-", "_")
        if spec.density >= 1.0:
            return TensorDensity("dense", 1.0, tensor_size, tensor_size)
        if dist == "hypergeometric":
            nnz = int(math.ceil(spec.density * tensor_size - 1e-9))
            return TensorDensity("hyper", spec.density, tensor_size, nnz)
        if dist == "banded":
            return TensorDensity("fixed", spec.density, tensor_size, int(round(spec.density * tensor_size)))
        return TensorDensity("fixed", spec.density, tensor_size, int(round(spec.density * tensor_size)))

    @property
    def is_dense(self) -> bool:
        return self.kind == "dense"

    # -- unconstrained tile of a given shape ------------------------------------------------
    def occupancy_distribution(self, shape: int) -> tuple[np.ndarray, np.ndarray]:
        """Possible nonzero counts of a tile and their probabilities (p > 0 only)."""
        return _occupancy_distribution(self, int(shape))

    def p_empty(self, shape) -> np.ndarray:
        shape = np.asarray(shape, dtype=np.float64)
        if self.kind == "dense":
            return np.where(shape > 0, 0.0, 1.0)
        if self.kind == "hyper":
            return p_empty_hypergeom(shape, float(self.tensor_size), float(self.nnz))
        x = shape * self.density
        return np.where(np.floor(x) == 0, 1.0 - x, 0.0)

    def p_empty_given(self, shape, parent_shape, parent_k) -> np.ndarray:
        """Empty probability of a sub-tile, conditioned on the parent tile's occupancy."""
        if self.kind == "hyper":
            return p_empty_hypergeom(shape, parent_shape, parent_k)
        return p_empty_fixed(shape, parent_shape, parent_k)

    def max_occupancy(self, shape: int) -> int:
        """Occupancy at confidence 1.0 (no overbooking)."""
        if self.kind == "dense":
            return int(shape)
        if self.kind == "hyper":
            return int(min(shape, self.nnz))
        return int(math.ceil(shape * self.density - 1e-12))

    def occupancy_pmf(self, shape: int, k: np.ndarray) -> np.ndarray:
        """P(occupancy == k) of an unconstrained tile."""
        k = np.asarray(k, dtype=np.float64)
        if self.kind == "hyper":
            return hypergeom_pmf(k, self.tensor_size, self.nnz, int(shape))
        x = shape * (self.density if self.kind == "fixed" else 1.0)
        fl = math.floor(x)
        pc = x - fl
        return np.where(k == fl, 1.0 - pc, np.where(k == math.ceil(x), pc, 0.0))

    def expected_scalar_density(self) -> float:
        """Expected density of one element (compute operand), rounded as Sparseloop does."""
        if self.kind == "dense":
            return 1.0
        if self.kind == "hyper":
            value = self.nnz / self.tensor_size
        else:
            value = self.density
        return round(value * 1_000_000) / 1_000_000


@lru_cache(maxsize=65536)
def _occupancy_distribution(model: TensorDensity, shape: int) -> tuple[np.ndarray, np.ndarray]:
    if shape <= 0:
        return np.zeros(1), np.ones(1)
    if model.kind == "dense":
        return np.array([float(shape)]), np.ones(1)
    if model.kind == "fixed":
        x = shape * model.density
        fl = math.floor(x)
        pc = x - fl
        if pc <= 0:
            return np.array([float(fl)]), np.ones(1)
        return np.array([float(fl), float(fl + 1)]), np.array([1.0 - pc, pc])
    big_n, r = model.tensor_size, model.nnz
    lo = max(0, shape + r - big_n)
    hi = min(shape, r)
    mean = shape * r / big_n
    var = shape * (r / big_n) * (1 - r / big_n) * max(big_n - shape, 0) / max(big_n - 1, 1)
    sd = math.sqrt(max(var, 0.0))
    width = int(math.ceil(40 * sd)) + 2
    a = max(lo, int(math.floor(mean)) - width)
    b = min(hi, int(math.ceil(mean)) + width)
    k = np.arange(a, b + 1, dtype=np.float64)
    p = hypergeom_pmf(k, big_n, r, shape)
    keep = p > _TAIL * max(p.max(), 1e-300)
    return k[keep], p[keep]


# ---------------------------------------------------------------------------------------------
# actual data (Sparseloop ``real-data``, the MICRO'22 artifact's model; never in mainline Timeloop)


class ActualDensity:
    """A tensor's real nonzero mask as a density model: tiles are counted, not drawn.

    A tile is named by its extents in the *operation* space (one per problem dimension, the mold
    the mapping gives it): the mapping cuts every dimension into steps of that extent, and each
    step projects to a data-space box (sliding windows included, so input tiles may overlap).
    `tile_counts` counts the nonzeros of every such box with prefix sums along each rank and one
    gather; the distribution, its maximum and the empty fraction follow, cached per tile shape.

    Methods take the statistical models' arguments plus ``ext`` (the operation-space extents).
    Without ``ext`` (the batched mapper path, spatial skipping, vector-width tables) the mask's own
    nonzero count feeds the hypergeometric model. A sub-tile conditioned on its parent's occupancy
    is fixed-structured, as in the artifact's build (`p_empty_given`).
    """

    kind = "actual"
    is_dense = False

    def __init__(self, mask: np.ndarray, coef: np.ndarray, bounds: np.ndarray) -> None:
        self.coef = np.asarray(coef, dtype=np.int64)
        self.bounds = np.asarray(bounds, dtype=np.int64)
        extents = tuple(int(e) for e in 1 + self.coef @ (self.bounds - 1))
        self.tensor_size = int(np.prod(extents))
        arr = np.asarray(mask, dtype=bool)
        if arr.ndim == 1:  # a flat mask, first rank fastest: numpy's C order reversed
            arr = arr.reshape(extents[::-1]).transpose(tuple(range(len(extents) - 1, -1, -1)))
        if arr.shape != extents:
            # a problem padded to factorize (backends.analytical.pad_problem): the padding is zeros
            arr = np.pad(arr, [(0, max(e - n, 0)) for e, n in zip(extents, arr.shape)])
            arr = arr[tuple(slice(0, e) for e in extents)]
        self.array = np.ascontiguousarray(arr)
        self.nnz = int(self.array.sum())
        self.density = self.nnz / self.tensor_size if self.tensor_size else 1.0
        self.relevant = np.nonzero((self.coef != 0).any(axis=0))[0]
        self.fallback = TensorDensity("hyper", self.density, self.tensor_size, self.nnz)
        self._counts: dict[tuple[int, ...], np.ndarray] = {}
        self._dist: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._nonempty: dict[tuple[int, ...], np.ndarray] = {}

    # -- counting -------------------------------------------------------------------------------
    def _key(self, ext) -> tuple[int, ...]:
        ext = np.minimum(np.maximum(np.asarray(ext, dtype=np.int64), 1), self.bounds)
        return tuple(int(ext[d]) for d in self.relevant)

    def _window_sums(self, window, positions) -> np.ndarray:
        """Nonzeros of the data-space boxes of extents ``window`` at the given start positions.

        ``positions``: per data-space rank, an integer array (all broadcastable to the tile grid).
        Each rank is reduced to its distinct starts with one prefix sum, the rank that shrinks most
        first, so the work stays close to one pass over the mask; then one gather."""
        arr = self.array
        uniq, inverse = [], []
        for pos in positions:
            u, inv = np.unique(pos, return_inverse=True)
            uniq.append(u)
            inverse.append(inv.reshape(pos.shape))
        order = sorted(range(arr.ndim), key=lambda k: len(uniq[k]) / max(arr.shape[k], 1))
        for k in order:
            n, w, u = arr.shape[k], int(window[k]), uniq[k]
            if w == 1:
                if len(u) != n:  # else every position, in order (np.unique sorts)
                    arr = np.take(arr, u, axis=k)
                continue
            zero = np.zeros(arr.shape[:k] + (1,) + arr.shape[k + 1:], dtype=np.int32)
            c = np.concatenate([zero, np.cumsum(arr, axis=k, dtype=np.int32)], axis=k)
            arr = np.take(c, np.minimum(u + w, n), axis=k) - np.take(c, u, axis=k)
        return np.asarray(arr[tuple(inverse)], dtype=np.int32)

    def tile_counts(self, ext) -> np.ndarray:
        """Nonzeros of every tile of operation-space extents ``ext``: an array over the tile grid
        of the tensor's relevant dimensions (in dimension order). Where an extent does not divide
        its dimension the last tile is the remainder (an imperfect factorization's residual tile)."""
        key = self._key(ext)
        hit = self._counts.get(key)
        if hit is not None:
            return hit
        rel = self.relevant.tolist()
        g = np.ones(len(self.bounds), dtype=np.int64)
        g[rel] = key
        starts = [np.arange(0, int(self.bounds[d]), int(g[d])) for d in rel]
        counts = np.zeros(tuple(len(s) for s in starts), dtype=np.int32)
        partial = [j for j, d in enumerate(rel) if int(self.bounds[d]) % int(g[d])]
        for last in itertools.product((False, True), repeat=len(partial)):
            gg = g.copy()
            sel = [slice(None)] * len(rel)
            for j, is_last in zip(partial, last):
                d = rel[j]
                sel[j] = slice(-1, None) if is_last else slice(0, -1)
                if is_last:
                    gg[d] = int(self.bounds[d]) % int(g[d])
            sub = [s[k] for s, k in zip(starts, sel)]
            if any(len(x) == 0 for x in sub):
                continue
            # tile starts: every step of every relevant dimension, projected per data-space rank
            grids = np.meshgrid(*sub, indexing="ij", sparse=True)
            positions = []
            for k in range(self.coef.shape[0]):
                pos = np.zeros((1,) * len(rel), dtype=np.int64)
                for j, d in enumerate(rel):
                    if self.coef[k, d]:
                        pos = pos + grids[j] * int(self.coef[k, d])
                positions.append(pos)
            window = 1 + self.coef @ (gg - 1)
            counts[tuple(sel)] = self._window_sums(window, positions)
        counts.setflags(write=False)
        self._counts[key] = counts
        return counts

    # -- the statistical models' interface ---------------------------------------------------------
    def occupancy_distribution(self, shape: int, ext=None) -> tuple[np.ndarray, np.ndarray]:
        """Nonzero counts the mapping's tiles really hold, and the fraction of tiles holding each."""
        if ext is None:
            return self.fallback.occupancy_distribution(shape)
        key = self._key(ext)
        hit = self._dist.get(key)
        if hit is None:
            ks, freq = np.unique(self.tile_counts(ext), return_counts=True)
            hit = self._dist[key] = (ks.astype(np.float64), freq / freq.sum())
        return hit

    def p_empty(self, shape, ext=None) -> np.ndarray:
        if ext is None:
            return self.fallback.p_empty(shape)
        counts = self.tile_counts(ext)
        return np.float64(np.count_nonzero(counts == 0) / counts.size)

    def p_empty_given(self, shape, parent_shape, parent_k) -> np.ndarray:
        """Within a tile of known occupancy the artifact's build spreads the nonzeros evenly
        (fixed-structured): that reproduces its L07 weight_spad metadata exactly (2,162,222 reads),
        where counting the mask's empty fibers gives 4.8 % fewer and hypergeometric 0.5 % fewer."""
        return p_empty_fixed(shape, parent_shape, parent_k)

    def max_occupancy(self, shape: int, ext=None) -> int:
        if ext is None:
            return self.fallback.max_occupancy(shape)
        return int(self.tile_counts(ext).max(initial=0))

    def occupancy_pmf(self, shape: int, k: np.ndarray) -> np.ndarray:
        return self.fallback.occupancy_pmf(shape, k)

    def expected_scalar_density(self) -> float:
        return round(self.density * 1_000_000) / 1_000_000

    def nonempty(self, ext) -> np.ndarray:
        """Whether each tile of extents ``ext`` holds a nonzero (grid over relevant dimensions)."""
        key = self._key(ext)
        hit = self._nonempty.get(key)
        if hit is None:
            hit = self._nonempty[key] = self.tile_counts(ext) > 0
        return hit


def build_density(ds, problem):
    """The density model of one data space of a ProblemModel (actual data when it has a mask)."""
    spec = ds.density
    if spec.mask is not None and not spec.is_dense:
        return ActualDensity(spec.mask, ds.coef, problem.bounds)
    return TensorDensity.build(spec, ds.size)


def joint_count(terms, bounds) -> float:
    """Operation-space points at which every term's tile holds a nonzero.

    ``terms``: (ActualDensity, operation-space tile extents). Tiles of different extents on one
    dimension are brought to the finer grid (the coarse extent must be a multiple of the fine one;
    otherwise None). Each grid cell weighs the points it covers, so the count is exact.
    """
    bounds = np.asarray(bounds, dtype=np.int64)
    n_dims = len(bounds)
    fine = np.array(bounds, dtype=np.int64)
    exts = []
    for model, ext in terms:
        e = np.ones(n_dims, dtype=np.int64)
        key = model._key(ext)
        e[model.relevant] = key
        exts.append(e)
        fine[model.relevant] = np.minimum(fine[model.relevant], e[model.relevant])
    used = sorted({int(d) for model, _ in terms for d in model.relevant})
    letters = {d: chr(ord("a") + i) for i, d in enumerate(used)}
    owners = {d: sum(int(d) in model.relevant.tolist() for model, _ in terms) for d in used}
    cells = {}  # per dimension: points covered by each cell of the fine grid
    for d in used:
        starts = np.arange(-(-int(bounds[d]) // int(fine[d]))) * int(fine[d])
        cells[d] = np.minimum(int(fine[d]), int(bounds[d]) - starts)
    operands, subs = [], []
    for (model, ext), e in zip(terms, exts):
        grid = model.nonempty(ext)
        keep = []
        for axis, d in reversed(list(enumerate(model.relevant.tolist()))):
            step = int(e[d])
            if step != fine[d]:
                if step % fine[d]:
                    return None
                grid = np.repeat(grid, step // int(fine[d]), axis=axis)
            n_fine = len(cells[d])
            if grid.shape[axis] != n_fine:
                grid = np.take(grid, np.arange(n_fine), axis=axis)
            if owners[d] == 1:  # this term's own dimension: weigh and sum it out at once
                if (cells[d] == cells[d][0]).all():
                    if grid.dtype == bool:
                        grid = np.count_nonzero(grid, axis=axis).astype(np.int64) * int(cells[d][0])
                    else:
                        grid = grid.sum(axis=axis) * int(cells[d][0])
                else:
                    weights = cells[d].astype(np.float64)
                    grid = np.tensordot(grid.astype(np.float64), weights, axes=([axis], [0]))
            else:
                keep.insert(0, d)
        operands.append(np.asarray(grid, dtype=np.float64))
        subs.append("".join(letters[d] for d in keep))
    for d in used:
        if owners[d] > 1:
            operands.append(cells[d].astype(np.float64))
            subs.append(letters[d])
    total = float(np.einsum(",".join(subs) + "->", *operands, optimize=True))
    for d in range(n_dims):
        if d not in letters:
            total *= float(bounds[d])
    return total
