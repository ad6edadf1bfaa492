"""Parse Timeloop's ``*.stats.txt`` into plain sections, then into an :class:`Evaluation`.

Four generations of the file are read by the same line parser:

* **2020** (Timeloop v1, the ISPASS'20 tutorial outputs): a ``MACCs = N`` / ``pJ/MACC`` summary table,
  dense modules only, ``Vector access energy`` in the level specs;
* **2022** (Timeloop v2.0): ``pJ/Algorithmic-Compute`` / ``pJ/Compute`` summary tables, single-valued
  ``Actual scalar metadata reads`` lines, ``Total topology energy`` lines;
* **v3** (v3.0.x, 2023): ``fJ/Compute`` tables, per-rank format counts on continuation lines
  (``Rank 1 (metadata, payload): (0, 9)``), a dense module prints ``Scalar reads (per-instance)``;
* **2024** (the timeloopfe v4 tool chain): ``Utilization: 92.86%``, ``pJ/Compute`` tables again,
  ``Leakage energy (total)`` per level (part of the level energy), lower-case level names, zero-energy
  levels hidden by ``TIMELOOP_HIDE_INCONSEQUENTIAL_STATS``.

What the numbers mean follows the Timeloop sources (NVlabs/timeloop ``v3.0.3`` and ``6162a6a``):
a storage level's energy is ``StorageEnergy + TemporalReductionEnergy + AddrGenEnergy (+ LeakageEnergy)``
summed over data spaces (``src/model/buffer.cpp``, ``STAT_ACCESSOR(double, BufferLevel, Energy, ...)``);
a network's energy is ``(energy + link transfer energy) * instances + spatial reduction energy``
(``src/model/network-legacy.cpp``, ``LegacyNetwork::Energy``); the run's energy is the sum over levels
and networks (``src/model/topology.cpp``, ``Topology::ComputeStats``). The summary ``Area: 0.00 mm^2``
is a Timeloop bug (the area is reset by ``Topology::Reset()``), so the area is the sum over levels of
the per-instance ``Area`` times ``Instances`` (the compute level prints ``Area (total)``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import BackendError
from ..model.result import Evaluation, LevelStats

#: ``dataspace`` of the row that holds a compute level's statistics.
COMPUTE_DATASPACE = "(compute)"
#: ``dataspace`` of the row of a storage level that keeps no data (e.g. a spatial ``DummyBuffer``).
NO_DATA_DATASPACE = "(no data kept)"

Value = float | str | None
Dialect = Literal["2020", "2022", "v3", "2024"]

_ENERGY_TO_PJ = {"pJ": 1.0, "fJ": 1e-3, "nJ": 1e3, "uJ": 1e6, "mJ": 1e9, "J": 1e12}
_NUMBER = re.compile(
    r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|[-+]?nan|-nan)(?:\s+|(?=%)|$)(.*)$"
)
_RANK = re.compile(r"^Rank (\d+) \(metadata, payload\): \(\s*([^,]+?),\s*([^)]+?)\s*\)\s*$")
_BREAKDOWN = re.compile(r"^Breakdown \(Data, Format\): \(\s*([^,]+?)%,\s*([^)%]+?)%\)?\s*$")
_INGRESS = re.compile(r"^@multicast (\d+) @scatter (\d+): (.*)$")
_LEVEL = re.compile(r"^Level (\d+)$")
_NETWORK = re.compile(r"^Network (\d+)$")
_NAME = re.compile(r"^=== (.+) ===$")
# The 2020 build (Timeloop v1) titles the table ``MACCs = N`` with ``pJ/MACC`` rows.
_TABLE_TITLE = re.compile(r"^((?:Algorithmic |Actual )?(?:Computes|MACCs)) = (\S+)$")
_TABLE_UNIT = re.compile(r"^(pJ|fJ)/(Algorithmic-)?(?:Compute|MACC)$")
_TABLE_ROW = re.compile(r"^\s+(.+?)\s*= (\S+)\s*$")
_TOPOLOGY = re.compile(r"^(Total topology energy|Total topology area|Max topology cycles): (\S+)")


def parse_value(text: str) -> tuple[Value, str]:
    """Split one printed value into a number (or string) and its unit/remainder.

    ``"2.20 pJ"`` -> ``(2.2, "pJ")``; ``"168 (14*12)"`` -> ``(168.0, "(14*12)")``; ``"92.86%"`` ->
    ``(92.86, "%")``; ``"-"`` -> ``(None, "")``; ``"uop rle "`` -> ``("uop rle", "")``.
    """
    text = text.strip()
    if text in ("", "-"):
        return None, ""
    m = _NUMBER.match(text)
    if m:
        number = m.group(1).lstrip("+")
        return float("nan" if number == "-nan" else number), m.group(2).strip()
    return text, ""


@dataclass
class Block:
    """The ``key : value`` lines of one SPECS/STATS block or of one data space inside it."""

    values: dict[str, Value] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    #: key -> rank -> (metadata, payload): the per-rank continuation lines of format statistics.
    ranks: dict[str, dict[int, tuple[float, float]]] = field(default_factory=dict)
    #: key -> (data %, format %) from the ``Breakdown (Data, Format)`` line printed under it.
    breakdowns: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: key -> [(multicast, scatter, count)] from the ``@multicast m @scatter s: n`` lines (networks).
    ingresses: dict[str, list[tuple[int, int, float]]] = field(default_factory=dict)

    def number(self, *keys: str, default: float | None = None) -> float | None:
        """First of ``keys`` that is printed, as a number; a per-rank key is the sum of its ranks."""
        for key in keys:
            if self.ranks.get(key):
                return float(sum(m + p for m, p in self.ranks[key].values()))
            value = self.values.get(key)
            if isinstance(value, float):
                return value
        return default

    def energy_pj(self, key: str) -> float:
        value = self.values.get(key)
        if not isinstance(value, float):
            return 0.0
        return value * _ENERGY_TO_PJ.get(self.units.get(key, "pJ"), 1.0)


@dataclass
class LevelSection:
    """One ``Level N`` section: a storage level or the arithmetic (compute) level."""

    index: int
    name: str = ""
    specs: Block = field(default_factory=Block)
    stats: Block = field(default_factory=Block)
    dataspaces: dict[str, Block] = field(default_factory=dict)
    loop_nest: list[str] = field(default_factory=list)
    has_mapping: bool = False

    @property
    def is_compute(self) -> bool:
        if "Compute energy" in self.specs.values or "Energy-per-op" in self.specs.values:
            return True
        return not self.has_mapping and any("Computes" in k for k in self.stats.values)

    @property
    def instances(self) -> int:
        value = self.specs.number("Instances")
        return int(value) if value is not None else 1

    @property
    def area_um2(self) -> float:
        """Area of all instances (compute prints ``Area (total)``, storage the per-instance ``Area``)."""
        if self.is_compute:
            total = self.stats.number("Area (total)")
            if total is not None:
                return total
        per_instance = self.specs.number("Area")
        return 0.0 if per_instance is None else per_instance * self.instances

    @property
    def cycles(self) -> float | None:
        return self.stats.number("Cycles")

    def dataspace_energy_pj(self, ds: Block) -> float:
        """Timeloop's ``BufferLevel::Energy(pv)``: storage + temporal reduction + address generation."""
        return (
            ds.energy_pj("Energy (total)")
            + ds.energy_pj("Temporal Reduction Energy (total)")
            + ds.energy_pj("Address Generation Energy (total)")
        )

    @property
    def leakage_pj(self) -> float:
        return self.specs.energy_pj("Leakage energy (total)") + self.stats.energy_pj("Leakage energy (total)")

    @property
    def energy_pj(self) -> float:
        if self.is_compute:
            return self.stats.energy_pj("Energy (total)") + self.leakage_pj
        return sum(self.dataspace_energy_pj(ds) for ds in self.dataspaces.values()) + self.leakage_pj


