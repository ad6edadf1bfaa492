"""Sparseloop's spatial skipping (``skipping-spatial``): fewer spatial instances for sparse operands.

Timeloop v3.0.3 runs it inside ``DefineStorageOptimizationImpact`` (src/sparse-analysis/
storage-gs-analyzer.cpp) when any level has a ``skipping-spatial`` action optimization, in three steps
that this module follows one function each:

* ``InitializeSpatialInstances`` (l. 502-690): every data space that some level above a fan-out
  describes with metadata needs fewer instances below it: the innermost relevant spatial loop sets
  the average ratio (P(tile nonempty)), and every relevant spatial loop scales the max X/Y expansion
  by the densest possible fiber (``GetMaxNumElementByConfidence``).
* ``CalculateSpatialOptimizationImpact`` (l. 694-890): the same for the target of each
  ``skipping-spatial`` option, conditioned on the condition-on operand (with its stationarity above
  co-iterated loops).
* ``SummarizeAndPropagateSpatialCapacityReduction`` (l. 923-1085): pushes the reductions down to the
  inner levels, sets each level's max/average instances and the compute's, records the skipped
  fraction (``prob_explicitly_spatially_optimized_read_``) and checks the reduced fan-outs.

Expansions are ``std::uint64_t`` there, so every scaling truncates (kept here with ``int``).
"""

from __future__ import annotations

import msgspec

from ..errors import SpecError

#: storage-optimization-combiner.cpp asserts ("not supported yet") when one tile has both.
SPATIAL_TEMPORAL_CLASH = "spatial and temporal skipping of the same tile is not supported by Sparseloop"


class SpatialSkipResult(msgspec.Struct):
    """Per storage level and data space: reduced expansion and average instances; compute's; failures."""

    max_x: list[list[int]]  # [level][dataspace]
    max_y: list[list[int]]
    avg_replication: list[list[float]]  # [level][dataspace]
    compute_max_x: int
    compute_max_y: int
    compute_avg: float
    saf: dict[tuple[int, int], float] = msgspec.field(default_factory=dict)  # (level, target) -> P(skipped)
    fail_level: str | None = None
    fail_reason: str = ""


def uses_spatial_skipping(arch) -> bool:
    """Whether any level has a ``skipping-spatial`` action optimization (then the reduced fan-outs count)."""
    # kinds arrive normalized (`spec.base.norm_word`: hyphens already underscores)
    kinds = {opt.kind for lv in arch.storage for opt in lv.action_opts}
    return bool(kinds & {"skipping_spatial", "spatial_skipping"})


def parse_options(arch, opts_by_level: dict[int, list[tuple[int, list[int]]]], names) -> None:
    """Refuse the forms v3.0.3 cannot evaluate (it asserts or reads past a vector)."""
    for level, options in opts_by_level.items():
        where = f"sparse_optimizations.targets[{arch.storage[level].name}].action_optimization"
        for target, cond in options:
            if len(cond) > 1:
                # CalculateSpatialOptimizationImpact keeps one loop counter across condition-on data
                # spaces (l. 721), so a second one indexes past the level's molds: undefined there.
                raise SpecError(
                    f"skipping-spatial at {arch.storage[level].name} on {names[target]} conditions on "
                    f"{len(cond)} data spaces; Sparseloop evaluates at most one",
                    key_path=where,
                    fix="condition spatial skipping on one data space",
                )


def _extents_before(molds, level: int, j: int, n_dims: int) -> list[int]:
    """Timeloop's ``mold_high`` before loop j of a level, as dim extents (l. 566-578, 766-778)."""
    if j > 0:
        return list(molds[level][j - 1])
    if level == 0:
        return [1] * n_dims
    return list(molds[level - 1][-1])


def _max_elements(dens, size_fn, t: int, fiber, element) -> int:
    """``GetMaxNumElementByConfidence`` at confidence 1.0 (fixed-structured / hypergeometric .cpp)."""
    fiber_shape = size_fn(t, fiber)
    element_shape = size_fn(t, element)
    n_elements = fiber_shape // element_shape
    return min(int(dens.max_occupancy(fiber_shape)), n_elements)


