"""The result type shared by the analytical engine, the mapper and the real-Timeloop backend.

``Evaluation`` is one (layer, architecture, mapping) result with Timeloop's statistics; its
``to_json`` is the ``--json`` output of ``sparse-hw model`` / ``map`` (../shared/design/CLI.md).
Counts in ``LevelStats`` are per instance, as Timeloop prints them; multiply by
``utilized_instances`` for totals.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec

ENGINE_VERSION = "1"

#: Per-instance access counters of one (level, dataspace), named as in Timeloop's stats.
COUNT_FIELDS = (
    "algorithmic_reads",
    "reads",
    "gated_reads",
    "skipped_reads",
    "algorithmic_fills",
    "fills",
    "gated_fills",
    "skipped_fills",
    "algorithmic_updates",
    "updates",
    "gated_updates",
    "skipped_updates",
    "metadata_reads",
    "gated_metadata_reads",
    "skipped_metadata_reads",
    "metadata_fills",
    "gated_metadata_fills",
    "skipped_metadata_fills",
    "metadata_updates",
    "gated_metadata_updates",
    "skipped_metadata_updates",
    "decompression_count",
    "compression_count",
    "temporal_reductions",
    "address_generations",
)


class LevelStats(msgspec.Struct):
    """Statistics of one dataspace at one storage level (Timeloop's per-level STATS block)."""

    level: str
    dataspace: str
    instances: int
    utilized_instances: float
    tile_size: float = 0.0
    partition_size: float = 0.0
    max_occupancy: float = 0.0
    format: str = "none"
    energy_pj: float = 0.0
    algorithmic_reads: float = 0.0
    reads: float = 0.0
    gated_reads: float = 0.0
    skipped_reads: float = 0.0
    algorithmic_fills: float = 0.0
    fills: float = 0.0
    gated_fills: float = 0.0
    skipped_fills: float = 0.0
    algorithmic_updates: float = 0.0
    updates: float = 0.0
    gated_updates: float = 0.0
    skipped_updates: float = 0.0
    metadata_reads: float = 0.0
    gated_metadata_reads: float = 0.0
    skipped_metadata_reads: float = 0.0
    metadata_fills: float = 0.0
    gated_metadata_fills: float = 0.0
    skipped_metadata_fills: float = 0.0
    metadata_updates: float = 0.0
    gated_metadata_updates: float = 0.0
    skipped_metadata_updates: float = 0.0
    decompression_count: float = 0.0
    compression_count: float = 0.0
    temporal_reductions: float = 0.0
    address_generations: float = 0.0
    utilized_instances_avg: float | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__struct_fields__}
        out["extra"] = copy.deepcopy(self.extra)
        if not out["extra"]:
            out.pop("extra")
        return out


class Evaluation(msgspec.Struct):
    """One evaluated mapping: totals, per-component energy, per-level stats and the mapping."""

    energy_pj: float
    cycles: int
    area_um2: float
    utilization: float
    algorithmic_computes: float
    actual_computes: float
    gated_computes: float = 0.0
    skipped_computes: float = 0.0
    energy_breakdown_pj: dict[str, float] = msgspec.field(default_factory=dict)
    levels: list[LevelStats] = msgspec.field(default_factory=list)
    level_cycles: dict[str, int] = msgspec.field(default_factory=dict)
    area_breakdown_um2: dict[str, float] = msgspec.field(default_factory=dict)
    mapping: dict[str, Any] | None = None
    backend: str = "builtin"
    engine_version: str = ENGINE_VERSION
    bound_by: str | None = None
    notes: list[str] = msgspec.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "energy_pj": float(self.energy_pj),
            "cycles": int(self.cycles),
            "area_um2": float(self.area_um2),
            "utilization": float(self.utilization),
            "algorithmic_computes": int(round(self.algorithmic_computes)),
            "actual_computes": int(round(self.actual_computes)),
            "gated_computes": int(round(self.gated_computes)),
            "skipped_computes": int(round(self.skipped_computes)),
            "energy_breakdown_pj": {k: float(v) for k, v in self.energy_breakdown_pj.items()},
            "levels": [lv.to_json() for lv in self.levels],
            "level_cycles": {k: int(v) for k, v in self.level_cycles.items()},
            "area_breakdown_um2": {k: float(v) for k, v in self.area_breakdown_um2.items()},
            "bound_by": self.bound_by,
            "backend": self.backend,
            "engine_version": self.engine_version,
            "notes": list(self.notes),
            "mapping": self.mapping,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evaluation:
        """Inverse of `to_json` (cached sweep results are stored as JSON)."""
        fields = set(LevelStats.__struct_fields__)
        levels = [LevelStats(**{k: v for k, v in lv.items() if k in fields}) for lv in data.get("levels", [])]
        return cls(
            energy_pj=float(data["energy_pj"]),
            cycles=int(data["cycles"]),
            area_um2=float(data.get("area_um2", 0.0)),
            utilization=float(data.get("utilization", 0.0)),
            algorithmic_computes=float(data.get("algorithmic_computes", 0)),
            actual_computes=float(data.get("actual_computes", 0)),
            gated_computes=float(data.get("gated_computes", 0)),
            skipped_computes=float(data.get("skipped_computes", 0)),
            energy_breakdown_pj=dict(data.get("energy_breakdown_pj", {})),
            levels=levels,
            level_cycles=dict(data.get("level_cycles", {})),
            area_breakdown_um2=dict(data.get("area_breakdown_um2", {})),
            mapping=data.get("mapping"),
            backend=data.get("backend", "builtin"),
            engine_version=data.get("engine_version", ENGINE_VERSION),
            bound_by=data.get("bound_by"),
            notes=list(data.get("notes", [])),
        )

    def level(self, level: str, dataspace: str) -> LevelStats:
        for lv in self.levels:
            if lv.level == level and lv.dataspace == dataspace:
                return lv
        raise KeyError((level, dataspace))