@dataclass
class NetworkSection:
    """One ``Network N`` section (``parent <==> child``)."""

    index: int
    name: str = ""
    specs: Block = field(default_factory=Block)
    dataspaces: dict[str, Block] = field(default_factory=dict)

    @property
    def energy_pj(self) -> float:
        """``LegacyNetwork::Energy``: energy + link transfer energy + spatial reduction energy (totals)."""
        return sum(
            ds.energy_pj("Energy (total)")
            + ds.energy_pj("Link transfer energy (total)")
            + ds.energy_pj("Spatial Reduction Energy (total)")
            for ds in self.dataspaces.values()
        )


@dataclass
class ComputeTable:
    """A summary table such as ``Actual Computes = N`` followed by ``fJ/Compute`` rows, in pJ per compute."""

    title: str
    computes: float
    unit: str = ""
    per_compute_pj: dict[str, float] = field(default_factory=dict)


@dataclass
class TimeloopStats:
    """Everything one ``*.stats.txt`` says, as printed, plus the derived run totals."""

    source: str
    levels: list[LevelSection] = field(default_factory=list)
    networks: list[NetworkSection] = field(default_factory=list)
    summary: Block = field(default_factory=Block)
    tables: list[ComputeTable] = field(default_factory=list)

    # ----------------------------------------------------------------- what the file is
    @property
    def dialect(self) -> Dialect:
        """Which Timeloop generation printed the file (see the module docstring)."""
        if self.summary.units.get("Utilization") == "%" or any(
            "Leakage energy (total)" in lv.specs.values for lv in self.levels
        ):
            return "2024"
        if any(t.unit == "fJ" for t in self.tables):
            return "v3"
        if any(t.title == "MACCs" for t in self.tables):
            return "2020"
        if any(t.unit == "pJ" for t in self.tables) or "Total topology energy" in self.summary.values:
            return "2022"
        return "v3"

    @property
    def compute_level(self) -> LevelSection:
        for lv in self.levels:
            if lv.is_compute:
                return lv
        raise BackendError(
            "the Timeloop stats file has no arithmetic (compute) level",
            file=self.source,
            fix="pass a complete *.stats.txt written by timeloop-model or timeloop-mapper",
        )

    # ----------------------------------------------------------------- run totals
    @property
    def energy_pj(self) -> float:
        """Sum of every level's and network's energy (Timeloop's ``Topology::ComputeStats``)."""
        return sum(lv.energy_pj for lv in self.levels) + self.network_energy_pj

    @property
    def network_energy_pj(self) -> float:
        return sum(net.energy_pj for net in self.networks)

    @property
    def leakage_pj(self) -> float:
        return sum(lv.leakage_pj for lv in self.levels)

    @property
    def area_um2(self) -> float:
        """Sum over levels of instances x per-instance area (the summary ``Area`` line is a Timeloop bug)."""
        return sum(lv.area_um2 for lv in self.levels)

    @property
    def cycles(self) -> int:
        value = self.summary.number("Cycles", "Max topology cycles")
        if value is None:
            level_cycles = [c for c in (lv.cycles for lv in self.levels) if c is not None]
            if not level_cycles:
                raise BackendError(
                    "the Timeloop stats file prints no cycle count",
                    file=self.source,
                    fix="pass a complete *.stats.txt (an aborted run leaves a truncated file)",
                )
            value = max(level_cycles)
        return int(round(value))

    @property
    def utilization(self) -> float:
        """Fraction of compute instances busy per cycle (``Utilization: 92.86%`` is read as 0.9286)."""
        value = self.summary.number("Utilization")
        if value is None:
            return math.nan
        return value / 100.0 if self.summary.units.get("Utilization") == "%" else value

    def computes(self) -> dict[str, float]:
        """Algorithmic, actual, gated and skipped computes (a dense run prints only ``Computes``)."""
        stats = self.compute_level.stats
        algorithmic = stats.number("Algorithmic Computes (total)")
        actual = stats.number("Actual Computes (total)")
        if actual is None:
            actual = stats.number("Computes (total)")
        tables = {t.title: t.computes for t in self.tables}
        if actual is None:
            actual = tables.get("Actual Computes", tables.get("Computes", tables.get("MACCs")))
        if algorithmic is None:
            algorithmic = tables.get("Algorithmic Computes", actual)
        if actual is None or algorithmic is None:
            raise BackendError(
                "the Timeloop stats file prints no compute count",
                file=self.source,
                fix="pass a complete *.stats.txt written by timeloop-model or timeloop-mapper",
            )
        return {
            "algorithmic_computes": algorithmic,
            "actual_computes": actual,
            "gated_computes": stats.number("Gated Computes (total)", default=0.0) or 0.0,
            "skipped_computes": stats.number("Skipped Computes (total)", default=0.0) or 0.0,
        }

    # ----------------------------------------------------------------- as rows / as an Evaluation
    def raw_rows(self) -> list[dict[str, Any]]:
        """One row per (level, data space) with Timeloop's own key names, as printed.

        Per-rank counts become ``<key> [rank<i> metadata]`` / ``[rank<i> payload]`` columns, the last
        ``Breakdown (Data, Format)`` under a data space becomes that column (as a string), and
        ``instances``, ``level_area_um2`` and ``level_cycles`` are added (the layout of the reference's
        ``results_levels.csv``).
        """
        rows: list[dict[str, Any]] = []
        for lv in self.levels:
            base = {"level": lv.name, "instances": lv.instances, "level_area_um2": lv.area_um2}
            if lv.is_compute:
                rows.append({**base, "dataspace": COMPUTE_DATASPACE, **lv.stats.values})
                continue
            if not lv.dataspaces:
                rows.append({**base, "dataspace": NO_DATA_DATASPACE, "Cycles": lv.cycles})
                continue
            for ds_name, ds in lv.dataspaces.items():
                row = {**base, "dataspace": ds_name, "level_cycles": lv.cycles}
                for key, value in ds.values.items():
                    if ds.ranks.get(key):
                        for rank, (meta, payload) in ds.ranks[key].items():
                            row[f"{key} [rank{rank} metadata]"] = meta
                            row[f"{key} [rank{rank} payload]"] = payload
                    else:
                        row[key] = value
                if ds.breakdowns:
                    data, fmt = list(ds.breakdowns.values())[-1]
                    row["Breakdown (Data, Format)"] = f"({data:.2f}%, {fmt:.2f}%)"
                rows.append(row)
        return rows

    def to_evaluation(self, *, mapping: dict[str, Any] | None = None) -> Evaluation:
        """The run as the project's shared result type (counts per instance, as Timeloop prints them)."""
        levels: list[LevelStats] = []
        breakdown: dict[str, float] = {}
        area: dict[str, float] = {}
        level_cycles: dict[str, int] = {}
        for lv in self.levels:
            breakdown[lv.name] = breakdown.get(lv.name, 0.0) + lv.energy_pj
            area[lv.name] = area.get(lv.name, 0.0) + lv.area_um2
            if lv.cycles is not None:
                level_cycles[lv.name] = int(round(lv.cycles))
            levels.extend(_level_stats(lv))
        for net in self.networks:
            if net.energy_pj > 0:
                breakdown[net.name] = breakdown.get(net.name, 0.0) + net.energy_pj
        computes = self.computes()
        cycles = self.cycles
        notes = [f"parsed from {Path(self.source).name} (Timeloop {self.dialect} output format)"]
        summary_area = self.summary.number("Area")
        if summary_area is not None and summary_area == 0.0 and self.area_um2 > 0:
            notes.append(
                "the summary line 'Area: 0.00 mm^2' is a Timeloop bug; area_um2 is the sum over levels "
                "of instances x per-instance area"
            )
        summary_energy = self.summary.number("Energy")
        if summary_energy is not None:
            unit = self.summary.units.get("Energy", "uJ")
            printed_pj = summary_energy * _ENERGY_TO_PJ.get(unit, 1e6)
            # The summary is printed with 2 decimals in uJ: allow that rounding (and 1e-6 relative).
            if abs(printed_pj - self.energy_pj) > 0.5e4 + 1e-6 * abs(printed_pj):
                notes.append(
                    f"summary 'Energy: {summary_energy} {unit}' differs from the sum of the level and "
                    f"network energies ({self.energy_pj:.2f} pJ); the sum is reported"
                )
        if self.leakage_pj > 0:
            notes.append(
                f"energy includes {self.leakage_pj:.2f} pJ of leakage (Leakage energy (total) lines)"
            )
        return Evaluation(
            energy_pj=self.energy_pj,
            cycles=cycles,
            area_um2=self.area_um2,
            utilization=self.utilization,
            energy_breakdown_pj=breakdown,
            levels=levels,
            level_cycles=level_cycles,
            area_breakdown_um2=area,
            mapping=mapping,
            backend="timeloop",
            engine_version=f"timeloop-{self.dialect}",
            bound_by=_bound_by(self.levels, cycles),
            notes=notes,
            **computes,
        )


