"""Evaluate mappings: dense nest analysis -> sparse modeling -> energy, cycles, area.

``Engine`` holds one compiled (problem, architecture) pair. ``evaluate(batch)`` returns totals for
every mapping of a batch as arrays (fully vectorized when the architecture applies no sparse
optimization; otherwise the sparse analysis runs per mapping on top of the vectorized nest
analysis). ``evaluation(batch, i)`` returns one mapping's full Timeloop-style statistics.
"""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import numpy as np

from ..errors import MappingError
from .arch import STORAGE_OPS, ArchModel, compile_arch
from .cost import _cluster_utilization, _throttle, check_fit, dense_costs, leakage, vector_ratio
from .mapping import MappingBatch, compile_mapping, mapping_to_directives
from .nest import DenseNest, analyze
from .problem import ProblemModel, compile_problem
from .result import Evaluation, LevelStats
from .sparse import SparseAnalyzer, SparseResult
from .sparse_batch import BatchSparseEvaluator

FAIL_TEXT = {1: "capacity exceeded", 2: "spatial fan-out exceeds the mesh", 3: "below the level's minimum utilization"}

# Data actions then metadata actions, both in the ERT op order of model.arch.STORAGE_OPS.
_DATA_OPS = tuple(op for op in STORAGE_OPS if "metadata" not in op)
_FMT_OPS = tuple(op for op in STORAGE_OPS if "metadata" in op)


class EvaluationBatch(msgspec.Struct):
    """Totals of N evaluated mappings (invalid ones carry ``valid=False`` and a reason)."""

    energy_pj: np.ndarray
    cycles: np.ndarray
    utilization: np.ndarray
    valid: np.ndarray
    algorithmic_computes: np.ndarray
    actual_computes: np.ndarray
    gated_computes: np.ndarray
    skipped_computes: np.ndarray
    area_um2: float
    fail_reasons: list[str | None] = msgspec.field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.energy_pj.shape[0])

    @property
    def edp(self) -> np.ndarray:
        return self.energy_pj * self.cycles


class _Detail(msgspec.Struct):
    """Per-mapping detailed cost (sparse path and single-mapping reports)."""

    valid: bool
    fail_reason: str | None
    energy: float
    cycles: int
    compute_cycles: int
    level_cycles: dict[str, int]
    utilization: float
    random_computes: float
    gated_computes: float
    skipped_computes: float
    compute_energy: float
    levels: list[LevelStats]
    bound_by: str
    leakage: dict[str, float] = msgspec.field(default_factory=dict)  # level -> leakage pJ (not in `levels`)
    compute_max: float | None = None  # utilized compute instances (max) after spatial skipping


