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
* compute energy >= computes x (product of operand densities) x random-compute energy.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..model.cost import _cluster_utilization
from ..model.evaluate import Engine
from ..model.mapping import MappingBatch
from ..model.nest import DenseNest

SAFETY = 1.0 - 1e-6  # absorb the exact model's per-instance rounding


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
        p_of = {t: max([p for (_, tt, _, p) in self.safs if tt == t], default=None) for t in operands}
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
            mine = [(w, p) for (w, tt, _, p) in landing if tt == t]
            if not mine:
                continue
            for l in range(self.n_lv - 1, -1, -1):
                at_l = np.zeros(n, dtype=bool)
                p_l = np.zeros(n)
                for where, p in mine:
                    hit = where == l
                    p_l = np.where(hit & (p > p_l), p, p_l)
                    at_l |= hit
                if not at_l.any():
                    continue
                inner_saf = np.zeros(n, dtype=bool)
                for where, _ in mine:
                    inner_saf |= (where >= 0) & (where < l)
                inner_kept = keep[:, :l, t].any(axis=1) if l > 0 else np.zeros(n, dtype=bool)
                scalar = ~inner_kept & (not level0_fanout)
                exact &= ~at_l | scalar
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
                p_local = np.zeros(n)
                kind_local = np.zeros(n, dtype=np.int64)
                for where, target, kind, p in landing:
                    if target != t:
                        continue
                    factor = np.where(where > l, factor * (1.0 - p), factor)
                    here = where == l
                    bigger = here & (p > p_local)
                    p_local = np.where(bigger, p, p_local)
                    kind_local = np.where(bigger, 1 if kind == "gate" else 2, kind_local)
                e_read = np.where(kind_local == 1, e["gated_read"], e["skipped_read"])
                e_upd = np.where(kind_local == 1, e["gated_update"], e["skipped_update"])
                read_e = np.minimum(e["random_read"], (1 - p_local) * e["random_read"] + p_local * e_read)
                upd_e = np.minimum(e["random_update"], (1 - p_local) * e["random_update"] + p_local * e_upd)
                upd_factor = factor if (rw[t] and self.has_fmt[l, t]) else factor / dens
                per_inst = (
                    nest.reads[:, l, t] * factor * read_e
                    + nest.fills[:, l, t] * factor * e["random_fill"]
                    + nest.updates[:, l, t] * upd_factor * upd_e
                ) / lv.block_size
                energy = energy + np.where(kept, per_inst / cu * nest.utilized[:, l], 0.0)
                # bandwidth: random + gated words per instance (skipped accesses use none)
                skip_share = np.where(kind_local == 2, p_local, 0.0)
                read_words += np.where(kept, nest.reads[:, l, t] * factor * (1 - skip_share), 0.0)
                write_words += np.where(
                    kept, nest.fills[:, l, t] * factor + nest.updates[:, l, t] * upd_factor * (1 - skip_share), 0.0
                )
            # A bandwidth-limited level needs at least words / bandwidth cycles (`ComputePerformance`).
            for bw, words in ((lv.read_bandwidth, read_words), (lv.write_bandwidth, write_words),
                              (lv.shared_bandwidth, read_words + write_words)):
                if bw:
                    cycles_lb = np.maximum(cycles_lb, np.ceil(words * SAFETY / bw - 1e-6))
        return cycles_lb, energy * SAFETY