# ------------------------------------------------------------------------------------------ mapping
# LevelStats field -> Timeloop keys, the sparse-module spelling first, the dense one second.
_COUNT_KEYS: dict[str, tuple[str, ...]] = {
    "partition_size": ("Partition size",),
    "tile_size": ("Data tile shape", "Utilized capacity"),
    "max_occupancy": ("Max utilized data storage capacity", "Utilized capacity"),
    "algorithmic_reads": ("Algorithmic scalar reads (per-instance)", "Scalar reads (per-instance)"),
    "reads": ("Actual scalar reads (per-instance)", "Scalar reads (per-instance)"),
    "gated_reads": ("Gated scalar reads (per-instance)",),
    "skipped_reads": ("Skipped scalar reads (per-instance)",),
    "algorithmic_fills": ("Algorithmic scalar fills (per-instance)", "Scalar fills (per-instance)"),
    "fills": ("Actual scalar fills (per-instance)", "Scalar fills (per-instance)"),
    "gated_fills": ("Gated scalar fills (per-instance)",),
    "skipped_fills": ("Skipped scalar fills (per-instance)",),
    "algorithmic_updates": ("Algorithmic scalar updates (per-instance)", "Scalar updates (per-instance)"),
    "updates": ("Actual scalar updates (per-instance)", "Scalar updates (per-instance)"),
    "gated_updates": ("Gated scalar updates (per-instance)",),
    "skipped_updates": ("Skipped scalar updates (per-instance)",),
    # Format (metadata + payload) accesses: v3 prints them per rank, the 2022 version as one number.
    # Sparseloop charges the metadata_* ERT actions for metadata and payload bits alike
    # (src/model/buffer.cpp, ComputeVectorAccesses: accessed_bits_accumulator), so both are summed.
    "metadata_reads": (
        "Actual scalar format reads (per-instance)",
        "Actual scalar metadata reads (per-instance)",
    ),
    "gated_metadata_reads": (
        "Gated scalar format reads (per-instance)",
        "Gated scalar metadata reads (per-instance)",
    ),
    "skipped_metadata_reads": (
        "Skipped scalar format reads (per-instance)",
        "Skipped scalar metadata reads (per-instance)",
    ),
    "metadata_fills": (
        "Actual scalar format fills (per-instance)",
        "Actual scalar metadata fills (per-instance)",
    ),
    "gated_metadata_fills": (
        "Gated scalar format fills (per-instance)",
        "Gated scalar metadata fills (per-instance)",
    ),
    "skipped_metadata_fills": (
        "Skipped scalar format fills (per-instance)",
        "Skipped metadata fills (per-instance)",  # sic, Timeloop v2.0
    ),
    "metadata_updates": (
        "Actual scalar format updates (per-instance)",
        "Actual scalar metadata updates (per-instance)",
    ),
    "gated_metadata_updates": (
        "Gated scalar format updates (per-instance)",
        "Gated scalar metadata gated updates (per-instance)",  # sic, Timeloop v2.0
    ),
    "skipped_metadata_updates": (
        "Skipped scalar format updates (per-instance)",
        "Skipped scalar metadata updates (per-instance)",
    ),
    "decompression_count": ("Scalar decompression counts (per-cluster)",),
    "compression_count": ("Scalar compression counts (per-cluster)",),
    "temporal_reductions": ("Temporal reductions (per-instance)",),
    "address_generations": ("Address generations (per-cluster)",),
}

