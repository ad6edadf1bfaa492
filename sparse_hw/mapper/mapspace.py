"""The constrained mapspace as integer arrays.

A candidate is one factorization index per problem dimension (each dimension's bound split over
its free temporal/spatial slots, all ordered factorizations enumerated once, within the ``<=`` /
``>=`` factor bounds), plus a loop order per level, the X/Y side of free spatial loops and the
keep/bypass choice: Timeloop's uber mapspace (NVlabs/timeloop v3.0.3 `src/mapspaces/uber.cpp`:
index-factorization, loop-permutation, spatial-split and datatype-bypass sub-spaces). Tilings are
streamed — a depth-first cartesian join, dimension by dimension, in bounded pieces, that drops
partial candidates whose spatial fan-out or dense tile size already cannot fit — or sampled, then
crossed with the other sub-spaces (`MapSpace.expand`) and turned into `MappingBatch` chunks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import msgspec
import numpy as np

from ..errors import MappingError
from ..model.arch import ArchModel
from ..model.density import TensorDensity
from ..model.mapping import MappingBatch
from ..model.problem import _LOOP_MIN_ELEMENTS, ProblemModel
from ..model.spatial_skip import uses_spatial_skipping
from ..model.unique_rows import unique_rows
from .constraints import Rules


def prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


def count_factorizations(n: int, k: int) -> int:
    """Number of ordered k-tuples of positive integers with product n."""
    if k == 0:
        return 1 if n == 1 else 0
    total = 1
    for p in set(prime_factors(n)):
        a = prime_factors(n).count(p)
        total *= math.comb(a + k - 1, k - 1)
    return total


@lru_cache(maxsize=4096)
def factorizations(n: int, k: int) -> np.ndarray:
    """All ordered factorizations of n into k factors, as an int64 array [count, k]."""
    if k == 0:
        return np.zeros((1 if n == 1 else 0, 0), dtype=np.int64)
    if k == 1:
        return np.array([[n]], dtype=np.int64)
    rows = []
    for v in range(1, n + 1):
        if n % v == 0:
            rest = factorizations(n // v, k - 1)
            rows.append(np.concatenate([np.full((rest.shape[0], 1), v, dtype=np.int64), rest], axis=1))
    return np.concatenate(rows, axis=0)


def problems_dim(problem: ProblemModel, d: int) -> str:
    return f"{problem.dims[d]}={int(problem.bounds[d])}"


def sample_factorization(n: int, k: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """Uniform-over-prime-assignments random factorizations (for dims too large to enumerate)."""
    out = np.ones((size, k), dtype=np.int64)
    for p in prime_factors(n):
        slot = rng.integers(0, k, size=size)
        out[np.arange(size), slot] *= p
    return out


class DimSlots(msgspec.Struct):
    """Where one dimension's factors can go."""

    dim: int
    bound: int
    fixed_t: dict[int, int]
    fixed_s: dict[int, int]
    free: list[tuple[int, str]]  # (level, "T" | "S")
    residual: int
    table: np.ndarray | None = None  # [F, len(free)] all factorizations (None: sample)
    limits: list[tuple[int, int]] = msgspec.field(default_factory=list)  # (min, max) per free slot

    @property
    def count(self) -> int:
        if self.table is not None:
            return int(self.table.shape[0])
        return count_factorizations(self.residual, len(self.free))

    def rows_ok(self, rows: np.ndarray) -> np.ndarray:
        """Rows [n, free] whose factors respect the ``<=`` / ``>=`` factor constraints."""
        ok = np.ones(rows.shape[0], dtype=bool)
        for j, (lo, hi) in enumerate(self.limits):
            ok &= (rows[:, j] >= lo) & (rows[:, j] <= hi)
        return ok


@lru_cache(maxsize=32)
def _orders(k: int) -> np.ndarray:
    """Every order of k loops, [k!, k] (built once per k: `_expand` asks per candidate group). Read-only."""
    out = np.array(list(itertools.permutations(range(k))), dtype=np.int64).reshape(math.factorial(k), k)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=32)
def _sides(m: int) -> np.ndarray:
    """Every X (1) / Y (0) assignment of m spatial loops, [2**m, m], built once per m. Read-only."""
    out = ((np.arange(1 << m)[:, None] >> np.arange(m)[None, :]) & 1).astype(np.int64)
    out.flags.writeable = False
    return out


