"""Vectorized Sparseloop evaluation of a batch of mappings.

The sparse analysis splits into a *structural* part — rank assignment, fiber shapes, expected
occupancies, storage-SAF probabilities — that depends only on a data space's own loops and keep
choices, and an *arithmetic* part — scaling the dense counts, propagating gating/skipping,
classifying computes, energy and cycles — that is elementwise over mappings.

The structural part is computed once per distinct structure with the per-mapping reference
implementation (`SparseAnalyzer`), keyed by the data space's factors, loop orders and keep flags;
the arithmetic part is numpy over the whole batch, reproducing the per-mapping code's floors and
ceilings exactly (tests compare both on random mappings).
"""

from __future__ import annotations

import msgspec
import numpy as np

from .arch import ArchModel
from .cost import _cluster_utilization, _throttle, leakage, vector_ratio
from .mapping import MappingBatch
from .nest import DenseNest
from .position_skip import factors as position_factors
from .sparse import SparseAnalyzer
from .spatial_skip import SPATIAL_TEMPORAL_CLASH
from .unique_rows import unique_rows

_EPS = 1e-9


class BatchSparseCost(msgspec.Struct):
    """Totals of a batch under sparsity."""

    valid: np.ndarray
    fail_reasons: list[str | None]
    energy: np.ndarray
    cycles: np.ndarray
    utilization: np.ndarray
    random_computes: np.ndarray
    gated_computes: np.ndarray
    skipped_computes: np.ndarray


def _rel_ranks(order: np.ndarray, factors: np.ndarray, dims: list[int]) -> np.ndarray:
    """Relative position of each listed dim among the listed non-trivial loops (-1 if trivial)."""
    pos = np.argsort(order, axis=-1)  # [N, D] position of each dim in the order
    sel = pos[:, dims]  # [N, k]
    nt = factors[:, dims] > 1
    ranks = np.full(sel.shape, -1, dtype=np.int64)
    for a in range(len(dims)):
        smaller = (sel < sel[:, [a]]) & nt
        ranks[:, a] = np.where(nt[:, a], smaller.sum(axis=1), -1)
    return ranks


def structure_key(mb: MappingBatch, dims: list[int], keep_cols: list[int], levels: int) -> np.ndarray:
    """Per-mapping integer rows that identify the loop structure restricted to ``dims``."""
    parts = [mb.keep[:, :, keep_cols].reshape(mb.n, -1).astype(np.int64)]
    for l in range(levels):
        parts.append(mb.temporal[:, l, dims])
        parts.append(mb.spatial[:, l, dims])
        parts.append(_rel_ranks(mb.perm[:, l, :], mb.temporal[:, l, :], dims))
        parts.append(_rel_ranks(mb.spatial_perm[:, l, :], mb.spatial[:, l, :], dims))
    return np.concatenate(parts, axis=1)