# extra[...] name -> Timeloop keys.
_EXTRA_NUMBERS: dict[str, tuple[str, ...]] = {
    "utilized_clusters": ("Utilized clusters (max)",),
    "energy_per_scalar_access_pj": ("Energy (per-scalar-access)",),
    "energy_per_instance_pj": ("Energy (per-instance)",),
    "temporal_reduction_energy_pj": ("Temporal Reduction Energy (total)",),
    "address_generation_energy_pj": ("Address Generation Energy (total)",),
    "shared_bandwidth_per_instance": (
        "Average Shared Bandwidth (per-instance)",
        "Shared Bandwidth (per-instance)",
    ),
    "shared_bandwidth_total": ("Shared Bandwidth (total)",),
    "read_bandwidth_per_instance": ("Average Read Bandwidth (per-instance)", "Read Bandwidth (per-instance)"),
    "read_bandwidth_total": ("Read Bandwidth (total)",),
    "write_bandwidth_per_instance": (
        "Average Write Bandwidth (per-instance)",
        "Write Bandwidth (per-instance)",
    ),
    "write_bandwidth_total": ("Write Bandwidth (total)",),
    "format_capacity": (
        "Max utilized Repr format storage capacity",
        "Max utilized metadata storage capacity",
    ),
}

_RANKED_EXTRAS = {
    "format_capacity": "Max utilized Repr format storage capacity",
    "metadata_reads": "Actual scalar format reads (per-instance)",
    "gated_metadata_reads": "Gated scalar format reads (per-instance)",
    "skipped_metadata_reads": "Skipped scalar format reads (per-instance)",
    "metadata_fills": "Actual scalar format fills (per-instance)",
    "gated_metadata_fills": "Gated scalar format fills (per-instance)",
    "skipped_metadata_fills": "Skipped scalar format fills (per-instance)",
    "metadata_updates": "Actual scalar format updates (per-instance)",
    "gated_metadata_updates": "Gated scalar format updates (per-instance)",
    "skipped_metadata_updates": "Skipped scalar format updates (per-instance)",
}


