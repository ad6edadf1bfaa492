"""Sparse modeling on top of the dense nest analysis (Sparseloop, Timeloop v3.0.3 `src/sparse-analysis/`).

The same steps, in the same order, as `PerformSparseProcessing` (sparse-analysis.cpp):

1. representation analysis (`representation-analyzer.cpp`): assign the level's loops to the ranks
   of its representation format (`ApplyRanksInnerToOuter` / `ApplyRanksOuterToInner`), fiber shapes,
   expected data and per-rank metadata occupancy over the tile's occupancy distribution
   (`CalculateExpectedOccupancy`, format models in `src/workload/format-models/`), and
   per-rank metadata reads/fills/updates (`CalculateExpectedMetaDataAccesses`);
2. storage gating/skipping (`storage-gs-analyzer.cpp`, `ComputeIneffectualReadImpact`);
3. combining them into fine-grained action counts (`storage-optimization-combiner.cpp`) and
   (de)compression counts;
4. compute classification (`compute-gs-analyzer.cpp`, `CalculateFineGrainedComputeAccesses2Operand`).

Everything here is per mapping (one row of a batch). Quirks of v3.0.3 that the reference outputs
show are kept and marked; the hypergeometric-1.0 and "first non-zero occupancy dropped" bugs are not
(see density.py).
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from ..errors import SpecError
from .arch import ArchModel, RankFormat, TensorFormat
from .density import ActualDensity, TensorDensity, build_density, joint_count
from .mapping import MappingBatch
from .nest import DenseNest
from .position_skip import check_covered as check_position_covered
from .position_skip import factors as position_factors
from .position_skip import issued_computes
from .position_skip import parse_options as parse_position_options
from .problem import ProblemModel
from .spatial_skip import SPATIAL_TEMPORAL_CLASH, analyze_spatial_skipping
from .spatial_skip import parse_options as parse_spatial_options

DATA_OPS = ("read", "fill", "update")


class Loop(msgspec.Struct):
    """One loop of Timeloop's complete loop nest (trivial loops included)."""

    dim: int
    end: int
    spatial: bool
    x: bool = False


class RankInfo(msgspec.Struct):
    """Parsed representation of one data space at one level (ranks innermost first, as Timeloop)."""

    formats: list[str]
    flatten: list[list[list[int]]]  # per rank: list of rules (each a list of dims)
    md_bits: list[int]
    pl_bits: list[int]
    inner_to_outer: bool
    compressed: bool

    @property
    def n_ranks(self) -> int:
        return len(self.formats)


class TileSparse(msgspec.Struct):
    """Sparse state of one (level, data space) tile."""

    kept: bool
    shape: int = 0
    has_metadata: bool = False
    compressed: bool = False
    ranks: RankInfo | None = None
    fiber_shape: list[int] = msgspec.field(default_factory=list)
    subtile_sizes: list[int] = msgspec.field(default_factory=list)  # len ranks + 1
    rank_loops: list[list[Loop]] = msgspec.field(default_factory=list)
    expected_density: float = 1.0
    expected_occupancy: float = 0.0
    expected_md: list[list[float]] = msgspec.field(default_factory=list)  # per rank [md units, pl units]
    md_word_bits: list[list[int]] = msgspec.field(default_factory=list)  # per rank [md bits, pl bits]
    avg_replication: float = 0.0
    max_data_occupancy: int = 0
    max_md_bits: int = 0
    parent: int | None = None
    child: int | None = None
    # fine-grained counts
    data: dict[str, float] = msgspec.field(default_factory=dict)
    fmt: dict[str, list[list[float]]] = msgspec.field(default_factory=dict)
    fmt_reads: list[list[float]] = msgspec.field(default_factory=list)
    fmt_fills: list[list[float]] = msgspec.field(default_factory=list)
    fmt_updates: list[list[float]] = msgspec.field(default_factory=list)
    temporal_reductions: float = 0.0
    saf: str | None = None  # gate | skip | spatial_skip
    saf_prob: float = 0.0
    max_xy: float | None = None  # utilized instances (max) after spatial skipping; None: the dense fan-out
    alg: dict[str, float] = msgspec.field(default_factory=dict)  # algorithmic (dense) read/fill/update
    op_ext: tuple | None = None  # operation-space extents of the tile (actual-data tile counting)
    saf_prob_ops: float | None = None  # actual data: P(condition empty) over all computes


class SparseResult(msgspec.Struct):
    """Everything the cost model needs after sparse processing of one mapping."""

    tiles: list[list[TileSparse]]  # [level][dataspace]
    random_computes: float
    gated_computes: float
    skipped_computes: float
    compute_avg_utilized: float
    compute_max_utilized: float | None = None  # after spatial skipping; None: the dense fan-out
    valid: bool = True
    fail_reason: str = ""
    fail_level: str | None = None


def _adjust_word_bits(
    specified: int | None, md_width: int, default_bits: int, where: str, level: str
) -> int:
    """`AdjustFormatWordBits` (sparse-optimization-parser.cpp): bump to a divisor of the width; a width of
    more bits than the level's metadata storage width is Timeloop's error ("specified format representation
    word bits > metadata storage width"). ``where``: ``metadata`` or ``payload``."""
    if specified is None:
        return default_bits
    bits = int(specified)
    if bits > md_width:
        # every divisor of the width is at most the width, so Timeloop's search from `bits` finds none and
        # it stops with that error (searching up to 2 * 10^30 here never ended)
        raise SpecError(
            f"{where} word bits {bits} at {level} exceed its metadata storage width ({md_width} bits); "
            "Timeloop stops here",
            key_path=f"sparse_optimizations.targets[{level}].representation_format.{where}_word_bits",
            fix=f"give at most {md_width} bits, or widen the level's metadata storage",
        )
    if bits != 0 and md_width % bits != 0:
        adjusted = bits
        while adjusted < bits * 2 and md_width % adjusted != 0:
            adjusted += 1
        bits = adjusted
    return bits


def _rank_info(
    fmt: TensorFormat, dims: tuple[str, ...], md_width: int, default_bits: int, level: str
) -> RankInfo:
    # Ranks are listed outermost first in the YAML; Timeloop parses them in reverse (rank 0 innermost).
    ranks: list[RankFormat] = list(reversed(fmt.ranks))
    names = [r.format.lower() for r in ranks]
    flatten = []
    for r in ranks:
        rules = []
        for group in r.flattened_rank_ids or ():
            rules.append([dims.index(d) for d in group if d in dims])
        flatten.append(rules)
    # A bitmask (B) rank defaults to 1 metadata bit per coordinate; every other format to the level's
    # metadata_datawidth (format-models/bitmask.cpp `ParseSpecs` vs the others' "unspecified").
    md_bits = [
        _adjust_word_bits(
            r.metadata_word_bits if r.metadata_word_bits is not None or r.format.lower() != "b" else 1,
            md_width, default_bits, "metadata", level,
        )
        for r in ranks
    ]
    pl_bits = [_adjust_word_bits(r.payload_word_bits, md_width, default_bits, "payload", level) for r in ranks]
    compressed = any(n in ("rle", "cp", "b") for n in names)
    order = (fmt.rank_application_order or "outer-to-inner").replace("_", "-")
    return RankInfo(names, flatten, md_bits, pl_bits, order == "inner-to-outer", compressed)


