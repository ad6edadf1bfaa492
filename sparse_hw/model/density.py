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

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import gammaln

from .problem import DensitySpec

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


@dataclass(frozen=True)
class TensorDensity:
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