def _level_stats(lv: LevelSection) -> list[LevelStats]:
    if lv.is_compute:
        stats = lv.stats
        utilized = stats.number("Utilized instances (max)", "Utilized instances", default=0.0) or 0.0
        extra = {
            key: stats.number(tl)
            for key, tl in (
                ("algorithmic_computes", "Algorithmic Computes (total)"),
                ("actual_computes", "Actual Computes (total)"),
                ("gated_computes", "Gated Computes (total)"),
                ("skipped_computes", "Skipped Computes (total)"),
                ("computes", "Computes (total)"),
                ("cycles", "Cycles"),
            )
            if stats.number(tl) is not None
        }
        return [
            LevelStats(
                level=lv.name,
                dataspace=COMPUTE_DATASPACE,
                instances=lv.instances,
                utilized_instances=utilized,
                energy_pj=lv.energy_pj,
                utilized_instances_avg=stats.number("Utilized instances (average)"),
                extra=extra,
            )
        ]
    if not lv.dataspaces:
        return [
            LevelStats(
                level=lv.name,
                dataspace=NO_DATA_DATASPACE,
                instances=lv.instances,
                utilized_instances=0.0,
                energy_pj=lv.leakage_pj,
            )
        ]
    out = []
    for ds_name, ds in lv.dataspaces.items():
        counts = {f: ds.number(*keys, default=0.0) or 0.0 for f, keys in _COUNT_KEYS.items()}
        extra: dict[str, Any] = {
            name: value for name, keys in _EXTRA_NUMBERS.items() if (value := ds.number(*keys)) is not None
        }
        distribution = ds.values.get("Tile density distribution")
        if isinstance(distribution, str):
            extra["tile_density_distribution"] = distribution
        ranked = {
            name: [[rank, meta, payload] for rank, (meta, payload) in sorted(ds.ranks[key].items())]
            for name, key in _RANKED_EXTRAS.items()
            if ds.ranks.get(key)
        }
        if ranked:
            extra["format_per_rank"] = ranked  # [rank, metadata units, payload units], rank 0 innermost
        fmt = ds.values.get("Representation format", ds.values.get("Metadata format"))
        out.append(
            LevelStats(
                level=lv.name,
                dataspace=ds_name,
                instances=lv.instances,
                utilized_instances=ds.number("Utilized instances (max)", default=0.0) or 0.0,
                format=str(fmt).strip() if fmt not in (None, "") else "none",
                energy_pj=ds.energy_pj("Energy (total)"),
                utilized_instances_avg=ds.number("Utilized instances (average)"),
                extra=extra,
                **counts,
            )
        )
    return out