def _find_rule(info: RankInfo, rank: int, dim: int) -> list[int] | None:
    for rule in info.flatten[rank]:
        if dim in rule:
            return rule
    return None


def _ranks_inner_to_outer(inner_rank_id, loops, sub, info: RankInfo | None):
    has_md = info is not None
    n_ranks = info.n_ranks if has_md else 1
    rank_loops: list[list[Loop]] = []
    rank_sub: list[int] = []
    loop_id = 0
    r = inner_rank_id - 1
    corr = 1
    n = len(loops)
    while r < n_ranks - 1 and loop_id < n:
        trivial = True
        while trivial and loop_id < n:
            trivial = loops[loop_id].end <= 1
            if not trivial:
                break
            loop_id += 1
        if loop_id < n:
            r += 1
            nest: list[Loop] = []
            loop = loops[loop_id]
            rule: list[int] = []
            in_flat = False
            if not trivial:
                if has_md and info.flatten[r]:
                    found = _find_rule(info, r, loop.dim)
                    if found is not None:
                        rule = found
                        in_flat = True
                    else:
                        rank_loops.append([Loop(info.flatten[r][0][0], 1, False)])
                        rank_sub.append(corr)
                        continue
                if not has_md:
                    in_flat = True
                nest.append(loop)
                corr = sub[loop_id]
            loop_id += 1
            if loop_id < n and (not has_md or in_flat):
                loop = loops[loop_id]
                trivial = loop.end <= 1
                in_rule = loop.dim in rule
                while (not has_md) or in_rule or trivial:
                    if not trivial:
                        nest.append(loop)
                    loop_id += 1
                    if loop_id < n:
                        loop = loops[loop_id]
                        in_rule = loop.dim in rule
                        trivial = loop.end <= 1
                    else:
                        break
            rank_loops.append(nest)
            rank_sub.append(corr)
        corr = 1
    while r < n_ranks - 1:
        r += 1
        rank_loops.append([])
        rank_sub.append(sub[0] if sub else 1)
    more_needed = any(lp.end > 1 for lp in loops[loop_id:])
    return rank_loops, rank_sub, more_needed


def _ranks_outer_to_inner(inner_rank_id, loops, sub, info: RankInfo | None):
    has_md = info is not None
    n_ranks = info.n_ranks if has_md else 1
    rank_loops: list[list[Loop]] = []
    rank_sub: list[int] = []
    loop_id = len(loops) - 1
    r = n_ranks
    corr = 1
    while r > inner_rank_id and loop_id >= 0:
        trivial = True
        while trivial and loop_id >= 0:
            trivial = loops[loop_id].end <= 1
            if not trivial:
                break
            loop_id -= 1
        if loop_id >= 0:
            r -= 1
            nest: list[Loop] = []
            loop = loops[loop_id]
            rule: list[int] = []
            in_flat = False
            if not trivial:
                if has_md and info.flatten[r]:
                    found = _find_rule(info, r, loop.dim)
                    if found is not None:
                        rule = found
                        in_flat = True
                    else:
                        # Timeloop v3.0.3 appends this dummy rank at the END (push_back) here.
                        rank_loops.append([])
                        rank_sub.append(sub[0] if sub else 1)
                        continue
                if not has_md:
                    in_flat = True
                nest.append(loop)
                corr = sub[loop_id]
            loop_id -= 1
            if loop_id >= 0 and (not has_md or in_flat):
                loop = loops[loop_id]
                trivial = loop.end <= 1
                in_rule = loop.dim in rule
                while (not has_md) or in_rule or trivial:
                    if not trivial:
                        nest.append(loop)
                    loop_id -= 1
                    if loop_id >= 0:
                        loop = loops[loop_id]
                        in_rule = loop.dim in rule
                        trivial = loop.end <= 1
                    else:
                        break
            rank_loops.insert(0, nest)
            rank_sub.insert(0, corr)
        corr = 1
    while r > inner_rank_id:
        r -= 1
        rank_loops.insert(0, [])
        rank_sub.insert(0, sub[0] if sub else 1)
    more_needed = any(loops[j].end > 1 for j in range(loop_id, -1, -1))
    return rank_loops, rank_sub, more_needed


def _format_occupancy(name, max_fibers, fiber_shape, p_cur, p_next):
    """Per-rank (metadata units, payload units); `GetOccupancy` of each format model."""
    fibers = max_fibers * (1.0 - p_cur)
    if name == "uop":
        return np.zeros_like(fibers), fibers * (fiber_shape + 1)
    if name == "rle":
        units = fiber_shape * (1.0 - p_next) * fibers
        return units, units
    if name == "cp":
        units = np.ceil(fiber_shape * (1.0 - p_next)) * fibers
        return units, units
    if name == "b":
        return fibers * fiber_shape, fibers * np.ceil(fiber_shape * (1.0 - p_next))
    if name == "ub":
        ones = np.ones_like(fibers)
        return ones * max_fibers * fiber_shape, ones * max_fibers * fiber_shape
    raise ValueError(name)