def analyze_spatial_skipping(an, tiles, subnests, molds, spatial_opts, x_exp, y_exp, replication,
                             compute_x: int, compute_y: int, compute_rep: float) -> SpatialSkipResult:
    """Spatial skipping of one mapping; ``x_exp``/``y_exp``/``replication`` are per storage level (dense)."""
    prob = an.problem
    n_lv = an.arch.n_levels
    n_t = len(prob.dataspaces)
    n_dims = prob.n_dims

    def kept(t, l):
        return tiles[l][t].kept and tiles[l][t].shape > 0

    def has_md(t, l):
        return kept(t, l) and tiles[l][t].has_metadata

    # per data space: expansion of each level (compute_info / data movement records) as Timeloop keeps them
    rec_x = [[int(x_exp[l]) for l in range(n_lv)] for _ in range(n_t)]
    rec_y = [[int(y_exp[l]) for l in range(n_lv)] for _ in range(n_t)]
    # architecture levels: 0 = compute, a = storage a-1
    avg = [[1.0] * (n_lv + 1) for _ in range(n_t)]
    mx = [[int(compute_x)] + [int(x_exp[l]) for l in range(n_lv)] for _ in range(n_t)]
    my = [[int(compute_y)] + [int(y_exp[l]) for l in range(n_lv)] for _ in range(n_t)]
    mask = [[False] * (n_lv + 1) for _ in range(n_t)]

    def scale(t, a, loop, ratio):
        if loop.x:
            mx[t][a] = int(mx[t][a] * ratio)
        else:
            my[t][a] = int(my[t][a] * ratio)

    # ---- InitializeSpatialInstances
    for t in range(n_t):
        dens = an.densities[t]
        for u in range(n_lv):
            level_in = u
            while not kept(t, level_in) and level_in < n_lv - 1:
                level_in += 1
            if not has_md(t, level_in):
                continue
            innermost = True
            eff = 1.0
            for j, lp in enumerate(subnests[u]):
                if not lp.spatial or lp.end <= 1 or lp.dim not in an.relevant[t]:
                    continue
                ext = _extents_before(molds, u, j, n_dims)
                if innermost:
                    eff = 1.0 - float(dens.p_empty(an._size(t, ext)))
                    innermost = False
                fiber = list(ext)
                fiber[lp.dim] *= lp.end
                scale(t, u, lp, _max_elements(dens, an._size, t, fiber, ext) / lp.end)
            avg[t][u] = eff
            if eff != 1.0:
                mask[t][u] = True
        for a in range(n_lv, 0, -1):
            xr = mx[t][a] / rec_x[t][a - 1]
            yr = my[t][a] / rec_y[t][a - 1]
            if xr == 1.0 and yr == 1.0:
                continue
            rec_x[t][a - 1], rec_y[t][a - 1] = mx[t][a], my[t][a]
            cross = False
            for inner in range(a - 1, -1, -1):
                mx[t][inner] = int(mx[t][inner] * xr)
                my[t][inner] = int(my[t][inner] * yr)
                if mask[t][inner]:
                    cross = True
                if not cross:
                    avg[t][inner] *= avg[t][a]

    # ---- DefineSpatialOptimizationImpact / CalculateSpatialOptimizationImpact
    skip_mask = [[False] * n_t for _ in range(n_lv)]  # [storage level][dataspace]
    for u, options in sorted(spatial_opts.items()):
        for target, conds in options:
            child = -1
            for c_l in range(u - 1, -1, -1):
                if kept(target, c_l):
                    child = c_l
                    break
            per_cond: dict[int, float] = {}
            for c in conds:
                level_c = u
                while not kept(c, level_c) and level_c < n_lv:
                    level_c += 1
                    if level_c == n_lv:
                        break
                if level_c == n_lv or not has_md(c, level_c):
                    per_cond[c] = 1.0
                    continue
                dens = an.densities[c]
                co_dims = an.relevant[target] & an.relevant[c]
                captured = False
                for j, lp in enumerate(subnests[u]):
                    if not lp.spatial or lp.end <= 1 or lp.dim not in an.relevant[c]:
                        continue
                    ext = _extents_before(molds, u, j, n_dims)
                    if child != -1 and lp.dim in co_dims:
                        # the target tile stays put while temporal loops that do not project to it run
                        # (l. 780-818): they widen the condition-on tile the spatial instance sees
                        t_level = u
                        while not kept(target, t_level) and t_level < n_lv - 1:
                            t_level += 1
                        found = False
                        for l2 in range(u, t_level + 1):
                            for up in subnests[l2]:
                                if found:
                                    break
                                if up.spatial or up.end <= 1:
                                    continue
                                if up.dim in an.relevant[target]:
                                    found = True
                                else:
                                    ext[up.dim] *= up.end
                            if found:
                                break
                    if not captured:
                        per_cond[c] = 1.0 - float(dens.p_empty(an._size(c, ext)))
                        captured = True
                    fiber = list(ext)
                    fiber[lp.dim] *= lp.end
                    scale(target, u, lp, _max_elements(dens, an._size, c, fiber, ext) / lp.end)
            agg = 1.0
            for v in per_cond.values():
                agg *= v
            avg[target][u] = agg
            skip_mask[u][target] = True

    # ---- SummarizeAndPropagateSpatialCapacityReduction
    out_x = [[0] * n_t for _ in range(n_lv)]
    out_y = [[0] * n_t for _ in range(n_lv)]
    out_avg = [[0.0] * n_t for _ in range(n_lv)]
    saf: dict[tuple[int, int], float] = {}
    c_x = c_y = 0
    c_avg = 0.0
    for t in range(n_t):
        orig_x = list(rec_x[t])
        orig_y = list(rec_y[t])
        for a in range(n_lv, -1, -1):
            r = avg[t][a]
            xr = yr = 1.0
            if a != 0:
                l = a - 1
                out_x[l][t], out_y[l][t] = mx[t][a], my[t][a]
                out_avg[l][t] = float(replication[l]) * r
                # an expansion already reduced to 0 (a density of 0) leaves nothing to scale below: Timeloop's
                # 0/0 here is NaN; the levels below were scaled to 0 with it
                xr = mx[t][a] / orig_x[l] if orig_x[l] else 1.0
                yr = my[t][a] / orig_y[l] if orig_y[l] else 1.0
            else:
                c_x = mx[t][0] if t == 0 else max(c_x, mx[t][0])
                c_y = my[t][0] if t == 0 else max(c_y, my[t][0])
                rep = float(compute_rep) * r
                c_avg = rep if t == 0 else max(c_avg, rep)
            if a < n_lv and skip_mask[a][t]:
                saf[(a, t)] = 1.0 - r
            if xr != 1.0 or yr != 1.0:
                cross = False
                for inner in range(a - 1, -1, -1):
                    if skip_mask[inner][t]:
                        cross = True
                    if not cross:
                        avg[t][inner] *= r
                    mx[t][inner] = int(mx[t][inner] * xr)
                    my[t][inner] = int(my[t][inner] * yr)
    res = SpatialSkipResult(out_x, out_y, out_avg, c_x, c_y, c_avg, saf)
    # reduced fan-outs against the hardware's (l. 1031-1082)
    for t in range(n_t):
        for a in range(n_lv - 1, -1, -1):
            fx, fy = an.arch.fanout(a)
            need_x = mx[t][a] // max(mx[t][a + 1], 1)
            need_y = my[t][a] // max(my[t][a + 1], 1)
            if need_x > fx or need_y > fy:
                name = "compute" if a == 0 else an.arch.storage[a - 1].name
                res.fail_level = name
                axis, need, have = ("X", need_x, fx) if need_x > fx else ("Y", need_y, fy)
                res.fail_reason = f"required fanout{axis} {need} does not meet hardware constraint {have}"
                return res
    # buffer / arithmetic mesh checks on the reduced expansions (buffer.cpp l. 1315-1326, arithmetic.cpp)
    for l, lv in enumerate(an.arch.storage):
        if max(out_x[l]) > lv.mesh_x or max(out_y[l]) > lv.mesh_y:
            res.fail_level = lv.name
            res.fail_reason = "mapped expansion exceeds available hardware instances"
            return res
    comp = an.arch.compute
    if c_x * c_y > comp.instances or c_x > comp.mesh_x or c_y > comp.mesh_y:
        res.fail_level = comp.name
        res.fail_reason = "mapped max Arithmetic instances exceed available hardware instances"
    return res
