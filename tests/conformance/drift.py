"""The accounting of the Timeloop builds that wrote the older example outputs, computed from ours.

The engine follows Timeloop v3.0.3 (and the later builds where they agree). Two older builds wrote
part of ../shared/reference/examples; each differs from v3.0.3 in a way found in the NVlabs/timeloop
history, and this module recomputes *that* accounting from our own counts, so a test can show that
the stated cause accounts for the whole difference (VERSION_DRIFT.md has the table per group):

* **Output first fills** (every build before NVlabs/timeloop 59fdc83, 2023-05-02, "First fills are now
  correctly elided"; ``src/loop-analysis/tiling.cpp``, ``ComputeReadUpdateReductionAccesses_Legacy``):
  a read-write data space at a level with a keeping parent got ``fills = parent_access_share``; since
  59fdc83 the first fill of each element (a zero-initialised partial sum, never read from the parent)
  is elided, ``fills = parent_access_share - partition_size``. Old fills = ours + partition size,
  charged at the level's fill energy.
* **Streamed bypass** (the MICRO'22 artifact's own Timeloop build only: its stats print
  ``A (Streamed)``, a line no NVlabs/timeloop commit writes, and NVlabs' ``parser.cpp``
  ``ParseUserDatatypeBypassSettings`` reads only ``keep``/``bypass``): a level that bypasses a data
  space listed in its datatype directive's ``stream`` still passes every word through, counting
  ``reads = fills =`` the parent's reads of it, priced at the level's read and fill energies.
* **Uncapped coordinate-list counts** (the same artifact build): a CP rank's coordinates per fiber are
  ``fiber_shape x P(coordinate non-empty)`` where v2.0 and v3.0.3 take its ceiling
  (``CoordinatePayload::GetOccupancy``, ``number_of_nnz_coord_per_fiber = ceil(...)``). Recounted by
  re-running our engine with that one expression uncapped (`cp_uncapped`), in the test only.
* **One vector-access energy** (Timeloop v1, before the v2.0 rewrite ``c1ca4d0``, 2021-06-16;
  ``src/model/buffer.cpp`` ``ComputeBufferEnergy`` and ``Topology::Specs::ParseAccelergyERT`` at tag
  v1.0): a storage level's ``vector_access_energy`` was the largest energy over all ERT actions
  (divided by the cluster size), and a data space cost ``ceil((reads + updates + fills) / block_size)``
  such accesses, i.e. writes priced as reads and one ceil over all three counts.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

#: Stats-file generation (``TimeloopStats.dialect``) -> the old-build effects that apply to it.
DRIFT_BY_DIALECT: dict[str, tuple[str, ...]] = {
    "2020": ("output_first_fills", "one_vector_access_energy"),
    "2022": ("output_first_fills", "streamed_bypass", "cp_coordinates_uncapped"),
}


@contextlib.contextmanager
def cp_uncapped():
    """Evaluate with the artifact build's CP occupancy (no ceiling on coordinates per fiber)."""
    from sparse_hw.model import sparse

    original = sparse._format_occupancy

    def occupancy(name, max_fibers, fiber_shape, p_cur, p_next):
        if name != "cp":
            return original(name, max_fibers, fiber_shape, p_cur, p_next)
        units = fiber_shape * (1.0 - p_next) * max_fibers * (1.0 - p_cur)
        return units, units

    sparse._format_occupancy = occupancy
    try:
        yield
    finally:
        sparse._format_occupancy = original


def uses_cp(engine) -> bool:
    formats = [f for lv in engine.arch.storage for f in lv.formats.values()]
    return any(r.format.lower() == "cp" for f in formats for r in f.ranks)


def streamed_bypasses(spec) -> dict[str, set[str]]:
    """Level -> data spaces it bypasses but lists in ``stream`` (the recorded mapping's directives)."""
    out: dict[str, set[str]] = {}
    for d in getattr(spec.mapping, "directives", None) or []:
        if d.type == "bypass" and d.stream:
            kept = set(d.keep or ())
            streamed = {ds for ds in d.stream if ds not in kept}
            if streamed:
                out.setdefault(d.target, set()).update(streamed)
    return out


@dataclass
class OldAccounting:
    """Our run recounted the way an old build counts it."""

    energy_pj: float
    cycles: int = 0
    #: (level, dataspace) -> (reads, fills, updates), per instance.
    counts: dict[tuple[str, str], tuple[float, float, float]] = field(default_factory=dict)
    effects: tuple[str, ...] = ()


def _ceil(x: float, block: int) -> float:
    return float(math.ceil(x / block - 1e-9)) if x > 0 else 0.0