def _bound_by(levels: list[LevelSection], cycles: int) -> str | None:
    """The level whose cycle count sets the run's cycles (the compute level wins a tie)."""
    best = None
    for lv in sorted(levels, key=lambda lv: not lv.is_compute):
        c = lv.cycles
        if c is not None and int(round(c)) == cycles:
            best = lv.name
            break
    return best


# ------------------------------------------------------------------------------------------ parser
class _Parser:
    """A line-by-line state machine over the sections Timeloop prints."""

    def __init__(self, source: str) -> None:
        self.out = TimeloopStats(source=source)
        self.mode = "start"  # levels | networks | opint | summary
        self.sub = ""  # SPECS | MAPPING | STATS
        self.level: LevelSection | None = None
        self.network: NetworkSection | None = None
        self.block: Block | None = None  # the block key/value lines go to
        self.last_key: str | None = None
        self.table: ComputeTable | None = None
        self.expect_network_name = False

    def error(self, lineno: int, line: str, why: str) -> BackendError:
        return BackendError(
            f"cannot read line {lineno} of the Timeloop stats file ({why}): {line.strip()!r}",
            file=self.out.source,
            line=lineno,
            fix="pass an unmodified *.stats.txt written by timeloop-model or timeloop-mapper",
        )

    def feed(self, lineno: int, raw: str) -> None:
        line = raw.rstrip("\n").rstrip()
        stripped = line.strip()
        if not stripped or set(stripped) == {"-"}:
            return
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0 and self._top_level(stripped):
            return
        if self.mode == "levels":
            self._in_level(lineno, line, stripped, indent)
        elif self.mode == "networks":
            self._in_network(lineno, line, stripped, indent)
        elif self.mode == "summary":
            self._in_summary(lineno, line, stripped)
        # "start" (preamble) and "opint" (operational intensity) carry nothing we report.

    def _top_level(self, s: str) -> bool:
        if s == "Buffer and Arithmetic Levels":
            self.mode = "levels"
            return True
        if s == "Networks":
            self.mode, self.network = "networks", None
            return True
        if s == "Operational Intensity Stats":
            self.mode = "opint"
            return True
        if s == "Summary Stats":
            self.mode = "summary"
            return True
        m = _TOPOLOGY.match(s)
        if m:
            value, unit = parse_value(s.split(":", 1)[1])
            self.out.summary.values[m.group(1)] = value
            self.out.summary.units[m.group(1)] = unit
            return True
        if self.mode == "levels":
            m = _LEVEL.match(s)
            if m:
                self.level = LevelSection(index=int(m.group(1)))
                self.out.levels.append(self.level)
                self.sub, self.block = "", None
                return True
            m = _NAME.match(s)
            if m and self.level is not None:
                self.level.name = m.group(1).strip()
                return True
        if self.mode == "networks":
            m = _NETWORK.match(s)
            if m:
                self.network = NetworkSection(index=int(m.group(1)))
                self.out.networks.append(self.network)
                self.sub, self.block, self.expect_network_name = "", None, True
                return True
            if self.expect_network_name and self.network is not None:
                self.network.name = s
                self.expect_network_name = False
                return True
        return False

    def _subsection(self, s: str, indent: int) -> bool:
        if indent == 4 and s in ("SPECS", "MAPPING", "STATS"):
            self.sub = s
            self.last_key = None
            owner = self.level if self.mode == "levels" else self.network
            if s == "SPECS":
                self.block = owner.specs
            elif s == "STATS":
                self.block = owner.stats if isinstance(owner, LevelSection) else Block()
            else:
                self.block = None
                if isinstance(owner, LevelSection):
                    owner.has_mapping = True
            return True
        return False

    def _in_level(self, lineno: int, line: str, s: str, indent: int) -> None:
        if self.level is None:
            raise self.error(lineno, line, "statistics before the first 'Level N' header")
        if self._subsection(s, indent):
            return
        if self.sub == "MAPPING":
            if s != "Loop nest:":
                self.level.loop_nest.append(s)
            return
        if self.sub == "SPECS":
            self._key_value(lineno, line, s, self.level.specs)
            return
        if self.sub == "STATS":
            if indent == 4 and s.endswith(":") and ":" not in s[:-1]:
                self.block = self.level.dataspaces.setdefault(s[:-1].strip(), Block())
                self.last_key = None
                return
            if indent == 4:
                self.block = self.level.stats
            self._key_value(lineno, line, s, self.block)
            return
        raise self.error(lineno, line, "a line outside the SPECS/MAPPING/STATS blocks of a level")

    def _in_network(self, lineno: int, line: str, s: str, indent: int) -> None:
        if self.network is None:
            raise self.error(lineno, line, "statistics before the first 'Network N' header")
        if self._subsection(s, indent):
            return
        if self.sub == "SPECS":
            self._key_value(lineno, line, s, self.network.specs)
            return
        if self.sub == "STATS":
            if indent == 4 and s.endswith(":") and ":" not in s[:-1]:
                self.block = self.network.dataspaces.setdefault(s[:-1].strip(), Block())
                self.last_key = None
                return
            self._key_value(lineno, line, s, self.block or Block())
            return
        raise self.error(lineno, line, "a line outside the SPECS/STATS blocks of a network")

    def _key_value(self, lineno: int, line: str, s: str, block: Block) -> None:
        m = _RANK.match(s)
        if m:
            if self.last_key is None:
                raise self.error(lineno, line, "a 'Rank' line without a statistic above it")
            meta, payload = float(m.group(2)), float(m.group(3))
            block.ranks.setdefault(self.last_key, {})[int(m.group(1))] = (meta, payload)
            return
        m = _BREAKDOWN.match(s)
        if m:
            if self.last_key is not None:
                block.breakdowns[self.last_key] = (float(m.group(1)), float(m.group(2)))
            return
        m = _INGRESS.match(s)
        if m:
            if self.last_key is not None:
                count, _ = parse_value(m.group(3))
                block.ingresses.setdefault(self.last_key, []).append(
                    (int(m.group(1)), int(m.group(2)), float(count) if isinstance(count, float) else 0.0)
                )
            return
        if ":" not in s:
            # A statistic whose per-rank values follow on continuation lines.
            self.last_key = s
            block.ranks.setdefault(s, {})
            block.values.setdefault(s, None)
            return
        key, _, rest = s.partition(":")
        key = key.strip()
        value, unit = parse_value(rest)
        block.values[key] = value
        if unit:
            block.units[key] = unit
        self.last_key = key

    def _in_summary(self, lineno: int, line: str, s: str) -> None:
        m = _TABLE_TITLE.match(s)
        if m:
            value, _ = parse_value(m.group(2))
            self.table = ComputeTable(
                title=m.group(1), computes=float(value) if isinstance(value, float) else 0.0
            )
            self.out.tables.append(self.table)
            return
        m = _TABLE_UNIT.match(s)
        if m and self.table is not None:
            self.table.unit = m.group(1)
            return
        if self.table is not None and line.startswith(" "):
            m = _TABLE_ROW.match(line)
            if m:
                value, _ = parse_value(m.group(2))
                if isinstance(value, float):
                    self.table.per_compute_pj[m.group(1)] = value * _ENERGY_TO_PJ.get(
                        self.table.unit or "pJ", 1.0
                    )
                return
        if ":" in s:
            key, _, rest = s.partition(":")
            value, unit = parse_value(rest)
            self.out.summary.values[key.strip()] = value
            if unit:
                self.out.summary.units[key.strip()] = unit
            return
        raise self.error(lineno, line, "an unrecognised line in 'Summary Stats'")