class Engine:
    """A compiled (problem, architecture) pair that evaluates batches of mappings."""

    def __init__(self, problem: ProblemModel, arch: ArchModel) -> None:
        self.problem = problem
        self.arch = arch
        self.sparse = SparseAnalyzer(problem, arch)
        self.sparse_batch = BatchSparseEvaluator(self.sparse, arch)

    @classmethod
    def from_spec(cls, spec, arch_name: str | None = None) -> Engine:
        if spec.problem is None:
            raise MappingError("no problem in the input files", key_path="problem", fix="pass a problem YAML")
        files = getattr(spec, "files", None) or []
        source = ", ".join(str(f) for f in files) if files else None
        bases = [Path(str(f)).parent for f in files]
        return cls(compile_problem(spec.problem, source, bases), compile_arch(spec, arch_name))

    def compile_mapping(self, mapping, source: str | None = None) -> MappingBatch:
        return compile_mapping(mapping, self.arch, self.problem, source)

    @property
    def uses_sparse(self) -> bool:
        return self.sparse.needed

    # ------------------------------------------------------------------ batch
    def evaluate(self, mb: MappingBatch) -> EvaluationBatch:
        return self.evaluate_nest(analyze(self.problem, self.arch, mb), mb)

    def evaluate_nest(self, nest: DenseNest, mb: MappingBatch) -> EvaluationBatch:
        """`evaluate` for a batch whose dense nest analysis is already done."""
        area = self.arch.area_um2
        if not self.uses_sparse:
            dc = dense_costs(self.problem, self.arch, nest, mb)
            reasons = [None if ok else self._reason(c, lv) for ok, c, lv in zip(dc.valid, dc.fail_code, dc.fail_level)]
            zeros = np.zeros(mb.n)
            return EvaluationBatch(
                dc.energy, dc.cycles, dc.utilization, dc.valid, dc.computes, dc.computes, zeros, zeros.copy(),
                area, reasons,
            )
        valid, code, where = check_fit(self.arch, nest, mb, capacity=False)
        reasons = [None if ok else self._reason(c, lv) for ok, c, lv in zip(valid, code, where)]
        res = self.sparse_batch.evaluate(nest, mb, valid, reasons)
        algorithmic = (nest.ops * nest.compute_utilized).astype(np.float64)
        zero = ~res.valid
        return EvaluationBatch(
            np.where(zero, 0.0, res.energy), np.where(zero, 0, res.cycles), np.where(zero, 0.0, res.utilization),
            res.valid, algorithmic, res.random_computes, res.gated_computes, res.skipped_computes, area,
            res.fail_reasons,
        )

    def evaluate_reference(self, mb: MappingBatch) -> EvaluationBatch:
        """Per-mapping evaluation with the reference (non-vectorized) sparse analysis; for tests."""
        nest = analyze(self.problem, self.arch, mb)
        valid, code, where = check_fit(self.arch, nest, mb, capacity=False)
        n = mb.n
        out = {k: np.zeros(n) for k in ("e", "c", "u", "a", "r", "g", "s")}
        ok = np.zeros(n, dtype=bool)
        reasons: list[str | None] = []
        for i in range(n):
            out["a"][i] = nest.ops[i] * nest.compute_utilized[i]
            if not valid[i]:
                reasons.append(self._reason(code[i], where[i]))
                continue
            det = self._detail(nest, mb, i)
            if not det.valid:
                reasons.append(det.fail_reason)
                continue
            ok[i] = True
            reasons.append(None)
            out["e"][i], out["c"][i], out["u"][i] = det.energy, det.cycles, det.utilization
            out["r"][i], out["g"][i], out["s"][i] = det.random_computes, det.gated_computes, det.skipped_computes
        return EvaluationBatch(out["e"], out["c"], out["u"], ok, out["a"], out["r"], out["g"], out["s"],
                               self.arch.area_um2, reasons)

    def _reason(self, code, level) -> str:
        name = "compute" if level == -2 else (self.arch.storage[int(level)].name if level >= 0 else "?")
        return f"{name}: {FAIL_TEXT.get(int(code), 'invalid')}"

    # ------------------------------------------------------------------ single mapping
    def evaluation(self, mb: MappingBatch, i: int = 0) -> Evaluation:
        """Full statistics of mapping ``i``; raises MappingError if it does not fit."""
        nest = analyze(self.problem, self.arch, mb)
        valid, code, where = check_fit(self.arch, nest, mb, capacity=False)
        if not valid[i]:
            raise MappingError(f"the mapping does not fit the architecture: {self._reason(code[i], where[i])}",
                               fix="change the mapping's spatial factors or bypass choices")
        det = self._detail(nest, mb, i)
        if not det.valid:
            from .failures import relax_hint

            raise MappingError(f"the mapping is invalid: {det.fail_reason}",
                               fix=relax_hint(det.fail_reason or "") + " Or let `sparse-hw map` search for a mapping.")
        breakdown: dict[str, float] = {self.arch.compute.name: det.compute_energy}
        for lv in self.arch.storage:
            data = sum(s.energy_pj for s in det.levels if s.level == lv.name)
            breakdown[lv.name] = data + det.leakage.get(lv.name, 0.0)
        area_breakdown = {lv.name: lv.area * lv.instances for lv in self.arch.storage}
        area_breakdown[self.arch.compute.name] = self.arch.compute.area * self.arch.compute.instances
        algorithmic = float(nest.ops[i] * nest.compute_utilized[i])
        comp = self.arch.compute
        used = nest.compute_utilized[i] if det.compute_max is None else det.compute_max  # spatial skipping
        compute_row = LevelStats(
            level=comp.name,
            dataspace="(compute)",
            instances=comp.instances,
            utilized_instances=float(used),
            energy_pj=det.compute_energy,
        )
        return Evaluation(
            energy_pj=det.energy,
            cycles=det.cycles,
            area_um2=self.arch.area_um2,
            utilization=det.utilization,
            algorithmic_computes=algorithmic,
            actual_computes=det.random_computes,
            gated_computes=det.gated_computes,
            skipped_computes=det.skipped_computes,
            energy_breakdown_pj=breakdown,
            levels=[compute_row, *det.levels],
            level_cycles=det.level_cycles,
            area_breakdown_um2=area_breakdown,
            mapping={"mapping": mapping_to_directives(mb, i, self.arch, self.problem)},
            bound_by=det.bound_by,
            notes=[*mb.notes, *self.arch.notes, *self._leak_note(det), *self._zero_density_note()],
        )

    def _zero_density_note(self) -> list[str]:
        """Sparseloop divides by the probability of a nonempty tile or operand, which a density of 0 makes 0
        (a NaN in Timeloop's output); the engine counts such a tensor as never nonempty, the limit as its
        density goes to 0 (sparse.py `_tile_occupancy` and `_compute`, spatial_skip.py)."""
        zero = [ds.name for ds in self.problem.dataspaces
                if ds.density is not None and ds.density.distribution != "real_data" and ds.density.density == 0]
        if not zero:
            return []
        return [f"density 0 for {', '.join(zero)}: Timeloop's sparse analysis divides 0 by 0 there (NaN); "
                "counted as a tensor whose tiles are never nonempty (the limit as the density goes to 0)"]

    @staticmethod
    def _leak_note(det: _Detail) -> list[str]:
        if not det.leakage:
            return []
        return [f"energy includes {sum(det.leakage.values()):.2f} pJ of leakage (ERT 'leak' x cycles)"]

    def _detail(self, nest: DenseNest, mb: MappingBatch, i: int) -> _Detail:
        sres = self.sparse.analyze(nest, mb, i)
        if not sres.valid:
            return _Detail(False, f"{sres.fail_level}: {sres.fail_reason}", 0, 0, 0, {}, 0, 0, 0, 0, 0, [], "")
        return self._cost(nest, i, sres)

    def _cost(self, nest: DenseNest, i: int, sres: SparseResult) -> _Detail:
        prob = self.problem
        arch = self.arch
        comp = arch.compute
        random_c, gated_c, skipped_c = sres.random_computes, sres.gated_computes, sres.skipped_computes
        compute_cycles = int(math.ceil((random_c + gated_c) / max(sres.compute_avg_utilized, 1e-12) - 1e-9))
        compute_cycles = max(compute_cycles, 1)
        e = comp.op_energy
        compute_energy = random_c * e["random_compute"] + gated_c * e["gated_compute"] + skipped_c * e["skipped_compute"]
        levels: list[LevelStats] = []
        level_cycles: dict[str, int] = {comp.name: compute_cycles}
        total = compute_energy
        for li, lv in enumerate(arch.storage):
            level_xy = float(nest.x_expansion[i, li] * nest.y_expansion[i, li])
            read_demand = 0.0
            write_demand = 0.0
            for t, ds in enumerate(prob.dataspaces):
                tile = sres.tiles[li][t]
                if not tile.kept:
                    continue
                # spatial skipping gives each data space its own max expansion (buffer.cpp l. 1110, 1532)
                xy = level_xy if tile.max_xy is None else tile.max_xy
                cu = float(_cluster_utilization(lv, np.array([xy]))[0])
                data = {op: float(tile.data.get(op, 0.0)) for op in _DATA_OPS}
                ratio = vector_ratio(lv, tile, self.sparse.densities[t]) if tile.has_metadata else 1.0
                vec = {}
                for op, count in data.items():
                    if "count" in op:
                        vec[op] = count
                    elif count != 0 and tile.shape != 0:
                        vec[op] = math.ceil(count / lv.block_size - 1e-9) * ratio
                    else:
                        vec[op] = 0.0
                fmt_bits = {}
                for op in _FMT_OPS:
                    counts = tile.fmt.get(op, [])
                    bits = 0
                    for r, pair in enumerate(counts):
                        wb = tile.md_word_bits[r] if r < len(tile.md_word_bits) else [0, 0]
                        bits += int(wb[0]) * int(pair[0]) + int(wb[1]) * int(pair[1])
                    fmt_bits[op] = bits
                    vec[op] = math.ceil(bits / lv.md_storage_width - 1e-12) if lv.md_storage_width else 0
                per_inst = sum(vec[op] * lv.op_energy[op] for op in vec)
                utilized = tile.avg_replication
                energy = per_inst / cu * utilized if utilized > 0 else 0.0
                total += energy
                scaling = xy / utilized if utilized > 0 else 1.0
                wb = lv.word_bits
                r_words = int(data["random_read"] + data["gated_read"] + 1e-9) + (
                    fmt_bits["random_metadata_read"] + fmt_bits["gated_metadata_read"]
                ) // wb
                w_words = int(
                    data["random_fill"] + data["gated_fill"] + data["random_update"] + data["gated_update"] + 1e-9
                ) + (
                    fmt_bits["random_metadata_fill"]
                    + fmt_bits["gated_metadata_fill"]
                    + fmt_bits["random_metadata_update"]
                    + fmt_bits["gated_metadata_update"]
                ) // wb
                read_demand += math.ceil(r_words / scaling - 1e-9) / compute_cycles
                write_demand += math.ceil(w_words / scaling - 1e-9) / compute_cycles

                def fsum(op, fmt=tile.fmt):
                    return float(sum(a + b for a, b in fmt.get(op, [])))

                levels.append(
                    LevelStats(
                        level=lv.name,
                        dataspace=ds.name,
                        instances=lv.instances,
                        utilized_instances=float(nest.utilized[i, li]) if tile.max_xy is None else xy,
                        utilized_instances_avg=float(utilized),
                        tile_size=float(tile.shape),
                        partition_size=float(nest.partition[i, li, t]),
                        max_occupancy=float(tile.max_data_occupancy),
                        format=" ".join(reversed(tile.ranks.formats)) if tile.has_metadata else "none",
                        energy_pj=energy,
                        algorithmic_reads=tile.alg.get("read", 0.0),
                        reads=data["random_read"],
                        gated_reads=data["gated_read"],
                        skipped_reads=data["skipped_read"],
                        algorithmic_fills=tile.alg.get("fill", 0.0),
                        fills=data["random_fill"],
                        gated_fills=data["gated_fill"],
                        skipped_fills=data["skipped_fill"],
                        algorithmic_updates=tile.alg.get("update", 0.0),
                        updates=data["random_update"],
                        gated_updates=data["gated_update"],
                        skipped_updates=data["skipped_update"],
                        metadata_reads=fsum("random_metadata_read"),
                        gated_metadata_reads=fsum("gated_metadata_read"),
                        skipped_metadata_reads=fsum("skipped_metadata_read"),
                        metadata_fills=fsum("random_metadata_fill"),
                        gated_metadata_fills=fsum("gated_metadata_fill"),
                        skipped_metadata_fills=fsum("skipped_metadata_fill"),
                        metadata_updates=fsum("random_metadata_update"),
                        gated_metadata_updates=fsum("gated_metadata_update"),
                        skipped_metadata_updates=fsum("skipped_metadata_update"),
                        decompression_count=data["decompression_count"],
                        compression_count=data["compression_count"],
                        temporal_reductions=float(tile.temporal_reductions),
                        address_generations=(
                            data["random_update"] + data["gated_update"] + data["random_fill"] + data["gated_fill"]
                            if ds.read_write
                            else data["random_read"] + data["gated_read"] + data["random_fill"] + data["gated_fill"]
                        ),
                        extra={
                            "format_reads": tile.fmt.get("random_metadata_read", []),
                            "format_fills": tile.fmt.get("random_metadata_fill", []),
                            "format_updates": tile.fmt.get("random_metadata_update", []),
                            "expected_density": tile.expected_density,
                        }
                        if tile.has_metadata
                        else {},
                    )
                )
            cyc = int(_throttle(lv, np.array(read_demand), np.array(write_demand), float(compute_cycles)))
            level_cycles[lv.name] = cyc
        cycles = max(level_cycles.values())
        leak = leakage(arch, nest.keep[i : i + 1], nest.utilized[i : i + 1], np.array([cycles]))[0]
        total += float(leak.sum())
        bound_by = max(level_cycles, key=lambda k: (level_cycles[k], k == comp.name))
        utilization = (random_c + gated_c) / comp.instances / cycles if cycles else 0.0
        return _Detail(True, None, total, cycles, compute_cycles, level_cycles, utilization, random_c, gated_c,
                       skipped_c, compute_energy, levels, bound_by,
                       {lv.name: float(leak[li]) for li, lv in enumerate(arch.storage) if leak[li]},
                       sres.compute_max_utilized)