def old_accounting(ours, engine, dialect: str, streams: dict[str, set[str]] | None = None) -> OldAccounting:
    """Energy and per-level counts of ``ours`` (an engine Evaluation) under the ``dialect`` build's rules.

    ``streams`` is `streamed_bypasses` of the run's mapping (used only by the 2022 artifact build).
    """
    effects = tuple(e for e in DRIFT_BY_DIALECT.get(dialect, ()) if e != "cp_coordinates_uncapped")
    if not streams:
        effects = tuple(e for e in effects if e != "streamed_bypass")
    arch = engine.arch
    storage = {lv.name: (i, lv) for i, lv in enumerate(arch.storage)}
    rw = {ds.name: ds.read_write for ds in engine.problem.dataspaces}
    rows = [s for s in ours.levels if s.level in storage]
    outermost: dict[str, int] = {}
    for s in rows:
        outermost[s.dataspace] = max(outermost.get(s.dataspace, -1), storage[s.level][0])
    energy = ours.energy_pj
    counts: dict[tuple[str, str], tuple[float, float, float]] = {}
    for s in rows:
        li, lv = storage[s.level]
        fills, row_energy = s.fills, s.energy_pj
        if "output_first_fills" in effects and rw[s.dataspace] and li < outermost[s.dataspace]:
            fills = s.fills + s.partition_size
            extra = _ceil(fills, lv.block_size) - _ceil(s.fills, lv.block_size)
            row_energy += extra * lv.op_energy["random_fill"] * s.utilized_instances
        if "one_vector_access_energy" in effects:
            vector_access_energy = max(lv.op_energy.values()) / max(1, lv.cluster_size)
            accesses = _ceil(s.reads + s.updates + fills, lv.block_size)
            row_energy = accesses * vector_access_energy * s.utilized_instances
        energy += row_energy - s.energy_pj
        counts[(s.level, s.dataspace)] = (s.reads, fills, s.updates)
    if "streamed_bypass" in effects:
        energy += _streamed(arch, rows, streams or {}, counts)
    return OldAccounting(energy, _cycles(ours, arch, rows, counts), counts, effects)


def _cycles(ours, arch, rows, counts) -> int:
    """Run cycles when a level's extra first fills add to its write-bandwidth demand.

    A level's cycles are its compute cycles slowed by the most over-subscribed bandwidth
    (``BufferLevel::ComputePerformance``); only the levels that gained fills are recomputed, from
    their data words per instance (metadata words are unchanged by the recount and are left out).
    """
    compute_cycles = ours.level_cycles.get(arch.compute.name, ours.cycles)
    level_cycles = dict(ours.level_cycles)
    for lv in arch.storage:
        mine = [s for s in rows if s.level == lv.name]
        extra = sum(counts[(s.level, s.dataspace)][1] - s.fills for s in mine)
        if not extra:
            continue
        reads = sum(s.reads + s.gated_reads for s in mine)
        writes = sum(
            counts[(s.level, s.dataspace)][1] + s.gated_fills + s.updates + s.gated_updates for s in mine
        )
        slowdown = 1.0
        for bandwidth, demand in (
            (lv.read_bandwidth, reads), (lv.write_bandwidth, writes), (lv.shared_bandwidth, reads + writes)
        ):
            if bandwidth is not None and demand / compute_cycles > bandwidth:
                slowdown = min(slowdown, bandwidth / (demand / compute_cycles))
        level_cycles[lv.name] = max(level_cycles.get(lv.name, 0), math.ceil(compute_cycles / slowdown - 1e-9))
    return int(max(level_cycles.values(), default=ours.cycles))


def _streamed(arch, rows, streams, counts) -> float:
    """Add the passing-through reads/fills of streamed bypassed data spaces; returns their energy."""
    energy = 0.0
    for li, lv in enumerate(arch.storage):
        for ds in sorted(streams.get(lv.name, ())):
            if any(s.level == lv.name and s.dataspace == ds for s in rows):
                continue  # kept here after all
            above = {u.name for u in arch.storage[li + 1 :]}
            parent = next((s for s in rows if s.dataspace == ds and s.level in above), None)
            if parent is None:
                continue
            words = parent.reads * parent.utilized_instances  # spread over this level's instances
            inst = max(1.0, max((s.utilized_instances for s in rows if s.level == lv.name), default=1.0))
            per = words / inst
            counts[(lv.name, ds)] = (per, per, 0.0)
            e_word = lv.op_energy["random_read"] + lv.op_energy["random_fill"]
            energy += _ceil(per, lv.block_size) * e_word * inst
    return energy