class SparseAnalyzer:
    """Runs the Sparseloop analysis for single mappings of one (problem, architecture)."""

    def __init__(self, problem: ProblemModel, arch: ArchModel) -> None:
        self.problem = problem
        self.arch = arch
        self.densities = [build_density(ds, problem) for ds in problem.dataspaces]
        self.ranks: list[list[RankInfo | None]] = []
        for lv in arch.storage:
            row = []
            for ds in problem.dataspaces:
                fmt = lv.formats.get(ds.name)
                row.append(
                    None
                    if fmt is None
                    else _rank_info(fmt, problem.dims, lv.md_storage_width, lv.md_word_bits, lv.name)
                )
            self.ranks.append(row)
        names = list(problem.dataspace_names)
        # level -> list of groups; a group is (kind, [(target, [condition-on]), ...alternatives])
        self.gating: dict[int, list[tuple[str, list[tuple[int, list[int]]]]]] = {}
        # level -> [(target, [condition-on])]: `skipping-spatial` (spatial_skip.py)
        self.spatial: dict[int, list[tuple[int, list[int]]]] = {}
        # level -> [(target, [condition-on])]: `position-skipping` (position_skip.py, the artifact's DSTC)
        self.position: dict[int, list[tuple[int, list[int]]]] = {}
        for li, lv in enumerate(arch.storage):
            groups: dict[int, tuple[str, list[tuple[int, list[int]]]]] = {}
            for opt in lv.action_opts:
                kind = {"gating": "gate", "skipping": "skip", "skipping_spatial": "spatial",
                        "spatial_skipping": "spatial", "position_skipping": "position"}.get(opt.kind)
                if kind is None:
                    raise SpecError(
                        f"action optimization type {opt.kind!r} at {lv.name} is not modeled by sparse-hw's engine",
                        key_path=f"sparse_optimizations.targets[{lv.name}].action_optimization",
                        fix="use gating or skipping, or evaluate this design with --backend timeloop",
                    )
                unknown = [x for x in (opt.target, *opt.condition_on) if x not in names]
                if unknown:
                    raise SpecError(
                        f"action optimization at {lv.name} names unknown data space(s) {', '.join(unknown)}",
                        key_path=f"sparse_optimizations.targets[{lv.name}].action_optimization",
                        fix=f"use the problem's data spaces: {', '.join(names)}",
                    )
                cond = [names.index(c) for c in opt.condition_on]
                groups.setdefault(opt.group, (kind, []))[1].append((names.index(opt.target), cond))
            for g in [g for g in sorted(groups) if groups[g][0] == "position"]:
                self.position.setdefault(li, []).extend(groups.pop(g)[1])
            spatial = [groups.pop(g) for g in sorted(groups) if groups[g][0] == "spatial"]
            for _, options in spatial:
                if len(options) != 1:
                    # DefineSpatialOptimizationImpact asserts one option per group (storage-gs-analyzer.cpp)
                    raise SpecError(
                        f"skipping-spatial at {lv.name} lists {len(options)} alternative options; "
                        "Sparseloop takes exactly one",
                        key_path=f"sparse_optimizations.targets[{lv.name}].action_optimization",
                        fix="give each skipping-spatial entry one target",
                    )
                self.spatial.setdefault(li, []).append(options[0])
            if groups:
                self.gating[li] = [groups[g] for g in sorted(groups)]
        parse_spatial_options(arch, self.spatial, names)
        parse_position_options(arch, problem, self.gating, self.spatial, self.position)
        check_position_covered(arch, problem, self.ranks, self.position)
        for li, options in self.position.items():
            if any(isinstance(self.densities[t], ActualDensity) for t, _ in options):
                raise SpecError(
                    f"position-skipping at {arch.storage[li].name} of an operand with actual data is not modeled",
                    key_path=f"sparse_optimizations.targets[{arch.storage[li].name}].action_optimization",
                    fix="give the operand a statistical density model, or use --backend timeloop",
                )
        copts = set(arch.compute.compute_opts)
        bad = copts - {"gating", "skipping", "gate_on_zero_operand", "gate-on-zero-operand",
                       "skip_on_not_aligned_operands"}
        if bad:
            raise SpecError(
                f"compute optimization {', '.join(sorted(bad))} is not known",
                key_path=f"sparse_optimizations.targets[{arch.compute.name}].compute_optimization",
                fix="use gating or skipping",
            )
        self.gate_on_zero = bool(copts & {"gating", "gate_on_zero_operand", "gate-on-zero-operand"})
        self.skip_unaligned = bool(copts & {"skipping", "skip_on_not_aligned_operands"})
        self.needed = bool(any(lv.formats or lv.action_opts for lv in arch.storage) or copts)
        self.relevant = [set(np.nonzero(ds.relevant())[0].tolist()) for ds in problem.dataspaces]
        self._coord_terms = [
            [[(int(d), int(row[d])) for d in np.nonzero(row)[0]] for row in ds.coef] for ds in problem.dataspaces
        ]
        self._has_fanout = [arch.fanout(l)[0] * arch.fanout(l)[1] > 1 for l in range(arch.n_levels)]
        # (level, data space, what the tile's occupancy depends on) -> `_expected_occupancy_t`'s results:
        # mapper batches share most tiles between structures (issue 15, item 14: mapper speed)
        self._occupancy_memo: dict[tuple, tuple] = {}
        self._formats_memo: dict[tuple, tuple] = {}  # likewise `_define_formats_t`'s, per level

    # ------------------------------------------------------------------ loops and molds
    def complete_subnests(self, mb: MappingBatch, i: int) -> list[list[Loop]]:
        """Timeloop's complete loop nest per storage level, innermost first (spatial, then temporal)."""
        out = []
        temporal = mb.temporal[i].tolist()
        spatial = mb.spatial[i].tolist()
        perm = mb.perm[i].tolist()
        sperm = mb.spatial_perm[i].tolist()
        split = mb.split[i].tolist()
        for li in range(self.arch.n_levels):
            loops: list[Loop] = []
            if self._has_fanout[li]:
                sp = split[li]
                loops.extend(Loop(d, spatial[li][d], True, pos < sp) for pos, d in enumerate(sperm[li]))
            loops.extend(Loop(d, temporal[li][d], False) for d in perm[li])
            out.append(loops)
        return out

    def _molds(self, subnests):
        """Cumulative dim extents after each loop (Timeloop's maxtile molds), per level, as tuples."""
        ext = [1] * self.problem.n_dims
        molds = []
        for loops in subnests:
            row = []
            for lp in loops:
                if lp.end != 1:
                    ext = list(ext)
                    ext[lp.dim] *= lp.end
                    ext = tuple(ext)
                row.append(tuple(ext) if isinstance(ext, list) else ext)
            molds.append(row)
        return molds

    def _size(self, t: int, extents) -> int:
        """Size of the projection of a box with the given dim extents (pure Python, hot path)."""
        size = 1
        for coord in self._coord_terms[t]:
            e = 1
            for d, c in coord:
                e += c * (extents[d] - 1)
            size *= e
        return size

    # ------------------------------------------------------------------ main entry
    def _init_tiles(self, nest: DenseNest, i: int, columns) -> list[list[TileSparse]]:
        """Tiles of mapping i for the given data spaces (others stay empty, kept=False)."""
        prob = self.problem
        n_lv = self.arch.n_levels
        # the other data spaces' cells share one never-written empty tile (callers read only their
        # `kept`); building a tile per cell was most of the mapper's per-structure cost (issue 15, item 14)
        empty = TileSparse(kept=False)
        tiles = [[empty] * len(prob.dataspaces) for _ in range(n_lv)]
        # mapping i's rows as Python numbers once (indexing numpy scalars one by one cost more)
        keep, size, utilized = nest.keep[i].tolist(), nest.tile_size[i].tolist(), nest.utilized[i].tolist()
        reads, fills, updates = nest.reads[i].tolist(), nest.fills[i].tolist(), nest.updates[i].tolist()
        for t in columns:
            rw = prob.dataspaces[t].read_write
            for l in range(n_lv):
                tile = TileSparse(kept=bool(keep[l][t]))
                tiles[l][t] = tile
                if not tile.kept:
                    continue
                tile.shape = int(size[l][t])
                tile.avg_replication = float(utilized[l])
                tile.alg = {"read": float(reads[l][t]), "fill": float(fills[l][t]), "update": float(updates[l][t])}
                tile.data = {f"random_{op}": v for op, v in tile.alg.items()}
                tile.temporal_reductions = float(reads[l][t] if rw else 0.0)
                if self.ranks[l][t] is not None:
                    tile.ranks = self.ranks[l][t]
                    tile.has_metadata = True
                    tile.compressed = tile.ranks.compressed
            kept = [l for l in range(n_lv) if tiles[l][t].kept]
            for pos, l in enumerate(kept):
                tiles[l][t].parent = kept[pos + 1] if pos + 1 < len(kept) else None
                tiles[l][t].child = kept[pos - 1] if pos > 0 else None
        return tiles

    def column_state(self, tiles, subnests, molds, t: int) -> tuple[bool, str | None, str | None]:
        """Representation analysis of one data space: formats, expected occupancies, capacities.

        Depends only on the data space's own loops and keep choices, so results can be shared by
        every mapping with the same structure for it. Returns (ok, failing level, reason).
        """
        ok, level, reason = self._check_formats_t(tiles, t)
        if not ok:
            return ok, level, reason
        ok, level, reason = self._define_formats_t(tiles, subnests, molds, t)
        if not ok:
            return ok, level, reason
        if isinstance(self.densities[t], ActualDensity):
            for l in range(self.arch.n_levels):
                tiles[l][t].op_ext = molds[l][-1] if molds[l] else None
        self._expected_occupancy_t(tiles, t)
        return True, None, None

    def analyze(self, nest: DenseNest, mb: MappingBatch, i: int) -> SparseResult:
        n_t = len(self.problem.dataspaces)
        tiles = self._init_tiles(nest, i, range(n_t))
        total_computes = float(nest.ops[i] * nest.compute_utilized[i])
        result = SparseResult(tiles, total_computes, 0.0, 0.0, float(nest.compute_utilized[i]))
        if not self.needed:
            self._finish_dense(tiles)
            self._capacity(tiles, result)
            return result
        subnests = self.complete_subnests(mb, i)
        molds = self._molds(subnests)
        for t in range(n_t):
            ok, level, reason = self.column_state(tiles, subnests, molds, t)
            if not ok:
                result.valid = False
                result.fail_level = level
                result.fail_reason = reason
                return result
        self._metadata_accesses(tiles, nest, i)
        self._storage_safs(tiles, subnests, molds)
        if self.spatial and not self._spatial_skipping(tiles, subnests, molds, nest, i, result):
            return result
        compute_saf = self._combine(tiles, result)
        self._compute(tiles, result, compute_saf)
        if self.position and not self._position_skipping(tiles, subnests, result, total_computes):
            return result
        self._capacity(tiles, result)
        return result

    def position_levels_ok(self, tiles) -> tuple[str, str] | None:
        """(level, reason) where a position-skipping target is not held right above the compute units."""
        names = self.problem.dataspace_names
        for level, options in self.position.items():
            for t, _ in options:
                tile = tiles[level][t]
                if not tile.kept or tile.child is not None:
                    where = "bypasses" if not tile.kept else "is kept below"
                    return self.arch.storage[level].name, (
                        f"position-skipping target {names[t]} {where} this level; the DSTC form needs it "
                        "held here, right above the compute units")
        return None

    def _position_skipping(self, tiles, subnests, result, total_computes: float) -> bool:
        """Apply position skipping (position_skip.py) to mapping i's counts; False if the mapping is invalid."""
        bad = self.position_levels_ok(tiles)
        if bad is not None:
            result.valid, result.fail_level, result.fail_reason = False, bad[0], bad[1]
            return False
        util = density = 1.0
        for level, options in self.position.items():
            targets = [t for t, _ in options]
            f = position_factors(self, subnests[level], {t: tiles[level][t].shape for t in targets}, targets)
            for t in targets:
                tile = tiles[level][t]
                tile.data["random_read"] = math.ceil(tile.data["random_read"] * f.read_scale[t] - 1e-9)
            util *= f.utilization
            density *= f.density
        result.random_computes = issued_computes(total_computes, density)
        result.gated_computes = result.skipped_computes = 0.0
        result.compute_avg_utilized *= util
        return True

    def spatial_skip(self, tiles, subnests, molds, nest: DenseNest, i: int):
        """`analyze_spatial_skipping` of mapping i (one call for this path and the batch path)."""
        return analyze_spatial_skipping(
            self, tiles, subnests, molds, self.spatial,
            nest.x_expansion[i].tolist(), nest.y_expansion[i].tolist(), nest.utilized[i].tolist(),
            int(nest.compute_x[i]), int(nest.compute_y[i]), float(nest.compute_utilized[i]),
        )

    def _spatial_skipping(self, tiles, subnests, molds, nest, i, result) -> bool:
        """Apply `analyze_spatial_skipping` to mapping i's tiles; False (result invalid) if it fails."""
        ss = self.spatial_skip(tiles, subnests, molds, nest, i)
        fail = (ss.fail_level, ss.fail_reason) if ss.fail_level else None
        for (l, t), p in ss.saf.items():
            tile = tiles[l][t]
            if fail is None and tile.saf is not None and tile.saf_prob != 0:
                fail = (self.arch.storage[l].name, SPATIAL_TEMPORAL_CLASH)
            tile.saf, tile.saf_prob = "spatial_skip", p
        if fail is not None:
            result.valid, result.fail_level, result.fail_reason = False, fail[0], fail[1]
            return False
        for l in range(self.arch.n_levels):
            for t, tile in enumerate(tiles[l]):
                if tile.kept:
                    tile.avg_replication = ss.avg_replication[l][t]
                    tile.max_xy = float(ss.max_x[l][t] * ss.max_y[l][t])
        result.compute_avg_utilized = ss.compute_avg
        result.compute_max_utilized = float(ss.compute_max_x * ss.compute_max_y)
        return True

    def _finish_dense(self, tiles):
        for row in tiles:
            for tile in row:
                if tile.kept:
                    tile.max_data_occupancy = tile.shape
                    tile.expected_occupancy = float(tile.shape)

    # ------------------------------------------------------------------ format checks
    def _check_formats_t(self, tiles, t: int):
        """`CheckFormatModelsAndMapping`: (de)compression between levels must be supported."""
        arch = self.arch
        ds = self.problem.dataspaces[t]
        parent_compressed = None
        for l in range(arch.n_levels - 1, -1, -1):
            tile = tiles[l][t]
            if not tile.kept:
                continue
            if parent_compressed is None:
                parent_compressed = tile.compressed
                continue
            lv = arch.storage[l]
            if parent_compressed and not tile.compressed and not lv.decompression_supported:
                return False, lv.name, (
                    f"{ds.name} arrives compressed from the level above but {lv.name} neither stores it "
                    "compressed nor supports decompression (attribute decompression_supported)"
                )
            if ds.read_write and parent_compressed and not tile.compressed and not lv.compression_supported:
                return False, lv.name, (
                    f"{ds.name} must be compressed by {lv.name} before it is written to the level above, "
                    "but compression_supported is false there"
                )
            parent_compressed = tile.compressed
        return True, None, None

    # ------------------------------------------------------------------ representation analysis
    def _define_formats_t(self, tiles, subnests, molds, t: int):
        """`DefineCompressionFormatModels` for one data space: ranks, loops and fiber shapes.

        A level's result depends only on the keep flags, tile sizes and the loops over the data space's own
        dims (in order) at and below it, so it is kept per those (mapper batches repeat the inner levels
        across structures, issue 15, item 14). Other dims' loops change neither the loops nor the tile
        sizes (`_size`) the ranks see."""
        rel = self.relevant[t]
        below: tuple = ()
        for l in range(self.arch.n_levels):
            tile = tiles[l][t]
            own = tuple((lp.dim, lp.end, lp.spatial, lp.x) for lp in subnests[l] if lp.dim in rel)
            below = (below, tile.kept, tile.shape, own)
            if not tile.kept:
                continue
            # Every kept level gets a rank structure (one rank holding every loop when it has no
            # format): a compressed parent pre-tiles with its child's ranks. Levels without a format
            # whose parent is not compressed need none.
            if not tile.has_metadata and (tile.parent is None or not tiles[tile.parent][t].compressed):
                continue
            key = (t, l, below)
            got = self._formats_memo.get(key)
            if got is None:
                got = self._define_level(tiles, subnests, molds, t, l)
                if len(self._formats_memo) < 200_000:
                    self._formats_memo[key] = got
            if got[0] is False:
                if len(got) > 3:
                    tile.rank_loops, tile.subtile_sizes = list(got[3]), list(got[4])
                return got[:3]
            tile.rank_loops, tile.subtile_sizes, tile.fiber_shape = list(got[0]), list(got[1]), list(got[2])
        return True, None, None

    def _define_level(self, tiles, subnests, molds, t: int, l: int) -> tuple:
        """One level of `_define_formats_t`: (rank loops, subtile sizes, fiber shapes), or its failure."""
        prob = self.problem
        arch = self.arch
        n_dims = prob.n_dims
        rel = self.relevant[t]
        tile = tiles[l][t]
        child = tile.child
        inner_most = 0 if child is None else child + 1
        info = tile.ranks if tile.has_metadata else None
        n_ranks = info.n_ranks if info is not None else 1
        child_tile = tiles[child][t] if child is not None else None
        pre_tiling = bool(tile.compressed and child is not None and child_tile.shape > 1)
        child_ranks = 0
        if child is not None:
            child_ranks = child_tile.ranks.n_ranks if child_tile.has_metadata else 1
        if pre_tiling:
            if child_ranks > n_ranks:
                return self._fail(l, f"pre-tiling of {prob.dataspaces[t].name} needs the "
                                  f"{child_ranks} ranks of {arch.storage[child].name} but "
                                  f"{arch.storage[l].name} supports {n_ranks}")
            if child_tile.compressed:
                for r in range(child_ranks):
                    if info is None or info.formats[r] != child_tile.ranks.formats[r]:
                        return self._fail(l, f"pre-tiling of {prob.dataspaces[t].name}: rank {r} "
                                          f"format {info.formats[r]} differs from "
                                          f"{arch.storage[child].name}'s {child_tile.ranks.formats[r]}")
        loops: list[Loop] = []
        sub: list[int] = []
        for lv in range(inner_most, l + 1):
            for j, lp in enumerate(subnests[lv]):
                if lp.dim in rel:
                    loops.append(Loop(lp.dim, lp.end, lp.spatial, lp.x))
                    sub.append(self._size(t, molds[lv][j]))
        if not pre_tiling:
            sizes = [1] * n_dims  # Python ints: numpy scalars one at a time cost more, same values
            for lv in range(inner_most):
                for lp in subnests[lv]:
                    sizes[lp.dim] *= lp.end
            for lp in loops:
                lp.end = lp.end * int(sizes[lp.dim])
                sizes[lp.dim] = 1
        inner_rank_id = child_ranks if pre_tiling else 0
        apply = _ranks_inner_to_outer if (info is not None and info.inner_to_outer) else _ranks_outer_to_inner
        rank_loops, rank_sub, more = apply(inner_rank_id, loops, sub, info)
        if more:
            return self._fail(
                l,
                f"more compression ranks needed than supported in hardware for "
                f"{prob.dataspaces[t].name} at {arch.storage[l].name}: its {n_ranks}-rank format cannot "
                "hold every non-trivial loop of this mapping",
            )
        if pre_tiling:
            rank_loops = list(child_tile.rank_loops[:child_ranks]) + rank_loops
            rank_sub = list(child_tile.subtile_sizes[1 : child_ranks + 1]) + rank_sub
            first = child_tile.subtile_sizes[0] if child_tile.subtile_sizes else 1
        else:
            first = 1
        if len(rank_loops) != n_ranks:  # (the tile keeps what was matched, as before the memo)
            return (*self._fail(l, f"format of {prob.dataspaces[t].name} at "
                                f"{arch.storage[l].name} could not be matched to the mapping's loops"),
                    rank_loops, [first] + rank_sub)
        fibers = []
        for rl in rank_loops:
            ext = [1] * n_dims
            for lp in rl:
                ext[lp.dim] *= lp.end
            fibers.append(self._size(t, ext))
        return rank_loops, [first] + rank_sub, fibers

    def _fail(self, level: int, reason: str):
        return False, self.arch.storage[level].name, reason

    def _metadata_given(self, tile: TileSparse, dens: TensorDensity, ks: np.ndarray):
        """Per-rank (md, pl) units for each possible tile occupancy k (`GetMetaDataTileOccupancyGivenDataTile`)."""
        info = tile.ranks
        n_ranks = info.n_ranks
        big_t = float(tile.shape)
        max_fibers = 1.0
        cur_size = tile.shape
        md = np.zeros((n_ranks, len(ks)))
        pl = np.zeros((n_ranks, len(ks)))
        empty_rank = [False] * n_ranks
        for r in range(n_ranks - 1, -1, -1):
            fiber = tile.fiber_shape[r]
            nxt = tile.subtile_sizes[r]
            top = (r == 0) if info.inner_to_outer else (r == n_ranks - 1)
            if fiber == 1 and not top:
                empty_rank[r] = True
            else:
                p_cur = dens.p_empty_given(cur_size, big_t, ks)
                p_next = dens.p_empty_given(nxt, big_t, ks)
                m, p = _format_occupancy(info.formats[r], max_fibers, float(fiber), p_cur, p_next)
                md[r] = m
                pl[r] = p
            max_fibers *= fiber
            cur_size = nxt
        # The innermost non-empty rank carries the data itself: its payload is not metadata.
        nonempty = (md > 0) | (pl > 0)  # [ranks, k]
        first = np.argmax(nonempty, axis=0)
        has = nonempty.any(axis=0)
        cols = np.nonzero(has)[0]
        pl[first[cols], cols] = 0.0
        return md, pl, empty_rank

    def _expected_occupancy_t(self, tiles, t: int):
        """`CalculateExpectedOccupancy` for one data space."""
        dens = self.densities[t]
        for l in range(self.arch.n_levels):
            tile = tiles[l][t]
            if not tile.kept or tile.shape == 0:
                continue
            parent = tile.parent
            parent_md = parent is not None and tiles[parent][t].has_metadata
            # the rest of a tile's state is fixed per (level, data space): its ranks, density model
            key = (l, t, tile.shape, tile.op_ext, parent_md,
                   tuple(tile.fiber_shape) if tile.has_metadata else None,
                   tuple(tile.subtile_sizes) if tile.has_metadata else None)
            memo = self._occupancy_memo.get(key)
            if memo is None:
                memo = self._tile_occupancy(tile, dens, parent_md)
                if len(self._occupancy_memo) < 200_000:
                    self._occupancy_memo[key] = memo
            nonempty, tile.expected_occupancy, tile.expected_density, tile.max_data_occupancy, md, bits, top = memo
            if nonempty is not None:
                tile.avg_replication *= nonempty
            if tile.has_metadata:
                tile.expected_md = [list(r) for r in md]
                tile.md_word_bits = [list(r) for r in bits]
                tile.max_md_bits = top

    def _tile_occupancy(self, tile: TileSparse, dens, parent_md: bool) -> tuple:
        """One tile's `CalculateExpectedOccupancy`: (P(nonempty) its average instances scale by, or None;
        expected occupancy, density, max data occupancy; per-rank expected (md, pl) units, word bits, max
        metadata bits) -- these last three None without metadata."""
        nonempty = None
        ext = {} if tile.op_ext is None else {"ext": tile.op_ext}
        ks, ps = dens.occupancy_distribution(tile.shape, **ext)
        ps = ps.copy()
        if parent_md and ks[0] == 0 and ps[0] > 0:
            # Empty tiles are not transferred when the parent has metadata: condition on
            # non-empty (`CalculateExpectedOccupancy`).
            p0 = ps[0]
            nonempty = 1.0 - p0
            # a tile that is always empty (density 0) has no nonempty occupancy to condition on: none
            ps = ps / nonempty if nonempty > 0 else np.zeros_like(ps)
            ps[0] = 0.0
        occupancy = float(np.dot(ps, ks))
        max_occ = dens.max_occupancy(tile.shape, **ext) if tile.has_metadata else tile.shape
        if not tile.has_metadata:
            return nonempty, occupancy, occupancy / tile.shape, max_occ, None, None, None
        md, pl, empty_rank = self._metadata_given(tile, dens, ks)
        expected_md = [[float(np.dot(md[r], ps)), float(np.dot(pl[r], ps))] for r in range(len(md))]
        info = tile.ranks
        word_bits = [[0, 0] if empty_rank[r] else [info.md_bits[r], info.pl_bits[r]] for r in range(info.n_ranks)]
        kmax = np.array([float(max_occ)])
        mdx, plx, _ = self._metadata_given(tile, dens, kmax)
        bits = sum(mdx[r, 0] * word_bits[r][0] + plx[r, 0] * word_bits[r][1] for r in range(info.n_ranks))
        max_bits = int(math.ceil(bits - 1e-9))
        return nonempty, occupancy, occupancy / tile.shape, max_occ, expected_md, word_bits, max_bits

    def _metadata_accesses(self, tiles, nest, i):
        for row in tiles:
            for tile in row:
                if not tile.kept or tile.shape == 0 or not tile.has_metadata:
                    continue
                ratios = {op: tile.alg[op] / tile.shape for op in DATA_OPS}
                for op, ratio in ratios.items():
                    counts = [[math.ceil(m * ratio - 1e-9), math.ceil(p * ratio - 1e-9)] for m, p in tile.expected_md]
                    setattr(tile, f"fmt_{op}s", counts)

    # ------------------------------------------------------------------ storage SAFs
    def _storage_safs(self, tiles, subnests, molds):
        """`DefineStorageOptimizationImpact`: gating first, then skipping, level by level."""
        for want in ("gate", "skip"):
            for level, groups in sorted(self.gating.items()):
                for kind, options in groups:
                    if kind != want:
                        continue
                    best = None
                    best_savings = 0.0
                    for target, cond in options:
                        impact = self._saf_impact(tiles, subnests, molds, level, target, cond, ops=True)
                        if impact is None:
                            continue
                        tlevel, p, occupancy, p_ops = impact
                        lv = self.arch.storage[tlevel]
                        savings = lv.op_energy["random_read"] / lv.block_size * occupancy * p
                        if savings >= best_savings:
                            best_savings = savings
                            best = (target, tlevel, p, p_ops)
                    if best is None:
                        continue
                    target, tlevel, p, p_ops = best
                    tile = tiles[tlevel][target]
                    if tile.saf is None or tile.saf_prob < p:
                        tile.saf = kind
                        tile.saf_prob = p
                        tile.saf_prob_ops = p_ops

    def _saf_impact(self, tiles, subnests, molds, level, target, cond, ops=False):
        """`ComputeIneffectualReadImpact`: (target level, P(target access ineffectual), occupancy),
        and with ``ops`` the actual-data P(condition empty) over all computes (None: statistical)."""
        prob = self.problem
        n_lv = self.arch.n_levels
        tlevel = level
        if not tiles[level][target].kept:
            tlevel = next((l for l in range(level + 1, n_lv) if tiles[l][target].kept), None)
            if tlevel is None:
                return None
        child = tiles[tlevel][target].child
        child_level = -1 if child is None else child
        rel_t = self.relevant[target]
        found = False
        scalar = False
        t_loop = None
        t_level = tlevel
        t_id = 0
        for l in range(child_level + 1, tlevel + 1):
            loops = subnests[l]
            for j, lp in enumerate(loops):
                if child_level != -1:
                    if lp.end > 1 and lp.dim in rel_t:
                        found = True
                else:
                    nxt_spatial = j + 1 < len(loops) and loops[j + 1].spatial
                    if not nxt_spatial:
                        found = True
                        if not lp.spatial:
                            scalar = True
                    elif lp.dim in rel_t and lp.end > 1:
                        found = True
                if found:
                    t_loop, t_level, t_id = lp, l, j
                    break
            if found:
                break
        if not found:
            t_level = tlevel
            t_id = len(subnests[tlevel]) - 1
            t_loop = subnests[tlevel][t_id]
        n_dims = prob.n_dims
        mold = [1] * n_dims if scalar else list(molds[t_level][t_id])
        cond_mold = list(mold)
        is_spatial = t_loop.spatial
        relevant_loops = [t_loop]
        locate = not is_spatial
        for l in range(t_level, tlevel + 1):
            start = t_id + 1 if l == t_level else 0
            for lp in subnests[l][start:]:
                if lp.end <= 1:
                    continue
                non_target_above_spatial = (not locate) and (not lp.spatial) and child_level != -1 and (
                    lp.dim not in rel_t
                )
                if lp.spatial or non_target_above_spatial:
                    cond_mold[lp.dim] *= lp.end
                    relevant_loops.append(lp)
                if is_spatial and not lp.spatial and (child_level == -1 or lp.dim in rel_t):
                    locate = True
        effectual = 1.0
        block = self.arch.storage[tlevel].block_size
        used: list[tuple[int, tuple]] = []
        tmold = list(mold)
        for c in cond:
            rel_c = self.relevant[c]
            co_dims = rel_t & rel_c
            tmold = list(mold)
            cmold = list(cond_mold)
            ineffective = False
            is_co = False
            factors: dict[int, float] = {}
            agg = 1.0
            if not scalar:
                for lp in relevant_loops:
                    if is_spatial and is_co and lp.dim in rel_c:
                        ineffective = True
                        break
                    if lp.dim in co_dims:
                        factors[lp.dim] = factors.get(lp.dim, 1.0) * lp.end
                        agg *= lp.end
                        is_co = True
            if ineffective:
                continue
            granularity = self._size(target, tmold)
            scaling = math.ceil(block / (granularity / agg))
            for d, f in sorted(factors.items()):
                eff = f / scaling
                tmold[d] = math.ceil(tmold[d] / eff)
                cmold[d] = math.ceil(cmold[d] / eff)
                scaling = scaling / f
            if scaling > 1:
                cmold[t_loop.dim] = int(cmold[t_loop.dim] * scaling)
                tmold[t_loop.dim] = int(tmold[t_loop.dim] * scaling)
            cgran = self._size(c, cmold)
            effectual *= 1.0 - float(self.densities[c].p_empty(cgran))
            used.append((c, tuple(cmold)))
        p_ops = None
        if used and all(isinstance(self.densities[c], ActualDensity) for c, _ in used):
            effectual, p_ops = self._actual_effectual(tiles[tlevel][target], target, tmold, used, effectual)
        occupancy = tiles[tlevel][target].expected_occupancy
        lv = self.arch.storage[tlevel]
        md_source = tiles[tlevel if child is None else child][target]
        # v3.0.3 converts metadata units to words with an integer division of bit widths.
        ratio = lv.md_word_bits // lv.word_bits if lv.word_bits else 0
        occupancy += sum(m + q for m, q in md_source.expected_md) * ratio
        if ops:
            return tlevel, 1.0 - effectual, occupancy, p_ops
        return tlevel, 1.0 - effectual, occupancy

    def _actual_effectual(self, tile, target, tmold, used, statistical):
        """Actual data: (P(target access effectual), P(condition empty) over all computes).

        Counted, not multiplied: the computes where every condition tile holds a nonzero. A target
        kept compressed is read only where it is nonzero, so its accesses are conditioned on that
        (the artifact's L07: 1,702,140 of 2,182,144 weight reads are effectual, not 72.8 %). The
        computes a storage SAF removes take the unconditioned probability (its 1,140,479 of
        4,194,304 = the input mask's 27.19 % zeros)."""
        bounds = self.problem.bounds
        macs = float(self.problem.macs)
        terms = [(self.densities[c], m) for c, m in used]
        n_all = joint_count(terms, bounds)
        if n_all is None or macs <= 0:
            return statistical, None
        effectual = n_all / macs
        tdens = self.densities[target]
        if tile.has_metadata and isinstance(tdens, ActualDensity):
            own = joint_count([(tdens, tuple(tmold))], bounds)
            both = joint_count(terms + [(tdens, tuple(tmold))], bounds)
            if own and both is not None:
                effectual = both / own
        return effectual, 1.0 - n_all / macs

    # ------------------------------------------------------------------ combine
    def _combine(self, tiles, result) -> dict[int, float]:
        """Fine-grained counts; returns, per operand optimized down to compute, P(condition empty)."""
        prob = self.problem
        compute_saf: dict[int, float] = {}
        n_lv = self.arch.n_levels
        # ProcessDataReprImpactOnStorageAccesses
        for row in tiles:
            for t, tile in enumerate(row):
                if tile.kept and tile.has_metadata:
                    sparsity = 1.0 - tile.expected_density
                    for op in ("read", "fill") + (("update",) if prob.dataspaces[t].read_write else ()):
                        n = tile.data[f"random_{op}"]
                        tile.data[f"random_{op}"] = n - math.floor(n * sparsity + 1e-9)
        max_computes = result.random_computes
        for t, ds in enumerate(prob.dataspaces):
            mx = {
                l: {
                    "read": tiles[l][t].data.get("random_read", 0.0),
                    "fill": tiles[l][t].data.get("random_fill", 0.0),
                    "update": tiles[l][t].data.get("random_update", 0.0),
                }
                for l in range(n_lv)
            }
            mfmt = {
                l: {
                    "read": [list(x) for x in tiles[l][t].fmt_reads],
                    "fill": [list(x) for x in tiles[l][t].fmt_fills],
                    "update": [list(x) for x in tiles[l][t].fmt_updates],
                }
                for l in range(n_lv)
            }
            finalized = [False] * n_lv
            for l in range(n_lv - 1, -1, -1):
                tile = tiles[l][t]
                if tile.saf is None:
                    continue
                p = tile.saf_prob
                imp = l - 1
                while imp >= 0:
                    for op in DATA_OPS:
                        mx[imp][op] -= math.floor(mx[imp][op] * p + 1e-9)
                    if tiles[imp][t].has_metadata:
                        # v3.0.3 ScalePerTileFormatAccesses(lo=min(...), hi=0): scales rank 0 only, and
                        # only when lo == 0 (quirk kept).
                        lo_fill = min(len(mfmt[imp]["fill"]), len(mfmt[l]["read"]) - 1)
                        lo_read = min(len(mfmt[imp]["read"]), len(mfmt[l]["read"]) - 1)
                        lo_upd = len(mfmt[imp]["update"])
                        for op, lo in (("fill", lo_fill), ("read", lo_read), ("update", lo_upd)):
                            if lo == 0 and mfmt[imp][op]:
                                mfmt[imp][op][0] = [v - math.floor(v * p + 1e-9) for v in mfmt[imp][op][0]]
                    inner = tiles[imp][t]
                    if inner.saf is not None:
                        eff = 1.0 - ((1.0 - inner.saf_prob) / (1.0 - p)) if p < 1 else 1.0
                        inner.data["random_fill"] = mx[imp]["fill"]
                        inner.data["random_read"] = mx[imp]["read"]
                        inner.data["random_update"] = mx[imp]["update"]
                        inner.fmt["random_metadata_fill"] = mfmt[imp]["fill"]
                        # v3.0.3 quirk: metadata reads are set from the max format *updates* here.
                        inner.fmt["random_metadata_read"] = [list(x) for x in mfmt[imp]["update"]]
                        inner.fmt["random_metadata_update"] = mfmt[imp]["update"]
                        if inner.saf != "spatial_skip":  # it removes instances, not accesses
                            self._apply_local_saf(tiles, t, imp, eff)
                        finalized[imp] = True
                        break
                    imp -= 1
                if not finalized[l]:
                    finalized[l] = True
                    tile.data["random_fill"] = mx[l]["fill"]
                    tile.data["random_read"] = mx[l]["read"]
                    tile.data["random_update"] = mx[l]["update"]
                    tile.fmt["random_metadata_fill"] = mfmt[l]["fill"]
                    tile.fmt["random_metadata_read"] = mfmt[l]["read"]
                    tile.fmt["random_metadata_update"] = mfmt[l]["update"]
                    if tile.saf != "spatial_skip":
                        self._apply_local_saf(tiles, t, l, p)
                if imp < 0 and not ds.read_write:
                    # Computes removed by a storage SAF on the innermost operand level simply vanish.
                    p_ops = p if tile.saf_prob_ops is None else tile.saf_prob_ops
                    max_computes -= math.floor(max_computes * p_ops + 1e-9)
                    compute_saf[t] = round(p * 1_000_000) / 1_000_000
            for l in range(n_lv):
                tile = tiles[l][t]
                # levels with only spatial skipping are finalized here too (combiner l. 329-345)
                if tile.saf in (None, "spatial_skip") and tile.kept:
                    tile.data["random_fill"] = mx[l]["fill"]
                    tile.data["random_read"] = mx[l]["read"]
                    tile.data["random_update"] = mx[l]["update"]
                    tile.fmt["random_metadata_fill"] = mfmt[l]["fill"]
                    tile.fmt["random_metadata_read"] = mfmt[l]["read"]
                    tile.fmt["random_metadata_update"] = mfmt[l]["update"]
                    self._scale_reductions(tile, ds.read_write)
        result.random_computes = max_computes
        # (De)compression counts (`CalculateDecompressionCompressionCost`).
        for l in range(n_lv - 1, -1, -1):
            for t, ds in enumerate(prob.dataspaces):
                tile = tiles[l][t]
                if not tile.kept or tile.compressed:
                    continue
                if tile.parent is not None and tiles[tile.parent][t].compressed:
                    if ds.read_write:
                        tile.data["compression_count"] = tile.data.get("compression_count", 0.0) + tiles[
                            tile.parent
                        ][t].data.get("random_update", 0.0)
                    tile.data["decompression_count"] = tile.data.get("decompression_count", 0.0) + tile.data.get(
                        "random_fill", 0.0
                    )
        return compute_saf

    @staticmethod
    def _scale_reductions(tile: TileSparse, read_write: bool) -> None:
        # Only updates that really happen lead to temporal reductions.
        if not read_write or tile.alg.get("update", 0.0) == 0:
            tile.temporal_reductions = 0.0
            return
        tile.temporal_reductions = math.ceil(
            tile.temporal_reductions * tile.data["random_update"] / tile.alg["update"] - 1e-9
        )

    def _apply_local_saf(self, tiles, t, l, p):
        """`ApplyLocalStorageSAFImpact`: part of the reads/updates become gated or skipped."""
        tile = tiles[l][t]
        kind = "gated" if tile.saf == "gate" else "skipped"
        rw = self.problem.dataspaces[t].read_write
        reads = tile.data["random_read"]
        updates = tile.data["random_update"]
        delta = math.ceil(reads * p - 1e-9) if rw else math.floor(reads * p + 1e-9)
        tile.data[f"{kind}_read"] = tile.data.get(f"{kind}_read", 0.0) + delta
        reads -= delta
        du = math.floor(updates * p + 1e-9)
        tile.data[f"{kind}_update"] = tile.data.get(f"{kind}_update", 0.0) + du
        updates -= du
        if tile.child is not None:
            n_child = tiles[tile.child][t].ranks.n_ranks if tiles[tile.child][t].has_metadata else 0
        else:
            n_child = tile.ranks.n_ranks if tile.has_metadata else 0
        mreads = [list(x) for x in tile.fmt.get("random_metadata_read", [])]
        mupd = [list(x) for x in tile.fmt.get("random_metadata_update", [])]
        g_reads = [[0.0, 0.0] for _ in mreads]
        g_upd = [[0.0, 0.0] for _ in mupd]
        for r in range(min(n_child, len(mreads))):
            for k in range(2):
                d = math.floor(mreads[r][k] * p + 1e-9)
                mreads[r][k] -= d
                g_reads[r][k] += d
                if r < len(mupd):
                    du2 = math.floor(mupd[r][k] * p + 1e-9)
                    mupd[r][k] -= du2
                    g_upd[r][k] += du2
        tile.fmt[f"{kind}_metadata_read"] = g_reads
        tile.fmt[f"{kind}_metadata_update"] = g_upd
        tile.data["random_read"] = reads
        tile.data["random_update"] = updates
        tile.fmt["random_metadata_read"] = mreads
        tile.fmt["random_metadata_update"] = mupd
        self._scale_reductions(tile, rw)

    # ------------------------------------------------------------------ compute
    def _compute(self, tiles, result, saf: dict[int, float]):
        prob = self.problem
        operands = [t for t, ds in enumerate(prob.dataspaces) if not ds.read_write]
        total = result.random_computes
        if len(operands) != 2:
            return
        states = {}
        for t in operands:
            inner = next((l for l in range(self.arch.n_levels) if tiles[l][t].kept), None)
            has_md = inner is not None and tiles[inner][t].has_metadata
            d = self.densities[t].expected_scalar_density()
            states[t] = {"d": d, "md": has_md}
        a, b = operands

        def dist(t, cond_ratio):
            # compute-gs-analyzer.cpp divides the density by P(the other operand's condition is nonempty);
            # when that is 0 (a density of 0 with skipping on it) no compute reaches this level, Timeloop's
            # 0/0 is NaN, and the unconditioned density gives the same (zero) counts without it
            d = states[t]["d"] / cond_ratio if cond_ratio > 0 else states[t]["d"]
            if states[t]["md"]:
                return {"ENZ": d, "EZ": 0.0, "NE": 1.0 - d}
            return {"ENZ": d, "EZ": 1.0 - d, "NE": 0.0}

        pa = dist(a, 1.0 - saf[b]) if b in saf else dist(a, 1.0)
        pb = dist(b, 1.0 - saf[a]) if a in saf else dist(b, 1.0)
        for dd in (pa, pb):
            for k in dd:
                dd[k] = min(1.0, max(0.0, dd[k]))
        flat = {(x, y): pa[x] * pb[y] for x in pa for y in pb}
        if isinstance(self.densities[a], ActualDensity) and isinstance(self.densities[b], ActualDensity):
            flat = self._actual_flat(a, b, states, total) or flat
        random = total * flat[("ENZ", "ENZ")]
        gated = skipped = nonexistent = 0.0
        one_zero = total * (flat[("ENZ", "EZ")] + flat[("EZ", "ENZ")])
        if self.gate_on_zero:
            gated += one_zero
        else:
            random += one_zero
        for pair_sum in (
            total * (flat[("ENZ", "NE")] + flat[("NE", "ENZ")]),
            total * (flat[("EZ", "NE")] + flat[("NE", "EZ")]),
        ):
            if self.skip_unaligned:
                skipped += pair_sum
            elif self.gate_on_zero:
                gated += pair_sum
            else:
                random += pair_sum
        zz = total * flat[("EZ", "EZ")]
        if self.gate_on_zero:
            gated += zz
        else:
            random += zz
        nonexistent += total * flat[("NE", "NE")]
        result.skipped_computes = math.floor(skipped + 1e-9)
        result.gated_computes = math.floor(gated + 1e-9)
        result.random_computes = total - result.skipped_computes - result.gated_computes - math.floor(nonexistent + 1e-9)

    def _actual_flat(self, a: int, b: int, states, total: float):
        """Actual data: the operands' joint (zero, nonzero) classes counted over the computes,
        in place of the product of two densities (ReLU zeros and pruned filters correlate).
        Computes a storage SAF already removed are taken from the ineffectual classes."""
        n = float(self.problem.macs)
        if total <= 0 or n <= 0:
            return None
        bounds = self.problem.bounds
        one = tuple([1] * self.problem.n_dims)
        da, db = self.densities[a], self.densities[b]
        n11 = joint_count([(da, one), (db, one)], bounds)
        na = joint_count([(da, one)], bounds)
        nb = joint_count([(db, one)], bounds)
        if n11 is None or na is None or nb is None:
            return None
        scale = (total - n11) / (n - n11) if n > n11 else 0.0
        zero = {t: ("NE" if states[t]["md"] else "EZ") for t in (a, b)}
        flat = {(x, y): 0.0 for x in ("ENZ", "EZ", "NE") for y in ("ENZ", "EZ", "NE")}
        flat[("ENZ", "ENZ")] = min(n11, total) / total
        flat[("ENZ", zero[b])] += (na - n11) * scale / total
        flat[(zero[a], "ENZ")] += (nb - n11) * scale / total
        flat[(zero[a], zero[b])] += (n - na - nb + n11) * scale / total
        return flat

    # ------------------------------------------------------------------ capacity
    def _capacity(self, tiles, result):
        for l, lv in enumerate(self.arch.storage):
            row = tiles[l]
            if lv.effective_size is None:
                continue
            data = sum(tile.max_data_occupancy for tile in row if tile.kept)
            if data > lv.effective_size:
                result.valid, result.fail_level = False, lv.name
                result.fail_reason = f"mapped tile size {data} exceeds buffer capacity {lv.effective_size}"
                return
            md_bits = sum(tile.max_md_bits for tile in row if tile.kept and tile.has_metadata)
            md_cap = lv.effective_md_size_bits or 0
            if md_bits > md_cap:
                result.valid, result.fail_level = False, lv.name
                result.fail_reason = (
                    f"mapped metadata tile size {md_bits} bits exceeds metadata buffer capacity {md_cap} bits"
                )
                return