def parse_stats_text(text: str, source: str | Path = "<stats>") -> TimeloopStats:
    """Parse the text of a Timeloop ``*.stats.txt`` (any of the four generations)."""
    parser = _Parser(str(source))
    for lineno, line in enumerate(text.splitlines(), 1):
        parser.feed(lineno, line)
    out = parser.out
    if not out.levels:
        raise BackendError(
            "no 'Level N' sections found: this is not a Timeloop stats file (or it is empty)",
            file=source,
            fix="pass the *.stats.txt that timeloop-model / timeloop-mapper wrote",
        )
    unnamed = [lv.index for lv in out.levels if not lv.name]
    if unnamed:
        raise BackendError(
            f"level(s) {unnamed} have no '=== name ===' line",
            file=source,
            fix="pass an unmodified *.stats.txt written by timeloop-model or timeloop-mapper",
        )
    if "Cycles" not in out.summary.values and "Max topology cycles" not in out.summary.values:
        raise BackendError(
            "the stats file has no 'Summary Stats' with a cycle count; the run did not finish",
            file=source,
            fix="re-run Timeloop; a run that was killed or found no valid mapping writes no summary",
        )
    out.compute_level  # noqa: B018 - raises a clear error when the compute level is missing
    return out


def parse_stats_file(path: str | Path) -> TimeloopStats:
    """Read and parse one ``*.stats.txt``; a missing or unreadable file is a BackendError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise BackendError(
            "Timeloop stats file not found", file=path, fix="check the output folder"
        ) from None
    except IsADirectoryError:
        raise BackendError(
            "is a directory, expected a *.stats.txt file", file=path, fix="name the file"
        ) from None
    return parse_stats_text(text, path)
