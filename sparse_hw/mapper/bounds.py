"""Provable lower bounds on a mapping's cycles and energy under sparsity, from its dense counts.

The mapper evaluates the exact (Sparseloop) model only for candidates whose bounds can still beat
the best mapping found so far. The bounds follow from the model's structure:

* compute cycles >= ceil(computes x f / utilized instances), with f the smallest fraction of
  computes that stays random or gated — obtained with every storage SAF at its largest possible
  probability (scalar condition tiles empty most often) and either operand with or without
  metadata;
* storage energy: a compressed/metadata tile moves at least ``density`` of its dense words, an
  upper-level SAF removes at most ``p_max`` of the accesses below it, a local SAF turns at most
  ``p_max`` of the reads/updates into cheaper gated/skipped ones, metadata costs >= 0 and
  ``ceil(n / block) >= n / block``;
* compute energy >= computes x (product of operand densities) x random-compute energy;
* position skipping issues prod(d) of the computes and reads a target at most prod(d_o) less often;
* spatial skipping (model/spatial_skip.py) scales a level's average instances by a product of
  P(tile nonempty) factors and skips the target below its level with P = 1 - that factor:
  `SpatialLowerBound` replays its three steps vectorized with every factor at its smallest value
  (the tile the factor's loop sees is never smaller than the whole box below its level) and every
  expansion change that could happen assumed to happen (each one only multiplies in more factors).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..model.cost import _cluster_utilization
from ..model.density import TensorDensity
from ..model.evaluate import Engine
from ..model.mapping import MappingBatch
from ..model.nest import DenseNest
from ..model.position_skip import exact_density

SAFETY = 1.0 - 1e-6  # absorb the exact model's per-instance rounding


class SpatialLowerBound:
    """Lower bounds on `analyze_spatial_skipping`'s average-instance ratios, for a whole batch.

    Every ratio there is a product of factors 1 - p_empty(tile), each multiplied in by the three steps
    (Initialize / Calculate / Summarize). Here each factor takes the tile of the whole box below its
    level (``e_below``), which is never larger than the tile its loop sees, so the factor is never
    larger (p_empty falls as tiles grow). A factor of InitializeSpatialInstances is exact that way:
    its first relevant spatial loop sees the box below the level times non-relevant loops only.
    A level's expansion changes (which decides whether its ratio is pushed to the levels inside it)
    are assumed wherever a described data space has a relevant spatial loop there or above (even a
    dense one: a sliding-window fiber holds fewer elements than the loop's end):
    a change that does not really happen only multiplies in one more factor <= 1. The masks that stop
    the pushes are the model's own (exact factors, option positions). So every ratio is <= the model's,
    and every spatial-skip probability 1 - ratio is >= the model's.
    """

    def __init__(self, engine: Engine) -> None:
        an = engine.sparse
        self.an = an
        self.n_lv = engine.arch.n_levels
        self.n_t = len(engine.problem.dataspaces)
        self.options = [(u, target, list(cond)) for u, opts in sorted(an.spatial.items())
                        for target, cond in opts]
        self.has_fmt = np.array([[an.ranks[l][t] is not None for t in range(self.n_t)]
                                 for l in range(self.n_lv)])
        self.fanout = np.array(an._has_fanout, dtype=bool)
        self.rel = [np.array(sorted(an.relevant[t]), dtype=np.int64) for t in range(self.n_t)]

    def p_max(self, cond: list[int]) -> float:
        """Largest skip probability an option can reach: every condition tile a scalar."""
        keep = 1.0
        for c in cond:
            keep *= 1.0 - float(self.an.densities[c].p_empty(1.0))
        return 1.0 - keep

    def _size(self, t: int, ext: np.ndarray) -> np.ndarray:
        """`SparseAnalyzer._size` of boxes ext [N, D]."""
        size = np.ones(ext.shape[0], dtype=np.float64)
        for coord in self.an._coord_terms[t]:
            e = np.ones(ext.shape[0], dtype=np.float64)
            for d, c in coord:
                e = e + c * (ext[:, d] - 1)
            size = size * e
        return size

    def _nonempty(self, t: int, ext: np.ndarray) -> np.ndarray:
        return 1.0 - np.asarray(self.an.densities[t].p_empty(self._size(t, ext)), dtype=np.float64)

    def compute(self, nest: DenseNest, mb: MappingBatch) -> tuple[np.ndarray, list]:
        """(lower bound [N, L, T] on each storage level's average / dense instances,
        [(option level, target, upper bound [N] on its skip probability)])."""
        n, L, T = mb.n, self.n_lv, self.n_t
        kept = nest.keep & (nest.tile_size > 0)
        has_md = kept & self.has_fmt[None]
        # a spatial loop with end > 1 on a dim relevant to t at storage level u: [N, L, T]
        rel_loop = np.zeros((n, L, T), dtype=bool)
        for t in range(T):
            rel_loop[:, :, t] = (mb.spatial[:, :, self.rel[t]] > 1).any(axis=2) & self.fanout[None, :]
        nonempty = {}

        def factor(t, u):  # 1 - p_empty of t's tile over the box below storage level u
            if (t, u) not in nonempty:
                nonempty[(t, u)] = self._nonempty(t, nest.e_below[:, u, :])
            return nonempty[(t, u)]

        # avg[t][:, a], architecture level a (0 = compute, a = storage a - 1), as in spatial_skip.py
        avg = np.ones((T, n, L + 1))
        # ---- InitializeSpatialInstances
        for t in range(T):
            md_in = np.zeros(n, dtype=bool)
            src = np.zeros((n, L + 1), dtype=bool)
            mask = np.zeros((n, L + 1), dtype=bool)
            for u in range(L - 1, -1, -1):
                md_in = has_md[:, u, t] if u == L - 1 else np.where(kept[:, u, t], has_md[:, u, t], md_in)
                on = md_in & rel_loop[:, u, t]
                if on.any():
                    eff = np.where(on, factor(t, u), 1.0)
                    avg[t][:, u] = eff
                    mask[:, u] = on & (eff != 1.0)
                    src[:, u] = on
            self._push(avg[t], src, mask)
        # ---- CalculateSpatialOptimizationImpact
        skip_mask = np.zeros((L, T), dtype=bool)
        src_s = np.zeros((T, n, L + 1), dtype=bool)
        for u, target, cond in self.options:
            agg = np.ones(n)
            for c in cond:
                md_c = np.zeros(n, dtype=bool)
                for lc in range(L - 1, u - 1, -1):
                    md_c = np.where(kept[:, lc, c], has_md[:, lc, c], md_c)
                on = md_c & rel_loop[:, u, c]
                if on.any():
                    agg = agg * np.where(on, factor(c, u), 1.0)
                    src_s[target][:, u] |= on
            avg[target][:, u] = agg
            skip_mask[u, target] = True
        # ---- SummarizeAndPropagateSpatialCapacityReduction
        ratio = np.ones((n, L, T))
        p_skip = {}
        for t in range(T):
            a_t = avg[t]
            changed = np.zeros(n, dtype=bool)
            for a in range(L, -1, -1):
                r = a_t[:, a].copy()
                if a > 0:
                    ratio[:, a - 1, t] = r
                if a < L and skip_mask[a, t]:
                    p_skip[(a, t)] = 1.0 - r
                if a == 0:
                    break
                changed = changed | src_s[t][:, a]
                if not changed.any():
                    continue
                for inner in range(a - 1, -1, -1):
                    if skip_mask[inner, t]:  # another option's level: it and the levels inside keep theirs
                        break
                    a_t[:, inner] = np.where(changed, a_t[:, inner] * r, a_t[:, inner])
        entries = [(u, t, np.clip(p_skip[(u, t)], 0.0, 1.0)) for u, t, _ in self.options]
        return ratio, entries

    @staticmethod
    def _push(avg: np.ndarray, src: np.ndarray, mask: np.ndarray) -> None:
        """InitializeSpatialInstances' push of each changed level's ratio inwards, up to a masked level."""
        n, levels = avg.shape
        changed = np.zeros(n, dtype=bool)
        for a in range(levels - 1, 0, -1):
            changed = changed | src[:, a]  # a change above scales every expansion below it
            if not changed.any():
                continue
            cross = np.zeros(n, dtype=bool)
            r = avg[:, a].copy()
            for inner in range(a - 1, -1, -1):
                cross = cross | mask[:, inner]
                avg[:, inner] = np.where(changed & ~cross, avg[:, inner] * r, avg[:, inner])


class Bounds:
    """Static sparsity factors of one engine; `compute` gives per-mapping lower bounds."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        an = engine.sparse
        prob = engine.problem
        arch = engine.arch
        self.n_lv = arch.n_levels
        self.n_t = len(prob.dataspaces)
        self.density = np.array([d.expected_scalar_density() for d in an.densities])
        self.has_fmt = np.array([[an.ranks[l][t] is not None for t in range(self.n_t)] for l in range(self.n_lv)])
        # (SAF level, target, kind, p_max) per option; p_max from scalar condition tiles.
        self.safs: list[tuple[int, int, str, float]] = []
        for level, groups in an.gating.items():
            for kind, options in groups:
                for target, cond in options:
                    eff = 1.0
                    for c in cond:
                        eff *= 1.0 - float(an.densities[c].p_empty(1))
                    self.safs.append((level, target, kind, 1.0 - eff))
        # position skipping (model/position_skip.py): only prod(d) of the computes are issued, and a
        # target's reads at its level scale by prod(r_o) over the other targets, r_o >= d_o
        self.position_density = 1.0
        self.position_read: dict[tuple[int, int], float] = {}
        for level, options in an.position.items():
            targets = [t for t, _ in options]
            dens = {t: exact_density(an.densities[t]) for t in targets}
            self.position_density *= math.prod(dens.values())
            for t in targets:
                self.position_read[(level, t)] = math.prod(dens[o] for o in targets if o != t)
        # skipping-spatial (model/spatial_skip.py): per-mapping ratio and skip bounds
        self.spatial = SpatialLowerBound(engine) if an.spatial else None
        self.spatial_pmax = [] if self.spatial is None else [
            (target, self.spatial.p_max(cond)) for _, target, cond in self.spatial.options]
        self._random_min = 1.0
        self.fraction = self._compute_fraction() if engine.uses_sparse else 1.0
        self.random_fraction = self._random_min * SAFETY if engine.uses_sparse else 1.0

    def _compute_fraction(self) -> float:
        """Smallest (random + gated) / algorithmic computes any mapping can reach."""
        ev = self.engine.sparse_batch
        prob = self.engine.problem
        operands = [t for t, ds in enumerate(prob.dataspaces) if not ds.read_write]
        if len(operands) != 2:
            return 1.0
        best = 1.0
        p_of = {t: max([p for (_, tt, _, p) in self.safs if tt == t]
                       + [p for tt, p in self.spatial_pmax if tt == t], default=None) for t in operands}
        options = []
        for t in operands:
            opts = [np.nan] + ([p_of[t]] if p_of[t] is not None else [])
            options.append(opts)
        for pa, pb in itertools.product(*options):
            for md_a, md_b in itertools.product((False, True), repeat=2):
                saf = np.full((1, self.n_t), np.nan)
                saf[0, operands[0]] = pa
                saf[0, operands[1]] = pb
                # computes removed by storage SAFs on the innermost operand levels (floors negligible)
                total = np.array([1.0])
                for p in (pa, pb):
                    if not np.isnan(p):
                        total = total * (1.0 - p)
                has_md = np.zeros((1, self.n_lv, self.n_t), dtype=bool)
                has_md[0, 0, operands[0]] = md_a
                has_md[0, 0, operands[1]] = md_b
                keep = np.ones((1, self.n_lv, self.n_t), dtype=bool)
                scale = 1e9
                r, g, _ = ev._compute(total * scale, saf, has_md, keep)
                best = min(best, float((r[0] + g[0]) / scale))
                self._random_min = min(getattr(self, "_random_min", 1.0), float(r[0] / scale))
        return max(0.0, best * SAFETY)

    def _compute_counts(self, nest: DenseNest, landing) -> tuple[np.ndarray, np.ndarray]:
        """Random + gated computes: exact where every SAF condition is a scalar, else a bound.

        A SAF whose target's innermost copy sits right above the compute units (no kept level of
        the target below it, no fan-out at the innermost level) conditions on scalar tiles, so its
        probability is exactly p_max (`ComputeIneffectualReadImpact`, scalar mold).
        """
        ev = self.engine.sparse_batch
        prob = self.engine.problem
        keep = nest.keep
        n = keep.shape[0]
        total = (nest.ops * nest.compute_utilized).astype(np.float64)
        exact = np.ones(n, dtype=bool)
        compute_saf = np.full((n, self.n_t), np.nan)
        max_computes = total.copy()
        level0_fanout = self.engine.sparse._has_fanout[0]
        for t, ds in enumerate(prob.dataspaces):
            if ds.read_write:
                continue
            # a spatial skip's p is an upper bound: the counts only fall as p grows (the operand's
            # density given the other's, d / (1 - p), grows as the computes left shrink by 1 - p)
            mine = [(w, p, k == "spatial") for (w, tt, k, p) in landing if tt == t]
            if not mine:
                continue
            for l in range(self.n_lv - 1, -1, -1):
                at_l = np.zeros(n, dtype=bool)
                at_gs = np.zeros(n, dtype=bool)  # a gating/skipping SAF (its p exact only for scalars)
                p_l = np.zeros(n)
                for where, p, spatial in mine:
                    hit = where == l
                    p_l = np.where(hit & (p > p_l), p, p_l)
                    at_l |= hit
                    if not spatial:
                        at_gs |= hit
                if not at_l.any():
                    continue
                inner_saf = np.zeros(n, dtype=bool)
                for where, _, _ in mine:
                    inner_saf |= (where >= 0) & (where < l)
                inner_kept = keep[:, :l, t].any(axis=1) if l > 0 else np.zeros(n, dtype=bool)
                scalar = ~inner_kept & (not level0_fanout)
                exact &= ~at_gs | scalar
                reach = at_l & ~inner_saf
                max_computes = np.where(reach, max_computes - np.floor(max_computes * p_l + 1e-9), max_computes)
                compute_saf[:, t] = np.where(reach, np.round(p_l * 1_000_000) / 1_000_000, compute_saf[:, t])
        has_md = np.zeros((n, self.n_lv, self.n_t), dtype=bool)
        for t in range(self.n_t):
            has_md[:, :, t] = keep[:, :, t] & self.has_fmt[None, :, t]
        random, gated, skipped = ev._compute(max_computes, compute_saf, has_md, keep)
        active = np.where(exact, random + gated, total * self.fraction)
        e = self.engine.arch.compute.op_energy
        exact_energy = random * e["random_compute"] + gated * e["gated_compute"] + skipped * e["skipped_compute"]
        energy = np.where(exact, exact_energy, total * self.random_fraction * e["random_compute"])
        return active, exact, energy

    def _nonempty_share(self, nest: DenseNest) -> np.ndarray | None:
        """Lower bound on each tile's average instances over the dense ones [N, L, T].

        Under a parent with metadata, empty tiles are not sent: the average instances scale by
        P(tile nonempty) (`SparseAnalyzer._expected_occupancy_t`), exact here for the statistical
        models; a real-data mask's count depends on the tile's extents, so it gets 0.
        """
        an = self.engine.sparse
        keep = nest.keep
        out = np.ones(keep.shape)
        any_md = False
        for t in range(self.n_t):
            dens = an.densities[t]
            parent_md = np.zeros(keep.shape[0], dtype=bool)
            for l in range(self.n_lv - 1, -1, -1):
                if parent_md.any():
                    any_md = True
                    if isinstance(dens, TensorDensity):
                        nonempty = 1.0 - np.asarray(dens.p_empty(nest.tile_size[:, l, t]), dtype=np.float64)
                    else:
                        nonempty = 0.0
                    out[:, l, t] = np.where(parent_md & (nest.tile_size[:, l, t] > 0), nonempty, 1.0)
                parent_md = np.where(keep[:, l, t], self.has_fmt[l, t], parent_md)
        return out if any_md else None

    def compute(self, nest: DenseNest, mb: MappingBatch) -> tuple[np.ndarray, np.ndarray]:
        """(cycles lower bound, energy lower bound) of every mapping of the batch."""
        arch = self.engine.arch
        prob = self.engine.problem
        keep = nest.keep
        n = keep.shape[0]
        total = (nest.ops * nest.compute_utilized).astype(np.float64)
        util_c = nest.compute_utilized.astype(np.float64)
        rw = np.array([ds.read_write for ds in prob.dataspaces])
        # where each SAF lands (first level keeping its target at or above its level), per mapping
        landing = []
        for level, target, kind, p in self.safs:
            sub = keep[:, level:, target]
            has = sub.any(axis=1)
            where = np.where(has, level + np.argmax(sub, axis=1), -1)
            landing.append((where, target, kind, p))
        if self.spatial is not None:  # a spatial skip stays at its level, whatever the level keeps
            # its ratios replace the average instances outright (`BatchSparseEvaluator._spatial`)
            ratio, entries = self.spatial.compute(nest, mb)
            landing += [(np.full(n, u), t, "spatial", p) for u, t, p in entries]
        else:
            ratio = self._nonempty_share(nest) if self.engine.uses_sparse else None
        if self.engine.uses_sparse:
            active, exact, energy = self._compute_counts(nest, landing)
            cycles_lb = np.where(
                exact,
                np.maximum(np.ceil(active / util_c - 1e-9), 1.0),
                np.maximum(np.floor(active / util_c), 1.0),
            )
        else:
            cycles_lb = np.maximum(np.ceil(total / util_c - 1e-9), 1.0)
            energy = total * arch.compute.op_energy["random_compute"]
        if self.position_read:  # issued computes only, none gated or skipped; lanes at most fully busy
            active = total * self.position_density
            cycles_lb = np.maximum(np.floor(active / util_c), 1.0)
            energy = active * arch.compute.op_energy["random_compute"]
        for l, lv in enumerate(arch.storage):
            xy = (nest.x_expansion[:, l] * nest.y_expansion[:, l]).astype(np.float64)
            cu = _cluster_utilization(lv, xy)
            e = lv.op_energy
            read_words = np.zeros(n)
            write_words = np.zeros(n)
            for t in range(self.n_t):
                kept = keep[:, l, t]
                if not kept.any():
                    continue
                dens = self.density[t] if self.has_fmt[l, t] else 1.0
                factor = np.full(n, dens)
                skip = np.ones(n)  # what the SAFs above leave, without the density (which may be 0)
                p_local = np.zeros(n)
                kind_local = np.zeros(n, dtype=np.int64)
                for where, target, kind, p in landing:
                    if target != t:
                        continue
                    factor = np.where(where > l, factor * (1.0 - p), factor)
                    skip = np.where(where > l, skip * (1.0 - p), skip)
                    if kind == "spatial":  # removes instances below, not accesses here
                        continue
                    here = where == l
                    bigger = here & (p > p_local)
                    p_local = np.where(bigger, p, p_local)
                    kind_local = np.where(bigger, 1 if kind == "gate" else 2, kind_local)
                e_read = np.where(kind_local == 1, e["gated_read"], e["skipped_read"])
                e_upd = np.where(kind_local == 1, e["gated_update"], e["skipped_update"])
                read_e = np.minimum(e["random_read"], (1 - p_local) * e["random_read"] + p_local * e_read)
                upd_e = np.minimum(e["random_update"], (1 - p_local) * e["random_update"] + p_local * e_upd)
                upd_factor = factor if (rw[t] and self.has_fmt[l, t]) else (factor / dens if dens > 0 else skip)
                pos = self.position_read.get((l, t), 1.0)
                reads = nest.reads[:, l, t] * factor * pos
                # a read-write tile's local SAF rounds the accesses it removes up (`_local_saf`:
                # ceil(reads x p)), so at most one fewer read than reads x (1 - p) stays random
                ceil_slack = 0.0
                if rw[t]:
                    ceil_slack = np.where(p_local > 0, np.minimum(1.0, reads * (1 - p_local)), 0.0)
                per_inst = (
                    reads * read_e - ceil_slack * np.maximum(0.0, e["random_read"] - e_read)
                    + nest.fills[:, l, t] * factor * e["random_fill"]
                    + nest.updates[:, l, t] * upd_factor * upd_e
                ) / lv.block_size
                # fewer average instances (spatial skipping, empty tiles); dense cu <= a reduced one
                inst = nest.utilized[:, l] if ratio is None else nest.utilized[:, l] * ratio[:, l, t]
                energy = energy + np.where(kept, per_inst / cu * inst, 0.0)
                # words per instance over (max instances / average ones) (`_cost` scaling)
                share = 1.0 if ratio is None else np.minimum(1.0, inst / np.where(xy > 0, xy, 1.0))
                # bandwidth: random + gated words per instance (skipped accesses use none)
                skip_share = np.where(kind_local == 2, p_local, 0.0)
                kept_reads = reads * (1 - skip_share) - np.where(skip_share > 0, ceil_slack, 0.0)
                read_words += np.where(kept, np.maximum(kept_reads, 0.0) * share, 0.0)
                writes = nest.fills[:, l, t] * factor + nest.updates[:, l, t] * upd_factor * (1 - skip_share)
                write_words += np.where(kept, writes * share, 0.0)
            # A bandwidth-limited level needs at least words / bandwidth cycles (`ComputePerformance`).
            for bw, words in ((lv.read_bandwidth, read_words), (lv.write_bandwidth, write_words),
                              (lv.shared_bandwidth, read_words + write_words)):
                if bw:
                    cycles_lb = np.maximum(cycles_lb, np.ceil(words * SAFETY / bw - 1e-6))
        return cycles_lb, energy * SAFETY