class BatchSparseEvaluator:
    """Evaluates whole batches with the semantics of `SparseAnalyzer` + `Engine._cost`."""

    def __init__(self, analyzer: SparseAnalyzer, arch: ArchModel) -> None:
        self.an = analyzer
        self.arch = arch
        prob = analyzer.problem
        self.n_lv = arch.n_levels
        self.n_t = len(prob.dataspaces)
        # (level, dataspace) pairs that carry a representation format
        self.fmt_pairs = [
            (l, t) for l in range(self.n_lv) for t in range(self.n_t) if analyzer.ranks[l][t] is not None
        ]
        self.max_ranks = {pair: analyzer.ranks[pair[0]][pair[1]].n_ranks for pair in self.fmt_pairs}
        # column structure -> analyzed state, shared across batches (the mapper reuses structures)
        self._cache: dict[tuple, dict] = {}
        self._row_loops: dict[int, tuple[list, list]] = {}  # `_loops` of the batch being evaluated

    def _loops(self, mb: MappingBatch, i: int) -> tuple[list, list]:
        """(complete subnests, molds) of mapping i of the batch being evaluated, built once per mapping:
        the column, SAF and skipping analyses each ask for the same rows (the analyses only read them)."""
        got = self._row_loops.get(i)
        if got is None:
            subnests = self.an.complete_subnests(mb, i)
            got = self._row_loops[i] = (subnests, self.an._molds(subnests))
        return got

    def _column_entry(self, nest: DenseNest, mb: MappingBatch, i: int, t: int) -> dict:
        """Structural state of data space t for mapping i (valid for every mapping with its key)."""
        an = self.an
        L = self.n_lv
        tiles = an._init_tiles(nest, i, [t])
        subnests, molds = self._loops(mb, i)
        ok, level, reason = an.column_state(tiles, subnests, molds, t)
        entry: dict = {"ok": ok, "reason": f"{level}: {reason}" if not ok else None, "tiles": tiles}
        if not ok:
            return entry
        fields = {k: np.zeros(L) for k in ("density", "occupancy", "max_occ", "max_md_bits", "scale", "ratio")}
        for k in ("scale", "density", "ratio"):
            fields[k][:] = 1.0
        flags = {k: np.zeros(L, dtype=bool) for k in ("has_md", "compressed")}
        n_fmt = np.zeros(L, dtype=np.int64)
        md: dict = {}
        bits: dict = {}
        for l in range(L):
            tile = tiles[l][t]
            if not tile.kept:
                continue
            flags["has_md"][l] = tile.has_metadata
            flags["compressed"][l] = tile.compressed
            fields["density"][l] = tile.expected_density
            fields["occupancy"][l] = tile.expected_occupancy
            fields["max_occ"][l] = tile.max_data_occupancy
            fields["max_md_bits"][l] = tile.max_md_bits
            util = float(nest.utilized[i, l])
            fields["scale"][l] = tile.avg_replication / util if util > 0 else 1.0
            if tile.has_metadata:
                fields["ratio"][l] = vector_ratio(self.arch.storage[l], tile, an.densities[t])
                r = len(tile.expected_md)
                n_fmt[l] = r
                m = np.zeros((self.max_ranks[(l, t)], 2))
                bt = np.zeros((self.max_ranks[(l, t)], 2), dtype=np.int64)
                m[:r] = tile.expected_md
                bt[:r] = tile.md_word_bits
                md[(l, t)] = m
                bits[(l, t)] = bt
        entry.update(fields=fields, flags=flags, n_fmt=n_fmt, md=md, bits=bits)
        return entry

    # ------------------------------------------------------------------ structural part
    def _columns(self, nest: DenseNest, mb: MappingBatch):
        """Structural state of every (mapping, level, data space), computed once per distinct structure."""
        an = self.an
        n = mb.n
        L, T = self.n_lv, self.n_t
        keep = nest.keep
        size = nest.tile_size.astype(np.float64)
        st = {
            "ok": np.ones(n, dtype=bool),
            "reason": np.full(n, None, dtype=object),
            "has_md": np.zeros((n, L, T), dtype=bool),
            "compressed": np.zeros((n, L, T), dtype=bool),
            "density": np.ones((n, L, T)),
            "occupancy": size * keep,
            "max_occ": size * keep,
            "max_md_bits": np.zeros((n, L, T)),
            "rep_scale": np.ones((n, L, T)),
            "ratio": np.ones((n, L, T)),
            "n_fmt": np.zeros((n, L, T), dtype=np.int64),
            "md": {pair: np.zeros((n, self.max_ranks[pair], 2)) for pair in self.fmt_pairs},
            "bits": {pair: np.zeros((n, self.max_ranks[pair], 2), dtype=np.int64) for pair in self.fmt_pairs},
        }
        self._col_tiles: dict[int, tuple[np.ndarray, list]] = {}
        for t in range(T):
            if not any(pair[1] == t for pair in self.fmt_pairs):
                continue  # no representation format anywhere: dense tiles, nothing to analyze
            dims = sorted(an.relevant[t])
            key = structure_key(mb, dims, [t], L)
            first, inverse = unique_rows(key)
            u_count = first.shape[0]
            ok_u = np.ones(u_count, dtype=bool)
            reason_u = np.full(u_count, None, dtype=object)
            fields = {k: np.zeros((u_count, L)) for k in ("density", "occupancy", "max_occ", "max_md_bits", "scale", "ratio")}
            for k in ("scale", "density", "ratio"):
                fields[k][:] = 1.0
            flags = {k: np.zeros((u_count, L), dtype=bool) for k in ("has_md", "compressed")}
            n_fmt = np.zeros((u_count, L), dtype=np.int64)
            md_u = {pair: np.zeros((u_count, self.max_ranks[pair], 2)) for pair in self.fmt_pairs if pair[1] == t}
            bits_u = {pair: np.zeros((u_count, self.max_ranks[pair], 2), dtype=np.int64) for pair in md_u}
            tiles_u = []
            key_rows = key[first]
            for u, i in enumerate(first.tolist()):
                cache_key = (t, key_rows[u].tobytes())
                entry = self._cache.get(cache_key)
                if entry is None:
                    entry = self._column_entry(nest, mb, i, t)
                    if len(self._cache) < 400_000:
                        self._cache[cache_key] = entry
                tiles_u.append(entry["tiles"])
                if not entry["ok"]:
                    ok_u[u] = False
                    reason_u[u] = entry["reason"]
                    continue
                for k, v in entry["fields"].items():
                    fields[k][u] = v
                for k, v in entry["flags"].items():
                    flags[k][u] = v
                n_fmt[u] = entry["n_fmt"]
                for pair, arr in entry["md"].items():
                    md_u[pair][u] = arr
                    bits_u[pair][u] = entry["bits"][pair]
            self._col_tiles[t] = (inverse, tiles_u)
            st["ok"] &= ok_u[inverse]
            bad = ~ok_u[inverse]
            st["reason"][bad] = reason_u[inverse][bad]
            kept = keep[:, :, t]
            for name, src in (("density", "density"), ("occupancy", "occupancy"), ("max_occ", "max_occ"),
                              ("max_md_bits", "max_md_bits"), ("rep_scale", "scale"), ("ratio", "ratio")):
                st[name][:, :, t] = np.where(kept, fields[src][inverse], st[name][:, :, t])
            st["has_md"][:, :, t] = flags["has_md"][inverse] & kept
            st["compressed"][:, :, t] = flags["compressed"][inverse] & kept
            st["n_fmt"][:, :, t] = n_fmt[inverse]
            for pair in md_u:
                st["md"][pair] = md_u[pair][inverse]
                st["bits"][pair] = bits_u[pair][inverse]
        return st

    def _safs(self, nest: DenseNest, mb: MappingBatch, st):
        """Per-mapping gating/skipping kind (0 none, 1 gate, 2 skip) and probability per (level, dataspace)."""
        an = self.an
        n = mb.n
        L, T = self.n_lv, self.n_t
        kind = np.zeros((n, L, T), dtype=np.int64)
        prob = np.zeros((n, L, T))
        lv_energy = np.array([lv.op_energy["random_read"] / lv.block_size for lv in self.arch.storage])
        for want, code in (("gate", 1), ("skip", 2)):
            for level, groups in sorted(an.gating.items()):
                for g_kind, options in groups:
                    if g_kind != want:
                        continue
                    best_t = np.full(n, -1, dtype=np.int64)
                    best_l = np.full(n, -1, dtype=np.int64)
                    best_p = np.zeros(n)
                    best_s = np.zeros(n)
                    for target, cond in options:
                        tl, p, occ = self._saf_option(nest, mb, level, target, cond)
                        savings = np.where(tl >= 0, lv_energy[np.maximum(tl, 0)] * occ * p, -1.0)
                        take = (tl >= 0) & (savings >= best_s)
                        best_s = np.where(take, savings, best_s)
                        best_t = np.where(take, target, best_t)
                        best_l = np.where(take, tl, best_l)
                        best_p = np.where(take, p, best_p)
                    rows = np.nonzero(best_t >= 0)[0]
                    if rows.size == 0:
                        continue
                    cur_k = kind[rows, best_l[rows], best_t[rows]]
                    cur_p = prob[rows, best_l[rows], best_t[rows]]
                    replace = (cur_k == 0) | (cur_p < best_p[rows])
                    r2 = rows[replace]
                    kind[r2, best_l[r2], best_t[r2]] = code
                    prob[r2, best_l[r2], best_t[r2]] = best_p[r2]
        return kind, prob

    def _spatial(self, nest: DenseNest, mb: MappingBatch, st, saf_kind, saf_p) -> None:
        """Spatial skipping (`analyze_spatial_skipping`) once per distinct mapping structure, scattered.

        Marks spatial-skip SAFs as kind 3 in ``saf_kind``/``saf_p`` and adds ``max_xy`` (per level and
        data space) and ``compute_avg`` to ``st``; ``rep_scale`` becomes the reduced average instances
        over the dense ones, as `SparseAnalyzer._spatial_skipping` sets them.
        """
        an = self.an
        n, L, T = mb.n, self.n_lv, self.n_t
        key = structure_key(mb, list(range(an.problem.n_dims)), list(range(T)), L)
        # X or Y matters here: the split and the spatial order decide it
        key = np.concatenate([key, mb.split.reshape(n, -1).astype(np.int64),
                              mb.spatial_perm.reshape(n, -1).astype(np.int64)], axis=1)
        first, inverse = unique_rows(key)
        u_count = first.shape[0]
        avg_u = np.zeros((u_count, L, T))
        xy_u = np.zeros((u_count, L, T))
        c_avg_u = np.zeros(u_count)
        kind_u = np.zeros((u_count, L, T), dtype=np.int64)
        p_u = np.zeros((u_count, L, T))
        reason_u = np.full(u_count, None, dtype=object)
        for u, i in enumerate(first.tolist()):
            tiles = an._init_tiles(nest, i, range(T))
            subnests, molds = self._loops(mb, i)
            ss = an.spatial_skip(tiles, subnests, molds, nest, i)
            if ss.fail_level:
                reason_u[u] = f"{ss.fail_level}: {ss.fail_reason}"
            avg_u[u] = ss.avg_replication
            xy_u[u] = np.array(ss.max_x, dtype=np.float64) * np.array(ss.max_y, dtype=np.float64)
            c_avg_u[u] = ss.compute_avg
            for (l, t), p in ss.saf.items():
                kind_u[u, l, t], p_u[u, l, t] = 3, p
        both = (kind_u[inverse] == 3) & (saf_kind > 0) & (saf_p != 0)
        reason = reason_u[inverse]
        clash = both.any(axis=(1, 2)) & np.equal(reason, None)
        reason[clash] = SPATIAL_TEMPORAL_CLASH
        bad = ~np.equal(reason, None)
        st["reason"][bad & st["ok"]] = reason[bad & st["ok"]]
        st["ok"] &= ~bad
        spatial = kind_u[inverse] == 3
        saf_kind[spatial] = 3
        saf_p[spatial] = p_u[inverse][spatial]
        util = nest.utilized.astype(np.float64)[:, :, None]
        st["rep_scale"] = np.where(util > 0, avg_u[inverse] / np.where(util > 0, util, 1.0), 1.0)
        st["max_xy"] = xy_u[inverse]
        st["compute_avg"] = c_avg_u[inverse]

    def _position(self, nest: DenseNest, mb: MappingBatch, st, data, total):
        """Position skipping (`SparseAnalyzer._position_skipping`) once per distinct mapping structure.

        Scales the targets' reads in ``data``, the compute's average instances in ``st``; returns the
        (random, gated, skipped) computes.
        """
        an = self.an
        n, L, T = mb.n, self.n_lv, self.n_t
        first, inverse = unique_rows(structure_key(mb, list(range(an.problem.n_dims)), list(range(T)), L))
        u_count = first.shape[0]
        scale_u = np.ones((u_count, L, T))
        util_u = np.ones(u_count)
        dens_u = np.ones(u_count)
        reason_u = np.full(u_count, None, dtype=object)
        for u, i in enumerate(first.tolist()):
            tiles = an._init_tiles(nest, i, range(T))
            bad = an.position_levels_ok(tiles)
            if bad is not None:
                reason_u[u] = f"{bad[0]}: {bad[1]}"
                continue
            subnests, _ = self._loops(mb, i)
            for level, options in an.position.items():
                targets = [t for t, _ in options]
                f = position_factors(an, subnests[level], {t: tiles[level][t].shape for t in targets}, targets)
                for t in targets:
                    scale_u[u, level, t] = f.read_scale[t]
                util_u[u] *= f.utilization
                dens_u[u] *= f.density
        reason = reason_u[inverse]
        bad = ~np.equal(reason, None)
        st["reason"][bad & st["ok"]] = reason[bad & st["ok"]]
        st["ok"] &= ~bad
        targets = np.zeros((L, T), dtype=bool)
        for level, options in an.position.items():
            for t, _ in options:
                targets[level, t] = True
        x = data["random_read"]
        data["random_read"] = np.where(targets[None], np.ceil(x * scale_u[inverse] - _EPS), x)
        st["compute_avg"] = nest.compute_utilized.astype(np.float64) * util_u[inverse]
        # issued_computes, elementwise
        random_c = total - np.floor(total * (1.0 - dens_u[inverse]) + _EPS)
        return random_c, np.zeros(n), np.zeros(n)

    def _saf_option(self, nest: DenseNest, mb: MappingBatch, level: int, target: int, cond: list[int]):
        """(target level, probability, occupancy) of one gating/skipping option for every mapping."""
        an = self.an
        dims = sorted(set(an.relevant[target]).union(*[an.relevant[c] for c in cond]))
        first, inverse = unique_rows(structure_key(mb, dims, [target], self.n_lv))
        u_count = first.shape[0]
        tl_u = np.full(u_count, -1, dtype=np.int64)
        p_u = np.zeros(u_count)
        occ_u = np.zeros(u_count)
        memo: dict = {}
        col = self._col_tiles.get(target)
        for u, i in enumerate(first.tolist()):
            subnests, molds = self._loops(mb, i)
            if col is not None:
                tiles = col[1][col[0][i]]
                if not tiles[self.n_lv - 1][target].kept:
                    continue  # the column analysis failed for this structure
            else:
                tiles = an._init_tiles(nest, i, [target])
                an._finish_dense(tiles)
            sig = self._saf_signature(tiles, subnests, level, target)
            if sig in memo:
                res = memo[sig]
            else:
                res = memo[sig] = an._saf_impact(tiles, subnests, molds, level, target, cond)
            if res is not None:
                tl_u[u], p_u[u], occ_u[u] = res
        return tl_u[inverse], p_u[inverse], occ_u[inverse]

    def _saf_signature(self, tiles, subnests, level, target):
        """What `_saf_impact` reads: keep column, the loops up to the target level, occupancies."""
        kept = tuple(tiles[l][target].kept for l in range(self.n_lv))
        top = next((l for l in range(level, self.n_lv) if tiles[l][target].kept), self.n_lv - 1)
        loops = tuple((lp.dim, lp.end, lp.spatial) for l in range(top + 1) for lp in subnests[l])
        occ = tuple(
            (tiles[l][target].expected_occupancy, tuple(map(tuple, tiles[l][target].expected_md)))
            for l in range(top + 1)
        )
        return kept, loops, occ

    # ------------------------------------------------------------------ arithmetic part
    def evaluate(self, nest: DenseNest, mb: MappingBatch, base_valid: np.ndarray, base_reasons) -> BatchSparseCost:
        an = self.an
        prob_ = an.problem
        n = mb.n
        L, T = self.n_lv, self.n_t
        self._row_loops = {}
        st = self._columns(nest, mb)
        saf_kind, saf_p = self._safs(nest, mb, st)
        if an.spatial:
            self._spatial(nest, mb, st, saf_kind, saf_p)
        keep = nest.keep
        rw = np.array([ds.read_write for ds in prob_.dataspaces])
        alg = {"read": nest.reads * keep, "fill": nest.fills * keep, "update": nest.updates * keep}
        shape = np.maximum(nest.tile_size, 1).astype(np.float64)
        data = {f"random_{op}": alg[op].astype(np.float64).copy() for op in alg}
        for kind in ("gated", "skipped"):
            for op in ("read", "fill", "update"):
                data[f"{kind}_{op}"] = np.zeros((n, L, T))
        data["decompression_count"] = np.zeros((n, L, T))
        data["compression_count"] = np.zeros((n, L, T))
        has_md = st["has_md"] & keep
        sparsity = 1.0 - st["density"]
        for op in ("read", "fill", "update"):
            mask = has_md if op != "update" else has_md & rw[None, None, :]
            x = data[f"random_{op}"]
            data[f"random_{op}"] = np.where(mask, x - np.floor(x * sparsity + _EPS), x)
        # per-rank format counts of every (level, dataspace) with a format
        fmt: dict[str, dict] = {}
        for op in ("read", "fill", "update"):
            fmt[op] = {}
            for pair in self.fmt_pairs:
                l, t = pair
                ratio = (alg[op][:, l, t] / shape[:, l, t])[:, None, None]
                counts = np.ceil(st["md"][pair] * ratio - _EPS)
                fmt[op][pair] = np.where(has_md[:, l, t, None, None], counts, 0.0)
        fg = {f"{k}_metadata_{op}": {pair: np.zeros_like(fmt["read"][pair]) for pair in self.fmt_pairs}
              for k in ("random", "gated", "skipped") for op in ("read", "fill", "update")}
        total = (nest.ops * nest.compute_utilized).astype(np.float64)
        max_computes = total.copy()
        compute_saf = np.full((n, T), np.nan)
        n_fmt = np.where(has_md, st["n_fmt"], 0)
        for t in range(T):
            self._combine_t(t, data, fmt, fg, saf_kind, saf_p, n_fmt, keep, rw, max_computes, compute_saf)
        # (de)compression counts
        kept_t = keep
        for t in range(T):
            parent = np.full((n, L), -1, dtype=np.int64)
            nxt = np.full(n, -1, dtype=np.int64)
            for l in range(L - 1, -1, -1):
                parent[:, l] = nxt
                nxt = np.where(kept_t[:, l, t], l, nxt)
            for l in range(L - 1, -1, -1):
                par = parent[:, l]
                has_par = par >= 0
                pc = np.zeros(n, dtype=bool)
                pc[has_par] = st["compressed"][has_par, par[has_par], t] & keep[has_par, par[has_par], t]
                mine = kept_t[:, l, t] & ~(st["compressed"][:, l, t]) & has_par & pc
                if rw[t]:
                    pu = np.zeros(n)
                    pu[has_par] = data["random_update"][has_par, par[has_par], t]
                    data["compression_count"][:, l, t] += np.where(mine, pu, 0.0)
                data["decompression_count"][:, l, t] += np.where(mine, data["random_fill"][:, l, t], 0.0)
        random_c, gated_c, skipped_c = self._compute(max_computes, compute_saf, has_md, keep)
        if an.position:
            random_c, gated_c, skipped_c = self._position(nest, mb, st, data, total)
        valid = base_valid & st["ok"]
        reasons = list(base_reasons)
        for i in np.nonzero(base_valid & ~st["ok"])[0]:
            reasons[i] = st["reason"][i]
        cap_ok, cap_reason = self._capacity(st, keep)
        for i in np.nonzero(valid & ~cap_ok)[0]:
            reasons[i] = cap_reason[i]
        valid &= cap_ok
        energy, cycles, util = self._cost(nest, st, data, fg, random_c, gated_c, skipped_c, keep)
        return BatchSparseCost(valid, reasons, energy, cycles, util, random_c, gated_c, skipped_c)

    def _combine_t(self, t, data, fmt, fg, saf_kind, saf_p, n_fmt, keep, rw, max_computes, compute_saf):
        n = saf_kind.shape[0]
        L = self.n_lv
        mx = {op: data[f"random_{op}"][:, :, t].copy() for op in ("read", "fill", "update")}
        mf = {op: {l: fmt[op][(l, tt)].copy() for (l, tt) in self.fmt_pairs if tt == t} for op in fmt}
        finalized = np.zeros((n, L), dtype=bool)
        has_saf = saf_kind[:, :, t] > 0
        kinds = {1: "gated", 2: "skipped"}

        def set_from(rows, l, read_src="read"):
            for op in ("read", "fill", "update"):
                data[f"random_{op}"][rows, l, t] = mx[op][rows, l]
            if l in mf["read"]:
                fg["random_metadata_fill"][(l, t)][rows] = mf["fill"][l][rows]
                fg["random_metadata_read"][(l, t)][rows] = mf[read_src][l][rows]
                fg["random_metadata_update"][(l, t)][rows] = mf["update"][l][rows]

        for l in range(L - 1, -1, -1):
            rows_mask = has_saf[:, l]
            if not rows_mask.any():
                continue
            p = saf_p[:, l, t]
            active = rows_mask.copy()
            for imp in range(l - 1, -1, -1):
                if not active.any():
                    break
                for op in ("read", "fill", "update"):
                    x = mx[op][:, imp]
                    mx[op][:, imp] = np.where(active, x - np.floor(x * p + _EPS), x)
                if imp in mf["read"]:
                    n_l = n_fmt[:, l, t]
                    n_i = n_fmt[:, imp, t]
                    for op, lo in (("fill", np.minimum(n_i, n_l - 1)), ("read", np.minimum(n_i, n_l - 1))):
                        scale = active & (lo == 0) & (n_i > 0)
                        if scale.any():
                            v = mf[op][imp][:, 0, :]
                            mf[op][imp][:, 0, :] = np.where(scale[:, None], v - np.floor(v * p[:, None] + _EPS), v)
                fin = active & has_saf[:, imp]
                if fin.any():
                    rows = np.nonzero(fin)[0]
                    # v3.0.3 quirk: an inner SAF level's metadata reads come from the max format updates.
                    set_from(rows, imp, read_src="update")
                    eff = np.where(p[rows] < 1, 1.0 - (1.0 - saf_p[rows, imp, t]) / (1.0 - p[rows]), 1.0)
                    eff = np.where(saf_kind[rows, imp, t] == 3, 0.0, eff)  # removes instances, not accesses
                    self._local_saf(rows, imp, t, eff, saf_kind[rows, imp, t], data, fg, n_fmt, keep, rw, kinds)
                    finalized[rows, imp] = True
                active &= ~has_saf[:, imp]
            own = rows_mask & ~finalized[:, l]
            if own.any():
                rows = np.nonzero(own)[0]
                set_from(rows, l)
                local_p = np.where(saf_kind[rows, l, t] == 3, 0.0, p[rows])
                self._local_saf(rows, l, t, local_p, saf_kind[rows, l, t], data, fg, n_fmt, keep, rw, kinds)
                finalized[rows, l] = True
            if not rw[t]:
                down = rows_mask & active
                if down.any():
                    max_computes[down] -= np.floor(max_computes[down] * p[down] + _EPS)
                    compute_saf[down, t] = np.round(p[down] * 1_000_000) / 1_000_000
        for l in range(L):
            # levels with only spatial skipping are finalized here too (combiner l. 329-345)
            rows = np.nonzero((~has_saf[:, l] | (saf_kind[:, l, t] == 3)) & keep[:, l, t])[0]
            if rows.size:
                set_from(rows, l)

    def _local_saf(self, rows, l, t, p, kind_codes, data, fg, n_fmt, keep, rw, kinds):
        reads = data["random_read"][rows, l, t]
        updates = data["random_update"][rows, l, t]
        if rw[t]:
            delta = np.ceil(reads * p - _EPS)
        else:
            delta = np.floor(reads * p + _EPS)
        du = np.floor(updates * p + _EPS)
        for code, name in kinds.items():
            sel = kind_codes == code
            if not sel.any():
                continue
            data[f"{name}_read"][rows[sel], l, t] += delta[sel]
            data[f"{name}_update"][rows[sel], l, t] += du[sel]
        data["random_read"][rows, l, t] = reads - delta
        data["random_update"][rows, l, t] = updates - du
        if (l, t) not in fg["random_metadata_read"]:
            return
        # metadata of the ranks the child receives (all ranks at the innermost level)
        child = np.full(rows.shape, -1, dtype=np.int64)
        for c in range(l - 1, -1, -1):
            child = np.where((child < 0) & keep[rows, c, t], c, child)
        n_child = np.where(child >= 0, n_fmt[rows, np.maximum(child, 0), t], n_fmt[rows, l, t])
        mr = fg["random_metadata_read"][(l, t)][rows]
        mu = fg["random_metadata_update"][(l, t)][rows]
        r_idx = np.arange(mr.shape[1])[None, :, None]
        take = r_idx < np.minimum(n_child, mr.shape[1])[:, None, None]
        dr = np.where(take, np.floor(mr * p[:, None, None] + _EPS), 0.0)
        dup = np.where(take, np.floor(mu * p[:, None, None] + _EPS), 0.0)
        fg["random_metadata_read"][(l, t)][rows] = mr - dr
        fg["random_metadata_update"][(l, t)][rows] = mu - dup
        for code, name in kinds.items():
            sel = kind_codes == code
            if sel.any():
                fg[f"{name}_metadata_read"][(l, t)][rows[sel]] += dr[sel]
                fg[f"{name}_metadata_update"][(l, t)][rows[sel]] += dup[sel]

    def _compute(self, total, compute_saf, has_md, keep):
        an = self.an
        prob_ = an.problem
        operands = [t for t, ds in enumerate(prob_.dataspaces) if not ds.read_write]
        n = total.shape[0]
        if len(operands) != 2:
            return total, np.zeros(n), np.zeros(n)
        a, b = operands
        states = {}
        for t in operands:
            inner = np.argmax(keep[:, :, t], axis=1)
            md = has_md[np.arange(n), inner, t] & keep[np.arange(n), inner, t]
            states[t] = (an.densities[t].expected_scalar_density(), md)

        def dist(t, other):
            d0, md = states[t]
            ratio = np.where(np.isnan(compute_saf[:, other]), 1.0, 1.0 - np.nan_to_num(compute_saf[:, other]))
            d = np.where(ratio > 0, d0 / np.where(ratio > 0, ratio, 1.0), d0)  # as `SparseAnalyzer._compute`
            enz = d
            ez = np.where(md, 0.0, 1.0 - d)
            ne = np.where(md, 1.0 - d, 0.0)
            return {k: np.clip(v, 0.0, 1.0) for k, v in (("ENZ", enz), ("EZ", ez), ("NE", ne))}

        pa, pb = dist(a, b), dist(b, a)
        flat = {(x, y): pa[x] * pb[y] for x in pa for y in pb}
        random = total * flat[("ENZ", "ENZ")]
        gated = np.zeros(n)
        skipped = np.zeros(n)
        one_zero = total * (flat[("ENZ", "EZ")] + flat[("EZ", "ENZ")])
        if an.gate_on_zero:
            gated += one_zero
        else:
            random += one_zero
        for part in (
            total * (flat[("ENZ", "NE")] + flat[("NE", "ENZ")]),
            total * (flat[("EZ", "NE")] + flat[("NE", "EZ")]),
        ):
            if an.skip_unaligned:
                skipped += part
            elif an.gate_on_zero:
                gated += part
            else:
                random += part
        zz = total * flat[("EZ", "EZ")]
        if an.gate_on_zero:
            gated += zz
        else:
            random += zz
        nonexistent = total * flat[("NE", "NE")]
        skipped_f = np.floor(skipped + _EPS)
        gated_f = np.floor(gated + _EPS)
        random_f = total - skipped_f - gated_f - np.floor(nonexistent + _EPS)
        return random_f, gated_f, skipped_f

    def _capacity(self, st, keep):
        n = keep.shape[0]
        ok = np.ones(n, dtype=bool)
        reasons = np.full(n, None, dtype=object)
        for l, lv in enumerate(self.arch.storage):
            if lv.effective_size is None:
                continue
            data = (st["max_occ"][:, l, :] * keep[:, l, :]).sum(axis=1)
            bad = data > lv.effective_size
            reasons[bad & ok] = f"{lv.name}: mapped tile size exceeds buffer capacity {lv.effective_size}"
            ok &= ~bad
            bits = (st["max_md_bits"][:, l, :] * (st["has_md"][:, l, :] & keep[:, l, :])).sum(axis=1)
            md_cap = lv.effective_md_size_bits or 0
            bad = bits > md_cap
            reasons[bad & ok] = f"{lv.name}: mapped metadata tile size exceeds metadata buffer capacity {md_cap} bits"
            ok &= ~bad
        return ok, reasons

    def _cost(self, nest, st, data, fg, random_c, gated_c, skipped_c, keep):
        arch = self.arch
        comp = arch.compute
        n = keep.shape[0]
        T = self.n_t
        e = comp.op_energy
        compute_avg = st.get("compute_avg", nest.compute_utilized).astype(np.float64)
        compute_cycles = np.maximum(np.ceil((random_c + gated_c) / np.maximum(compute_avg, 1e-12) - _EPS), 1.0)
        energy = random_c * e["random_compute"] + gated_c * e["gated_compute"] + skipped_c * e["skipped_compute"]
        cycles = compute_cycles.copy()
        for l, lv in enumerate(arch.storage):
            level_xy = (nest.x_expansion[:, l] * nest.y_expansion[:, l]).astype(np.float64)
            rd = np.zeros(n)
            wd = np.zeros(n)
            for t in range(T):
                kept = keep[:, l, t]
                if not kept.any():
                    continue
                # spatial skipping gives each data space its own max expansion (buffer.cpp l. 1110, 1532)
                xy = st["max_xy"][:, l, t] if "max_xy" in st else level_xy
                cu = _cluster_utilization(lv, xy)
                shape_nz = nest.tile_size[:, l, t] != 0
                ratio = st["ratio"][:, l, t]
                per_inst = np.zeros(n)
                for op in (
                    "random_read", "random_fill", "random_update", "gated_read", "gated_fill", "gated_update",
                    "skipped_read", "skipped_fill", "skipped_update",
                ):
                    cnt = data[op][:, l, t]
                    vec = np.where((cnt != 0) & shape_nz, np.ceil(cnt / lv.block_size - _EPS) * ratio, 0.0)
                    per_inst += vec * lv.op_energy[op]
                per_inst += data["decompression_count"][:, l, t] * lv.op_energy["decompression_count"]
                per_inst += data["compression_count"][:, l, t] * lv.op_energy["compression_count"]
                bits = {}
                if (l, t) in fg["random_metadata_read"]:
                    b = st["bits"][(l, t)]
                    for op, arrs in fg.items():
                        counts = arrs[(l, t)]
                        bits[op] = (b[:, :, 0] * counts[:, :, 0] + b[:, :, 1] * counts[:, :, 1]).sum(axis=1)
                        if lv.md_storage_width:
                            per_inst += np.ceil(bits[op] / lv.md_storage_width - 1e-12) * lv.op_energy[op]
                util = nest.utilized[:, l] * st["rep_scale"][:, l, t]
                en = np.where(util > 0, per_inst / cu * util, 0.0)
                energy += np.where(kept, en, 0.0)
                scaling = np.where(util > 0, xy / np.where(util > 0, util, 1.0), 1.0)
                wb = lv.word_bits
                zero = np.zeros(n)
                r_words = np.floor(data["random_read"][:, l, t] + data["gated_read"][:, l, t] + _EPS) + np.floor(
                    (bits.get("random_metadata_read", zero) + bits.get("gated_metadata_read", zero)) / wb
                )
                w_words = np.floor(
                    data["random_fill"][:, l, t] + data["gated_fill"][:, l, t] + data["random_update"][:, l, t]
                    + data["gated_update"][:, l, t] + _EPS
                ) + np.floor(
                    (
                        bits.get("random_metadata_fill", zero) + bits.get("gated_metadata_fill", zero)
                        + bits.get("random_metadata_update", zero) + bits.get("gated_metadata_update", zero)
                    )
                    / wb
                )
                rd += np.where(kept, np.ceil(r_words / scaling - _EPS) / compute_cycles, 0.0)
                wd += np.where(kept, np.ceil(w_words / scaling - _EPS) / compute_cycles, 0.0)
            cycles = np.maximum(cycles, _throttle(lv, rd, wd, compute_cycles))
        energy = energy + leakage(arch, keep, nest.utilized, cycles).sum(axis=1)
        util_ = (random_c + gated_c) / comp.instances / np.maximum(cycles, 1)
        return energy, cycles, util_


__all__ = ["BatchSparseCost", "BatchSparseEvaluator", "structure_key"]