@dataclass
class MapSpace:
    """The constrained mapspace of one (problem, architecture)."""

    problem: ProblemModel
    arch: ArchModel
    rules: Rules
    dims: list[DimSlots] = field(default_factory=list)
    keep_fixed: np.ndarray | None = None  # [L, T] 1 keep, 0 bypass, -1 free
    spatial_levels: list[int] = field(default_factory=list)
    axis: np.ndarray | None = None  # [L, D] 1 X, 0 Y, -1 free
    enumeration_limit: int = 2_000_000

    @classmethod
    def build(cls, problem: ProblemModel, arch: ArchModel, rules: Rules) -> MapSpace:
        space = cls(problem, arch, rules)
        n_lv = arch.n_levels
        n_dims = problem.n_dims
        space.spatial_levels = [l for l in range(n_lv) if np.prod(arch.fanout(l)) > 1]
        for l, r in enumerate(rules.levels):
            if l not in space.spatial_levels and any(v > 1 for v in r.s_fixed.values()):
                raise MappingError(
                    f"a spatial factor > 1 is fixed at {arch.storage[l].name}, which has no spatial fan-out",
                    key_path="constraints",
                    fix="remove the spatial constraint or give the level's children more instances",
                )
        problems = []
        for d in range(n_dims):
            bound = int(problem.bounds[d])
            ft = {l: r.t_fixed[d] for l, r in enumerate(rules.levels) if d in r.t_fixed}
            fs = {l: r.s_fixed[d] for l, r in enumerate(rules.levels) if d in r.s_fixed}
            fixed_prod = math.prod(ft.values()) * math.prod(fs.values())
            free = [(l, "T") for l in range(n_lv) if l not in ft]
            free += [(l, "S") for l in space.spatial_levels if l not in fs]
            if bound % fixed_prod != 0:
                problems.append(
                    f"{problem.dims[d]}={bound}: the constraints fix factors multiplying to {fixed_prod}, "
                    f"which does not divide it"
                )
                continue
            residual = bound // fixed_prod
            if residual > 1 and not free:
                problems.append(
                    f"{problem.dims[d]}={bound}: every level's factor of {problem.dims[d]} is fixed by the constraints "
                    f"and they multiply to {fixed_prod}"
                )
                continue
            slots = DimSlots(d, bound, ft, fs, free, residual)
            big = 1 << 62
            slots.limits = [
                (rules.levels[l].t_min.get(d, 1), rules.levels[l].t_max.get(d, big)) if kind == "T"
                else (rules.levels[l].s_min.get(d, 1), rules.levels[l].s_max.get(d, big))
                for l, kind in free
            ]
            if slots.count <= 400_000:
                table = factorizations(residual, len(free))
                slots.table = table[slots.rows_ok(table)]
                if slots.table.shape[0] == 0:
                    problems.append(
                        f"{problems_dim(problem, d)}: no factorization of {residual} over the free loops "
                        "respects the <= / >= factor constraints"
                    )
                    continue
            space.dims.append(slots)
        if problems:
            raise MappingError(
                "the constraints leave no valid factorization: " + "; ".join(problems),
                key_path="constraints",
                fix="change the factor constraints (a factor of 0 means the whole dimension), or pad the problem "
                "dimension (`--pad`) so that it factors",
            )
        keep = np.full((n_lv, len(problem.dataspaces)), -1, dtype=np.int64)
        for l, r in enumerate(rules.levels):
            for t in r.keep:
                keep[l, t] = 1
            for t in r.bypass:
                keep[l, t] = 0
        keep[n_lv - 1, :] = 1
        space.keep_fixed = keep
        axis = np.full((n_lv, n_dims), -1, dtype=np.int64)
        for l in space.spatial_levels:
            r = rules.levels[l]
            fx, fy = arch.fanout(l)
            order = r.s_prefix + [d for d in range(n_dims) if d not in r.s_prefix and d not in r.s_suffix] + r.s_suffix
            if r.split is not None and (r.s_prefix or r.s_suffix) and len(r.s_prefix) + len(r.s_suffix) >= n_dims:
                for pos, d in enumerate(order):
                    axis[l, d] = 1 if pos < r.split else 0
            elif fy == 1:
                axis[l, :] = 1
            elif fx == 1:
                axis[l, :] = 0
            elif r.split is not None:
                for pos, d in enumerate(r.s_prefix):
                    axis[l, d] = 1 if pos < r.split else 0
        space.axis = axis
        return space

    # ------------------------------------------------------------------ sizes
    @property
    def size_upper_bound(self) -> int:
        total = 1
        for s in self.dims:
            total *= max(1, s.count)
        return total * self.free_keep_choices

    @property
    def free_keep_choices(self) -> int:
        return 2 ** int((self.keep_fixed < 0).sum())

    def describe(self) -> str:
        parts = [f"{self.problem.dims[s.dim]}:{s.count}" for s in self.dims]
        return " x ".join(parts)

    # ------------------------------------------------------------------ per-dim tables
    def _dim_arrays(self, s: DimSlots, rows: np.ndarray):
        """Temporal and spatial factor arrays [n, L] of one dim for factorization rows [n, free]."""
        n = rows.shape[0]
        n_lv = self.arch.n_levels
        t = np.ones((n, n_lv), dtype=np.int64)
        sp = np.ones((n, n_lv), dtype=np.int64)
        for l, v in s.fixed_t.items():
            t[:, l] = v
        for l, v in s.fixed_s.items():
            sp[:, l] = v
        for j, (l, kind) in enumerate(s.free):
            if kind == "T":
                t[:, l] = rows[:, j]
            else:
                sp[:, l] = rows[:, j]
        return t, sp

    # ------------------------------------------------------------------ pruning
    def _tables(self):
        """Per dim: cumulative extents [F, L], spatial products per spatial level (X, Y, total)."""
        if getattr(self, "_cached_tables", None) is not None:
            return self._cached_tables
        tables = []
        for s in self.dims:
            t, sp = self._dim_arrays(s, s.table)
            cum = np.cumprod(t * sp, axis=1)
            sx = np.ones((t.shape[0], len(self.spatial_levels)), dtype=np.int64)
            sy = np.ones_like(sx)
            st = np.ones_like(sx)
            for j, l in enumerate(self.spatial_levels):
                ax = self.axis[l, s.dim]
                if ax == 1:
                    sx[:, j] = sp[:, l]
                elif ax == 0:
                    sy[:, j] = sp[:, l]
                st[:, j] = sp[:, l]
            tables.append((cum, sx, sy, st))
        self._cached_tables = tables
        self._densities = [TensorDensity.build(ds.density, ds.size) for ds in self.problem.dataspaces]
        return tables

    def _capacity_need(self, l: int, ext: np.ndarray) -> np.ndarray:
        """Dense (or compressed, at confidence 1) words a level must hold, from dim extents [n, D]."""
        plan = self._capacity_plans().get(l, ())
        if plan and ext.size < _LOOP_MIN_ELEMENTS:  # few rows: one matmul for every data space held here
            coef, cuts = self._capacity_stacks()[l]
            every = 1 + (ext - 1) @ coef.T  # the same integers as each data space's own `tile_size`
            sizes = [np.multiply.reduce(every[:, a:b], axis=-1) for a, b in cuts]
        else:
            sizes = [ds.tile_size(ext) for ds, _, _ in plan]
        need = None
        for (ds, kind, value), size in zip(plan, sizes):
            size = size.astype(np.float64)
            if kind == "fixed":
                size = np.ceil(size * value - 1e-12)
            elif kind == "hyper":
                size = np.minimum(size, value)
            need = size if need is None else need + size  # 0 + a + b + ...: the same sums as from zeros
        return np.zeros(ext.shape[0]) if need is None else need

    def _capacity_stacks(self) -> dict[int, tuple[np.ndarray, list[tuple[int, int]]]]:
        """Per level, the held data spaces' projection matrices stacked, and each one's rows in it."""
        stacks = getattr(self, "_cached_capacity_stacks", None)
        if stacks is None:
            stacks = {}
            for l, plan in self._capacity_plans().items():
                cuts, at = [], 0
                for ds, _, _ in plan:
                    cuts.append((at, at + ds.coef.shape[0]))
                    at += ds.coef.shape[0]
                coef = np.concatenate([ds.coef for ds, _, _ in plan]) if plan else np.zeros((0, self.problem.n_dims))
                stacks[l] = (coef.astype(np.int64), cuts)
            self._cached_capacity_stacks = stacks
        return stacks

    def _capacity_plans(self) -> dict[int, list[tuple]]:
        """Per level, (data space, compressed-size rule, its parameter) of each data space it must hold:
        decided once per mapspace, not per capacity check (thousands of them per search)."""
        plans = getattr(self, "_cached_capacity_plans", None)
        if plans is None:
            self._tables()  # sets self._densities
            plans = {}
            for l, lv in enumerate(self.arch.storage):
                rows = []
                for ti, ds in enumerate(self.problem.dataspaces):
                    if self.keep_fixed[l, ti] != 1:
                        continue
                    kind, value = None, None
                    if ds.name in lv.formats:
                        dens = self._densities[ti]
                        kind = dens.kind
                        value = dens.density if kind == "fixed" else dens.nnz
                    rows.append((ds, kind, value))
                plans[l] = rows
            self._cached_capacity_plans = plans
        return plans

    def _fan_limits(self, l: int) -> tuple[float, float]:
        """The X/Y fan-out a spatial level's loops must fit; unbounded under spatial skipping.

        With a ``skipping-spatial`` optimization Timeloop's mapper drops its dense fan-out filter and
        the sparse analysis checks the reduced expansions (see `model.cost.check_fit`), so the
        mapspace may not prune on the dense fan-out either (the STC designs map K=32 on 16 lanes).
        """
        if uses_spatial_skipping(self.arch):
            return math.inf, math.inf
        return self.arch.fanout(l)

    def _fanout_ok(self, sx, sy, st) -> np.ndarray:
        ok = np.ones(sx.shape[0], dtype=bool)
        for j, l in enumerate(self.spatial_levels):
            fx, fy = self._fan_limits(l)
            ok &= (sx[:, j] <= fx) & (sy[:, j] <= fy) & (st[:, j] <= fx * fy)
        return ok

    def _parallelism(self, st: np.ndarray) -> np.ndarray:
        """Timeloop's cumulative fan-out utilization of each row of per-spatial-level products ``st``:
        the product over spatial levels of used / fan-out (`Uber::AssignSpatialTilingDirections_Level_Expand`),
        against which a ``utilization`` constraint's ``min`` is checked."""
        out = np.ones(st.shape[0], dtype=np.float64)
        for j, l in enumerate(self.spatial_levels):
            out *= st[:, j] / float(np.prod(self.arch.fanout(l)))
        return out

    def _partial_ok(self, t_arr, s_arr, assigned: list[int]):
        """Spatial fan-out and capacity checks on full factor arrays [n, L, D]."""
        n = t_arr.shape[0]
        ok = np.ones(n, dtype=bool)
        reasons: dict[str, np.ndarray] = {}
        totals = []  # each spatial level's spatial product, for the minimum parallelism too
        for l in self.spatial_levels:
            fx, fy = self._fan_limits(l)
            ax = self.axis[l]
            sx = np.prod(np.where(ax[None, :] == 1, s_arr[:, l, :], 1), axis=1)
            sy = np.prod(np.where(ax[None, :] == 0, s_arr[:, l, :], 1), axis=1)
            tot = np.prod(s_arr[:, l, :], axis=1)
            totals.append(tot)
            bad = (sx > fx) | (sy > fy) | (tot > fx * fy)
            if bad.any():
                reasons[f"fanout:{l}"] = bad
            ok &= ~bad
        if self.rules.min_parallelism > 0 and totals:
            bad = self._parallelism(np.stack(totals, axis=1)) < self.rules.min_parallelism
            if bad.any():
                reasons["parallelism"] = bad
            ok &= ~bad
        self._tables()
        e_tile = np.cumprod(t_arr * s_arr, axis=1)
        for l, lv in enumerate(self.arch.storage):
            if lv.effective_size is None:
                continue
            bad = self._capacity_need(l, e_tile[:, l, :]) > lv.effective_size
            if bad.any():
                reasons[f"capacity:{l}"] = bad
            ok &= ~bad
        return ok, reasons

    # ------------------------------------------------------------------ enumeration
    def spatial_configs(self) -> tuple[np.ndarray, np.ndarray, list[list[np.ndarray]]]:
        """Distinct spatial assignments that fit every fan-out.

        Returns (configs [n, dims] group ids, total spatial product [n], groups) where
        ``groups[j][g]`` lists the factorization rows of dim j with spatial group g.
        """
        tables = self._tables()
        groups: list[list[np.ndarray]] = []
        keys: list[np.ndarray] = []
        for j, s in enumerate(self.dims):
            cum, tx, ty, tt = tables[j]
            spatial_cols = np.concatenate([tx, ty, tt], axis=1)
            first, inverse = unique_rows(spatial_cols)
            uniq = spatial_cols[first]
            groups.append([np.nonzero(inverse == g)[0] for g in range(uniq.shape[0])])
            keys.append(uniq)
        nsl = len(self.spatial_levels)
        cfg = np.zeros((1, 0), dtype=np.int64)
        sx = np.ones((1, nsl), dtype=np.int64)
        sy = np.ones((1, nsl), dtype=np.int64)
        st = np.ones((1, nsl), dtype=np.int64)
        for j in range(len(self.dims)):
            u = keys[j]
            g = u.shape[0]
            rep = np.repeat(np.arange(cfg.shape[0]), g)
            gi = np.tile(np.arange(g), cfg.shape[0])
            nx = sx[rep] * u[gi, :nsl]
            ny = sy[rep] * u[gi, nsl : 2 * nsl]
            nt = st[rep] * u[gi, 2 * nsl :]
            ok = self._fanout_ok(nx, ny, nt)
            cfg = np.concatenate([cfg[rep][ok], gi[ok][:, None]], axis=1)
            sx, sy, st = nx[ok], ny[ok], nt[ok]
        if self.rules.min_parallelism > 0 and nsl:
            ok = self._parallelism(st) >= self.rules.min_parallelism
            cfg, sx, sy, st = cfg[ok], sx[ok], sy[ok], st[ok]
        product = np.prod(st, axis=1) if nsl else np.ones(cfg.shape[0], dtype=np.int64)
        return cfg, product, groups

    def _join_checks(self) -> dict[int, list[tuple[int, int]]]:
        """Per dim slot j, the (level, capacity) checks a join step on it needs: the levels with a
        capacity that hold a data space the dim projects onto. The same for every spatial configuration,
        so built once (`iter_config` runs once per configuration)."""
        checks = getattr(self, "_cached_join_checks", None)
        if checks is None:
            caps = [(l, lv.effective_size) for l, lv in enumerate(self.arch.storage) if lv.effective_size is not None]
            relevant = [ds.relevant() for ds in self.problem.dataspaces]
            checks = {
                j: [(l, cap) for l, cap in caps
                    if any(self.keep_fixed[l, ti] == 1 and relevant[ti][self.dims[j].dim] for ti in range(len(relevant)))]
                for j in range(len(self.dims))
            }
            self._cached_join_checks = checks
        return checks

    def iter_config(self, row_sets: list[np.ndarray], block: int = 32768,
                    diag: dict | None = None) -> Iterator[np.ndarray]:
        """Every factorization-index tuple built from the given rows of each dim that fits every capacity.

        A cartesian join, dimension by dimension, dropping partial candidates whose tile size
        (unassigned dims = 1, a lower bound) already cannot fit. Depth-first in pieces of at most
        ``block`` partial candidates, so memory stays bounded whatever the size of the space; yields
        blocks of at most ``block`` rows. When nothing fits, ``diag["empty_at"]`` says why.
        """
        n_lv, n_dims = self.arch.n_levels, self.problem.n_dims
        tables = self._tables()
        order = sorted(range(len(self.dims)), key=lambda j: len(row_sets[j]))
        checks = self._join_checks()
        found = 0
        last_fail: list = []

        def join(idx: np.ndarray, ext: np.ndarray, k: int) -> Iterator[np.ndarray]:
            nonlocal found
            if k == len(order):
                found += idx.shape[0]
                yield idx
                return
            j = order[k]
            dim = self.dims[j].dim
            rows_all = row_sets[j]
            cum_all = tables[j][0][rows_all].astype(np.int32)
            fstep = max(1, min(rows_all.shape[0], block))
            pstep = max(1, block // fstep)
            for a in range(0, idx.shape[0], pstep):
                pidx, pext = idx[a : a + pstep], ext[a : a + pstep]
                for b in range(0, rows_all.shape[0], fstep):
                    rows, cum = rows_all[b : b + fstep], cum_all[b : b + fstep]
                    f = rows.shape[0]
                    rep = np.repeat(np.arange(pidx.shape[0]), f)
                    fi = np.broadcast_to(np.arange(f), (pidx.shape[0], f)).reshape(-1)  # np.tile, cheaper
                    new_ext = pext[rep]
                    new_ext[:, :, dim] = cum[fi]
                    ok = np.ones(rep.shape[0], dtype=bool)
                    why: dict[str, np.ndarray] = {}
                    for l, cap in checks[j]:
                        bad = self._capacity_need(l, new_ext[:, l, :]) > cap
                        if bad.any():
                            why[f"capacity:{l}"] = bad
                        ok &= ~bad
                    if not ok.any():
                        last_fail[:] = [why, new_ext]
                        continue
                    new_idx = pidx[rep[ok]]
                    new_idx[:, j] = rows[fi[ok]]
                    yield from join(new_idx, new_ext[ok], k + 1)

        start_idx = np.zeros((1, len(self.dims)), dtype=np.int64)
        start_ext = np.ones((1, n_lv, n_dims), dtype=np.int32)
        yield from join(start_idx, start_ext, 0)
        if not found and diag is not None and last_fail:
            diag["empty_at"] = self._explain(*last_fail)

    def enumerate_indices(self, limit: int | None = None) -> tuple[np.ndarray | None, dict]:
        """Every candidate of the mapspace (all spatial configurations), or None if more than ``limit``."""
        limit = limit or self.enumeration_limit
        if any(s.table is None for s in self.dims):
            return None, {}
        cfg, _, groups = self.spatial_configs()
        if cfg.shape[0] == 0:
            return np.zeros((0, len(self.dims)), dtype=np.int64), {"empty_at": self._fanout_message()}
        parts, total, diag = [], 0, {"empty_at": None}
        for c in cfg:
            for idx in self.iter_config([groups[j][g] for j, g in enumerate(c)], diag=diag):
                parts.append(idx)
                total += idx.shape[0]
                if total > limit:
                    return None, diag
        if not parts:
            return np.zeros((0, len(self.dims)), dtype=np.int64), diag
        return np.concatenate(parts), {"empty_at": None}

    def _fanout_message(self) -> list[str]:
        fx = {self.arch.storage[l].name: self.arch.fanout(l) for l in self.spatial_levels}
        if self.rules.min_parallelism > 0:
            return [
                (f"no spatial assignment that fits the fan-outs (X, Y) {fx} reaches the utilization constraint's "
                 f"minimum parallelism {self.rules.min_parallelism:g} (spatial factors used / fan-out, multiplied "
                 "over the spatial levels). Relax: lower `min`, or the spatial factors the constraints fix.")
            ]
        return [
            f"the spatial factors the constraints fix cannot fit the fan-outs (X, Y) {fx}. Relax: reduce those "
            "spatial factors or move them to temporal loops."
        ]

    def _explain(self, why: dict[str, np.ndarray], ext: np.ndarray) -> list[str]:
        """One sentence per limit that removed the last candidates: what is needed versus available."""
        msgs = []
        for key in why:
            if ":" not in key:  # not a level's limit (the minimum parallelism: `_fanout_message`)
                continue
            l = int(key.split(":")[1])
            lv = self.arch.storage[l]
            need = self._capacity_need(l, ext[:, l, :])
            kept = [ds.name for ti, ds in enumerate(self.problem.dataspaces) if self.keep_fixed[l, ti] == 1]
            msgs.append(
                f"{lv.name} holds {lv.effective_size} words but the smallest tile of {', '.join(kept)} any mapping "
                f"can place there needs {int(need.min())} words ({self.rules.describe_fixed(self.arch, self.problem, l)}). "
                f"Relax: enlarge {lv.name}, bypass a data space there, or loosen the factor constraints at or below it."
            )
        return msgs

    def spatial_products(self, idx: np.ndarray) -> np.ndarray:
        """Total spatial fan-out used by each candidate (for the delay lower bound)."""
        tables = self._tables()
        out = np.ones(idx.shape[0], dtype=np.int64)
        for j, (cum, tx, ty, tt) in enumerate(tables):
            out *= np.prod(tt, axis=1)[idx[:, j]]
        return out

    def sample_indices(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Random factorization indices (dims with enumerated tables) — uniform per dim."""
        cols = []
        for s in self.dims:
            if s.table is not None:
                cols.append(rng.integers(0, s.table.shape[0], size=n))
            else:
                cols.append(np.full(n, -1, dtype=np.int64))
        return np.stack(cols, axis=1) if cols else np.zeros((n, 0), dtype=np.int64)

    def _table_arrays(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """`_dim_arrays` of dim slot j's whole factorization table, built once."""
        cache = self.__dict__.setdefault("_cached_table_arrays", {})
        if j not in cache:
            cache[j] = self._dim_arrays(self.dims[j], self.dims[j].table)
        return cache[j]

    def factor_arrays(self, idx: np.ndarray, rng: np.random.Generator | None = None):
        """Temporal and spatial factor arrays [n, L, D] of factorization-index rows."""
        n = idx.shape[0]
        n_lv, n_dims = self.arch.n_levels, self.problem.n_dims
        t_arr = np.ones((n, n_lv, n_dims), dtype=np.int64)
        s_arr = np.ones((n, n_lv, n_dims), dtype=np.int64)
        for j, slots in enumerate(self.dims):
            if slots.table is not None:  # rows of the whole table's arrays (`_dim_arrays` is row by row)
                dt, ds_ = self._table_arrays(j)
                dt, ds_ = dt[idx[:, j]], ds_[idx[:, j]]
            else:
                rows = sample_factorization(slots.residual, len(slots.free), rng or np.random.default_rng(0), n)
                dt, ds_ = self._dim_arrays(slots, rows)
            t_arr[:, :, slots.dim] = dt
            s_arr[:, :, slots.dim] = ds_
        return t_arr, s_arr

    # ------------------------------------------------------------------ batch building
    def build_batch(self, t_arr: np.ndarray, s_arr: np.ndarray, rng: np.random.Generator,
                    perm: np.ndarray | None = None, xs: np.ndarray | None = None,
                    keep: np.ndarray | None = None) -> MappingBatch:
        """Complete factor arrays with loop orders, X/Y sides and keep choices.

        ``perm`` rows whose first entry is -1, ``xs`` entries of -1 and a missing ``keep`` are drawn
        here: random loop orders, greedy X-first sides, random free keep bits.
        """
        n, n_lv, n_dims = t_arr.shape
        if keep is None:
            keep = np.broadcast_to(self.keep_fixed, (n, *self.keep_fixed.shape))
        keep = np.asarray(keep)
        given = perm[:, 0, 0] >= 0 if perm is not None else None
        if given is not None and given.all() and (keep.dtype == bool or not (keep < 0).any()):
            # every loop order and keep bit is given: nothing is drawn, so the draws below (whose values
            # would all be overwritten) are skipped -- and with them numpy.random's import and the sorts
            drawn = np.array(perm, dtype=np.int64)
        else:
            drawn = np.empty((n, n_lv, n_dims), dtype=np.int64)
            for l, r in enumerate(self.rules.levels):
                drawn[:, l, :] = self._permutations(t_arr[:, l, :], r.t_prefix, r.t_suffix, rng)
            if given is not None:
                drawn[given] = perm[given]
        sperm = np.tile(np.arange(n_dims, dtype=np.int64), (n, n_lv, 1))
        split = np.full((n, n_lv), n_dims, dtype=np.int64)
        for l in self.spatial_levels:
            side = self._axis_assign(l, s_arr[:, l, :])  # [n, D] bool
            if xs is not None:
                side = np.where(xs[:, l, :] >= 0, xs[:, l, :] == 1, side)
            # spatial permutation: X dims first (in dim order), then Y dims
            key = np.where(side, 0, 1) * (n_dims + 1) + np.arange(n_dims)[None, :]
            sperm[:, l, :] = np.argsort(key, axis=1, kind="stable")
            split[:, l] = side.sum(axis=1)
        if keep.dtype != bool and (keep < 0).any():
            keep = np.where(keep >= 0, keep == 1, rng.random(keep.shape) < 0.5)
        elif keep.dtype != bool:  # no free bit: the batch's last draw is skipped, none of it would be used
            keep = keep == 1
        return MappingBatch(t_arr, s_arr, drawn, sperm, split, keep)

    # ------------------------------------------------------------------ sub-spaces beyond the factors
    def keep_options(self, cap: int | None = None) -> np.ndarray:
        """Keep/bypass choices [K, L, T]: every combination of the bits the constraints leave free.

        Timeloop's datatype-bypass sub-space (NVlabs/timeloop v3.0.3 `src/mapspaces/uber.cpp`,
        `Uber::InitDatatypeBypassNestSpace`): per data space and storage level, '0'/'1' where a
        `keep`/`bypass` constraint says so, both choices ('X') elsewhere, except the outermost
        level, which always keeps. 1 keep, 0 bypass; with ``cap`` and more than ``cap``
        combinations: "keep everything free" and ``cap - 1`` rows of -1, whose bits `build_batch`
        draws at random for each candidate.
        """
        free = np.argwhere(self.keep_fixed < 0)
        k = free.shape[0]
        if cap is None or (1 << k) <= cap:
            bits = ((np.arange(1 << k)[:, None] >> np.arange(k)[None, :]) & 1).astype(np.int64)
            bits = bits[::-1]  # all-kept first
        else:
            bits = np.full((cap, k), -1, dtype=np.int64)  # drawn per candidate in `build_batch`
            bits[0] = 1
        out = np.broadcast_to(self.keep_fixed, (bits.shape[0], *self.keep_fixed.shape)).copy()
        out[:, free[:, 0], free[:, 1]] = bits
        return out

    def _canonical_missing(self, t_arr: np.ndarray) -> np.ndarray:
        """bool [n]: the innermost level's canonical loop order is not among the constrained ones.

        Timeloop ignores a permutation constraint at the innermost tiling level and uses the
        canonical order (dimension 0 innermost) there (NVlabs/timeloop v3.0.3
        `src/mapspaces/uber.cpp`, `Uber::InitLoopPermutationSpace`: use_canonical_permutation =
        (level == 0)), so its mapspace holds that order too. It is among the constrained orders iff
        prefix, sorted free loops and suffix (non-unit loops only) are in ascending dimension order.
        """
        n, _, n_dims = t_arr.shape
        r = self.rules.levels[0]
        if 0 in self.spatial_levels or not (r.t_prefix or r.t_suffix):
            return np.zeros(n, dtype=bool)
        big = n_dims + 1
        rank = np.array([big + d for d in range(n_dims)], dtype=np.int64)
        for pos, d in enumerate(r.t_prefix):
            rank[d] = pos
        for pos, d in enumerate(r.t_suffix):
            rank[d] = 2 * big + pos
        nonunit = t_arr[:, 0, :] > 1
        key = np.where(nonunit, rank[None, :], 3 * big)
        seq = np.argsort(key, axis=1, kind="stable")
        cnt = nonunit.sum(axis=1)
        pair = np.arange(n_dims - 1)[None, :] < (cnt - 1)[:, None]
        return (pair & (np.diff(seq, axis=1) <= 0)).any(axis=1)

    @staticmethod
    def _moving_first(mask: np.ndarray, dims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: how many ``dims`` are set in ``mask``, and ``dims`` with those first (each part in order)."""
        if dims.size == 0:
            return np.zeros(mask.shape[0], dtype=np.int64), np.zeros((mask.shape[0], 0), dtype=np.int64)
        order = np.argsort(~mask, axis=1, kind="stable")
        return mask.sum(axis=1), dims[order]

    def expand(self, t_arr: np.ndarray, s_arr: np.ndarray, keeps: np.ndarray, *, all_orders: bool,
               max_orders: int, all_sides: bool, chunk: int, ordered: bool = False) -> Iterator[tuple[np.ndarray, ...]]:
        """Candidates x loop orders x X/Y sides x keep choices, in pieces of at most ``chunk`` rows.

        Yields (temporal, spatial, perm, xs, keep). Loop orders per level: unit loops first (their
        place changes nothing), the constraint's prefix, the free non-unit loops in every order,
        its suffix (`PermutationSpace::InitLevel`) — all of them when ``all_orders`` or when a
        candidate has at most ``max_orders``, else ``max_orders`` random ones (perm rows of -1,
        drawn in `build_batch`). X/Y sides: with ``all_sides``, every partition of the non-unit
        spatial loops whose axis the constraints leave free that fits the fan-out (Timeloop's
        spatial-split sub-space, `Uber::InitSpatialSpace`); else the greedy X-first fit (xs = -1).
        Candidates are grouped by their loop counts, so each group's options are built once;
        ``ordered`` puts the rows back in candidate order (all of them are held: pass few candidates).
        """
        if ordered:
            pieces = list(self._expand(t_arr, s_arr, keeps, all_orders, max_orders, all_sides, chunk))
            if not pieces:
                return
            cand = np.concatenate([p[0] for p in pieces])
            order = np.argsort(cand, kind="stable")
            arrays = [np.concatenate([p[i] for p in pieces])[order] for i in range(1, 6)]
            for start in range(0, order.shape[0], chunk):
                yield tuple(a[start : start + chunk] for a in arrays)
            return
        for piece in self._expand(t_arr, s_arr, keeps, all_orders, max_orders, all_sides, chunk):
            yield piece[1:]

    def _expand(self, t_arr, s_arr, keeps, all_orders, max_orders, all_sides, chunk):
        """`expand`'s rows as (candidate index, temporal, spatial, perm, xs, keep), group by group."""
        n, n_lv, n_dims = t_arr.shape
        if n == 0:
            return
        rules = self.rules.levels
        levels = []
        for l, r in enumerate(rules):
            fixed = set(r.t_prefix) | set(r.t_suffix)
            free = np.array([d for d in range(n_dims) if d not in fixed], dtype=np.int64)
            levels.append(self._moving_first(t_arr[:, l, free] > 1, free))
        canon = self._canonical_missing(t_arr)
        side_levels = [l for l in self.spatial_levels if (self.axis[l] < 0).any()] if all_sides else []
        sides = []
        for l in side_levels:
            fa = np.nonzero(self.axis[l] < 0)[0]
            sides.append(self._moving_first(s_arr[:, l, fa] > 1, fa))
        radix = n_dims + 2
        key = canon.astype(np.int64)
        for k, _ in levels + sides:
            key = key * radix + k
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        base = np.where(self.axis >= 0, self.axis, 1)
        fixed_orders = [(np.array(r.t_prefix, dtype=np.int64).reshape(1, -1),
                         np.array(r.t_suffix, dtype=np.int64).reshape(1, -1)) for r in rules]
        for g in np.argsort(first, kind="stable"):
            members = np.nonzero(inverse == g)[0]
            m0 = members[0]
            ks = [int(k[m0]) for k, _ in levels]
            extra = bool(canon[m0])
            counts = [math.factorial(k) for k in ks]
            counts[0] += extra
            if all_orders or math.prod(counts) <= max_orders:
                pats = [_orders(k) for k in ks]
                order_shape = counts
            else:
                pats = None
                order_shape = [max_orders]
            side_pats = []
            for mk, _ in sides:
                m = int(mk[m0])
                side_pats.append(_sides(m))
            # variant-major: every tiling of the group with its first variant, then the next variant
            shape = (*order_shape, *[p.shape[0] for p in side_pats], keeps.shape[0], members.shape[0])
            total = math.prod(shape)
            for start in range(0, total, chunk):
                parts = np.unravel_index(np.arange(start, min(total, start + chunk), dtype=np.int64), shape)
                parts = (parts[-1], *parts[:-1])
                rows = members[parts[0]]
                cnt = rows.shape[0]
                t, sp = t_arr[rows], s_arr[rows]
                at = np.arange(cnt)[:, None]  # fancy indexing: `take/put_along_axis` without their checks
                if pats is not None:
                    perm = np.empty((cnt, n_lv, n_dims), dtype=np.int64)
                    for l, r in enumerate(rules):
                        k = ks[l]
                        pi = parts[1 + l]
                        fs = levels[l][1][rows]
                        moving = fs[:, :k][at, pats[l][np.minimum(pi, pats[l].shape[0] - 1)]]
                        perm[:, l, :] = np.concatenate(  # (prefix and suffix broadcast: np.tile, cheaper)
                            [fs[:, k:], np.broadcast_to(fixed_orders[l][0], (cnt, fixed_orders[l][0].shape[1])),
                             moving, np.broadcast_to(fixed_orders[l][1], (cnt, fixed_orders[l][1].shape[1]))],
                            axis=1)
                        if l == 0 and extra:
                            perm[pi == pats[0].shape[0], 0, :] = np.arange(n_dims)
                else:
                    perm = np.full((cnt, n_lv, n_dims), -1, dtype=np.int64)
                xs = np.full((cnt, n_lv, n_dims), -1, dtype=np.int64)
                ok = np.ones(cnt, dtype=bool)
                for i, l in enumerate(side_levels):
                    m = side_pats[i].shape[1]
                    side = np.repeat(base[l][None, :], cnt, axis=0)  # np.tile, cheaper
                    side[at, sides[i][1][rows][:, :m]] = side_pats[i][parts[1 + len(order_shape) + i]]
                    xs[:, l, :] = side
                    fx, fy = self._fan_limits(l)
                    ok &= np.prod(np.where(side == 1, sp[:, l, :], 1), axis=1) <= fx
                    ok &= np.prod(np.where(side == 0, sp[:, l, :], 1), axis=1) <= fy
                keep = keeps[parts[-1]]
                if not ok.all():
                    rows, t, sp, perm, xs, keep = rows[ok], t[ok], sp[ok], perm[ok], xs[ok], keep[ok]
                if t.shape[0]:
                    yield rows, t, sp, perm, xs, keep

    def _axis_assign(self, l: int, s: np.ndarray) -> np.ndarray:
        """X (True) / Y side of each spatial loop: fixed by constraints, else greedy first fit in X."""
        fx, _ = self.arch.fanout(l)
        ax = self.axis[l]
        xs = np.broadcast_to(ax == 1, s.shape).copy()
        free = np.nonzero(ax < 0)[0]
        if free.size:
            used = np.prod(np.where(xs, s, 1), axis=1)
            for d in free:
                fit = used * s[:, d] <= fx
                xs[:, d] = fit
                used = np.where(fit, used * s[:, d], used)
        return xs

    def _permutations(self, t: np.ndarray, prefix: list[int], suffix: list[int], rng) -> np.ndarray:
        """Loop orders (innermost first): unit loops, the prefix, the free loops in random order, the suffix."""
        n, n_dims = t.shape
        fixed = set(prefix) | set(suffix)
        rank = np.zeros((n, n_dims))
        for pos, d in enumerate(prefix):
            rank[:, d] = 1000 + pos
        free = [d for d in range(n_dims) if d not in fixed]
        if free:
            noise = rng.random((n, len(free)))
            for j, d in enumerate(free):
                rank[:, d] = 2000 + noise[:, j]
        for pos, d in enumerate(suffix):
            rank[:, d] = 3000 + pos
        rank = np.where(t > 1, rank, np.arange(n_dims)[None, :] * 1e-3)
        return np.argsort(rank, axis=1, kind="stable")
