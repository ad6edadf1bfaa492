"""Energy, cycles, area and validity from access counts (Timeloop v3.0.3 `src/model/`).

* Vector accesses: ``ceil(n / block_size)`` per instance for data actions (counts named
  ``*_count`` are not divided); metadata: ``ceil(sum(bits) / metadata_storage_width)``
  (`BufferLevel::ComputeVectorAccesses`), with the `VectorWidthCoefficientTable` correction for
  small compressed tiles in wide blocks.
* Energy per (level, data space) = sum(vector accesses x ERT energy) / cluster utilization x
  utilized instances (`ComputeBufferEnergy`, `FinalizeBufferEnergy`). Address generation and
  temporal reduction use PAT's adder model, which returns 0 in this build (ENGINE-NOTES §4).
  Leakage (ERT ``leak``, later Timeloop) is added per level, see `leakage`.
* Cycles: compute cycles = ceil((actual + gated computes) / utilized compute instances); a level
  whose read/write/shared bandwidth demand (words/cycle per instance) exceeds its specification
  slows down by bandwidth/demand (`BufferLevel::ComputePerformance`); total = max over levels.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from .arch import ArchModel, StorageModel
from .nest import DenseNest
from .problem import ProblemModel
from .spatial_skip import uses_spatial_skipping

# `VectorWidthCoefficientTable` (include/model/buffer.hpp): threshold tile/block ratios per density decile.
VECTOR_WIDTH_THRESHOLDS = {
    2: (251, 125, 84, 63, 51, 42, 36, 32, 28, 1),
    4: (375, 188, 125, 94, 75, 63, 54, 47, 42, 1),
    8: (438, 219, 146, 110, 88, 73, 63, 55, 49, 1),
    16: (469, 235, 157, 118, 94, 79, 67, 59, 52, 1),
    32: (485, 243, 162, 122, 97, 81, 70, 61, 52, 1),
}


class DenseCost(msgspec.Struct):
    """Batch costs of the dense (no sparse optimization) path; arrays over N mappings."""

    valid: np.ndarray  # [N] bool
    fail_code: np.ndarray  # [N] int: 0 ok, 1 capacity, 2 fanout/mesh, 3 min utilization
    fail_level: np.ndarray  # [N] int level index (or -1)
    energy_level: np.ndarray  # [N, L, T] pJ
    energy_compute: np.ndarray  # [N]
    energy: np.ndarray  # [N]
    compute_cycles: np.ndarray  # [N]
    level_cycles: np.ndarray  # [N, L]
    cycles: np.ndarray  # [N]
    computes: np.ndarray  # [N]
    utilization: np.ndarray  # [N]


def _cluster_utilization(level: StorageModel, utilized_xy: np.ndarray) -> np.ndarray:
    clusters = max(1, level.instances // max(1, level.cluster_size))
    used = np.minimum(utilized_xy, clusters)
    return np.where(used > 0, utilized_xy / np.maximum(used, 1), 1.0)


def check_fit(arch: ArchModel, nest: DenseNest, mb, *, capacity: bool = True,
              spatial: bool | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fan-out, mesh and (dense) capacity checks for a batch; returns (valid, fail_code, fail_level).

    With ``capacity=False`` only the spatial checks run: under sparsity the compressed tile
    occupancy decides capacity, which the sparse analysis checks. The fan-out and mesh checks are
    skipped (``spatial`` None: when the design uses spatial skipping) where the sparse analysis
    checks the reduced expansions instead, as Timeloop does (mapper.cpp drops its fan-out filter then).
    """
    if spatial is None:
        spatial = not uses_spatial_skipping(arch)
    n = nest.tile_size.shape[0]
    valid = np.ones(n, dtype=bool)
    code = np.zeros(n, dtype=np.int64)
    where = np.full(n, -1, dtype=np.int64)

    def mark(bad, c, lv):
        new = bad & valid
        code[new] = c
        where[new] = lv
        valid[new] = False

    sx = np.where(mb.spatial_x, mb.spatial, 1).prod(axis=2)
    sy = np.where(mb.spatial_x, 1, mb.spatial).prod(axis=2)
    for li, lv in enumerate(arch.storage):
        fx, fy = arch.fanout(li)
        if spatial:
            mark((sx[:, li] > fx) | (sy[:, li] > fy), 2, li)
            mark((nest.x_expansion[:, li] > lv.mesh_x) | (nest.y_expansion[:, li] > lv.mesh_y), 2, li)
        if capacity and lv.effective_size is not None:
            need = (nest.tile_size[:, li, :] * nest.keep[:, li, :]).sum(axis=1)
            mark(need > lv.effective_size, 1, li)
            if lv.min_utilization > 0:
                mark(need < lv.effective_size * lv.min_utilization, 3, li)
    if spatial:
        mark((nest.compute_x > arch.compute.mesh_x) | (nest.compute_y > arch.compute.mesh_y), 2, -2)
    return valid, code, where


def dense_costs(problem: ProblemModel, arch: ArchModel, nest: DenseNest, mb) -> DenseCost:
    """Energy and cycles of every mapping in the batch when no sparse optimization applies."""
    n, levels, t_count = nest.reads.shape
    valid, code, where = check_fit(arch, nest, mb)
    energy_level = np.zeros((n, levels, t_count))
    compute_cycles = nest.ops.copy()
    level_cycles = np.zeros((n, levels))
    for li, lv in enumerate(arch.storage):
        b = lv.block_size
        vr = np.ceil(nest.reads[:, li, :] / b)
        vf = np.ceil(nest.fills[:, li, :] / b)
        vu = np.ceil(nest.updates[:, li, :] / b)
        e = lv.op_energy
        per_inst = vr * e["random_read"] + vf * e["random_fill"] + vu * e["random_update"]
        xy = (nest.x_expansion[:, li] * nest.y_expansion[:, li]).astype(np.float64)
        cu = _cluster_utilization(lv, xy)
        energy_level[:, li, :] = per_inst / cu[:, None] * nest.utilized[:, li, None]
        reads = np.floor(nest.reads[:, li, :]).sum(axis=1)
        writes = np.floor(nest.fills[:, li, :] + nest.updates[:, li, :]).sum(axis=1)
        level_cycles[:, li] = _throttle(lv, reads / compute_cycles, writes / compute_cycles, compute_cycles)
    computes = nest.ops * nest.compute_utilized
    energy_compute = computes * arch.compute.op_energy["random_compute"]
    cycles = np.maximum(compute_cycles, level_cycles.max(axis=1))
    leak = leakage(arch, nest.keep, nest.utilized, cycles).sum(axis=1)
    energy = energy_level.sum(axis=(1, 2)) + energy_compute + leak
    utilization = computes / arch.compute.instances / np.maximum(cycles, 1)
    return DenseCost(valid, code, where, energy_level, energy_compute, energy, compute_cycles, level_cycles,
                     cycles, computes, utilization)


def leakage(arch: ArchModel, keep: np.ndarray, utilized: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """Leakage energy [N, L] of every storage level: ERT ``leak`` x run cycles x leaking instances.

    Later Timeloop (``BufferLevel::ComputeLeaksPerCycle`` / ``FinalizeBufferEnergy``, NVlabs/timeloop
    feb3bd0, 2023-09) charges each storage level ``leak x total cycles x max(1, max over data spaces of
    the utilized instances)`` (unused instances are power-gated); v3.0.3 and ERTs without a ``leak``
    action give 0. ``keep`` is [N, L, T], ``utilized`` [N, L], ``cycles`` [N].
    """
    n = keep.shape[0]
    out = np.zeros((n, arch.n_levels))
    for li, lv in enumerate(arch.storage):
        if lv.leak_energy:
            inst = np.maximum(1.0, np.where(keep[:, li, :].any(axis=1), utilized[:, li], 0.0))
            out[:, li] = lv.leak_energy * np.asarray(cycles, dtype=np.float64) * inst
    return out


def _throttle(lv: StorageModel, read_demand, write_demand, compute_cycles):
    """Level cycles given per-instance bandwidth demand in words/cycle."""
    slowdown = np.ones_like(np.asarray(read_demand, dtype=np.float64))
    if lv.read_bandwidth is not None:
        slowdown = np.where(read_demand > lv.read_bandwidth, np.minimum(slowdown, lv.read_bandwidth / np.maximum(read_demand, 1e-300)), slowdown)
    if lv.write_bandwidth is not None:
        slowdown = np.where(write_demand > lv.write_bandwidth, np.minimum(slowdown, lv.write_bandwidth / np.maximum(write_demand, 1e-300)), slowdown)
    if lv.shared_bandwidth is not None:
        total = read_demand + write_demand
        slowdown = np.where(total > lv.shared_bandwidth, np.minimum(slowdown, lv.shared_bandwidth / np.maximum(total, 1e-300)), slowdown)
    return np.ceil(compute_cycles / slowdown)


def vector_ratio(level: StorageModel, tile, density_model) -> float:
    """`VectorWidthCoefficientTable` correction for compressed tiles in wide blocks."""
    block = level.block_size
    d = tile.expected_density
    if not (tile.compressed and tile.shape != 0 and block > 1 and d < 1.0):
        return 1.0
    table = VECTOR_WIDTH_THRESHOLDS.get(block)
    if table is None:
        return 1.0
    idx = int(math.floor(d / 0.1)) - 1 if d >= 0.1 else 0
    idx = max(0, min(idx, len(table) - 1))
    if not table[idx] > tile.shape / block:
        return 1.0
    nnz = np.arange(1, tile.shape + 1, dtype=np.float64)
    probs = density_model.occupancy_pmf(tile.shape, nnz)
    total = float(np.sum(np.ceil(nnz / block) * probs))
    naive = tile.shape * d / block
    return total / naive if naive > 0 else 1.0
