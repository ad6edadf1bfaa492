"""The estimator's data: recorded primitive figures, DRAM energy per bit, technology scaling.

Everything here is read from the CSV files in ``data/`` (each row with its provenance); the small
fits in `primitives` are made from these rows on first use, so the numbers stay inspectable.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"

_NODE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*nm\s*$", re.IGNORECASE)


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, newline="") as fh:
        return list(csv.DictReader(fh))


def _num(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Recorded:
    """One primitive figure Accelergy recorded (energy of one action, or area when action is '')."""

    cls: str
    key: tuple
    action: str
    value: float
    estimator: str
    provenance: str


KEY_ATTRIBUTES = ("technology", "width", "depth", "datawidth", "n_banks", "n_rdwr_ports")


def record_key(technology: str, width, depth, datawidth, n_banks, n_rdwr_ports) -> tuple:
    """A primitive's identity for looking up a recorded figure (numbers rounded, text lower case)."""

    def norm(v):
        f = _num(v) if not isinstance(v, (int, float)) else float(v)
        return None if f is None else round(f, 6)

    return (str(technology or "").strip('"').lower(), norm(width), norm(depth), norm(datawidth), norm(n_banks),
            norm(n_rdwr_ports))


@functools.lru_cache(maxsize=1)
def _all_recorded() -> tuple[Recorded, ...]:
    out = []
    for r in _rows("recorded_primitives.csv"):
        value = _num(r["area_um2"]) if r["action"] == "" else _num(r["energy_pJ"])
        if value is None:
            continue
        key = record_key(*(r[k] for k in KEY_ATTRIBUTES))
        out.append(Recorded(r["class"].lower(), key, r["action"], value, r["estimator"], r["provenance"]))
    return tuple(out)


def size_key(cls: str, key: tuple) -> tuple:
    """A primitive's class and size, the unit the leave-one-size-out view holds out: width and depth
    for a storage, the datawidth for anything else (technology, banks and ports left open, so every
    recorded variant of that size goes)."""
    cls = cls.lower()
    if key[1] is not None and key[2] is not None:
        return (cls, key[1], key[2])
    return (cls, None, None, key[3])


#: (class, size) keys (`size_key`) whose recorded figures no lookup or fit sees: the benchmark's
#: leave-one-size-out view (`holding_out`); empty in normal use
HELD_OUT: frozenset = frozenset()
#: a set while `tracing`: every primitive query adds its `size_key` here
TRACE: set | None = None


def trace(cls: str, key: tuple) -> None:
    """Note that a primitive of this class and size was priced (for the leave-one-size-out view)."""
    if TRACE is not None:
        TRACE.add(size_key(cls, key))


@contextlib.contextmanager
def tracing():
    """Collect the (class, size) keys of every primitive priced inside the block."""
    global TRACE
    old, TRACE = TRACE, set()
    try:
        yield TRACE
    finally:
        TRACE = old


@contextlib.contextmanager
def holding_out(sizes=(), components: bool = True):
    """Price inside the block as if the recorded figures of these (class, size) keys had never been
    recorded (left out of lookups and fits) and, with ``components``, no whole component either."""
    global HELD_OUT, USE_RECORDED_COMPONENTS
    old = HELD_OUT, USE_RECORDED_COMPONENTS
    HELD_OUT, USE_RECORDED_COMPONENTS = frozenset(sizes), not components
    try:
        yield
    finally:
        HELD_OUT, USE_RECORDED_COMPONENTS = old


@contextlib.contextmanager
def models_only():
    """Price inside the block from the models alone: no recorded figure is looked up (fits keep them)."""
    global USE_RECORDED
    old, USE_RECORDED = USE_RECORDED, False
    try:
        yield
    finally:
        USE_RECORDED = old


def recorded() -> tuple[Recorded, ...]:
    """Rows of ``recorded_primitives.csv`` (written by `sparse_hw.estimate.harvest`), less `HELD_OUT`."""
    return _recorded(HELD_OUT)


@functools.lru_cache(maxsize=8)
def _recorded(held: frozenset) -> tuple[Recorded, ...]:
    return tuple(r for r in _all_recorded() if not held or size_key(r.cls, r.key) not in held)


def recorded_index() -> dict[tuple, Recorded]:
    """(class, key, action) -> the recorded figure (the first file that recorded it wins)."""
    return _recorded_index(HELD_OUT) if USE_RECORDED else {}


@functools.lru_cache(maxsize=8)
def _recorded_index(held: frozenset) -> dict[tuple, Recorded]:
    index: dict[tuple, Recorded] = {}
    for rec in _recorded(held):
        if rec.key[1:] == (None,) * 5:
            continue  # a top-level primitive whose attributes the verbose file does not repeat
        index.setdefault((rec.cls, rec.key, rec.action), rec)
    return index


def recorded_by_class() -> dict[tuple[str, str], list[Recorded]]:
    """(class, action) -> the recorded figures, for lookups that leave unnamed attributes open."""
    return _recorded_by_class(HELD_OUT) if USE_RECORDED else {}


@functools.lru_cache(maxsize=8)
def _recorded_by_class(held: frozenset) -> dict[tuple[str, str], list[Recorded]]:
    out: dict[tuple[str, str], list[Recorded]] = {}
    for rec in _recorded(held):
        out.setdefault((rec.cls, rec.action), []).append(rec)
    return out


@functools.lru_cache(maxsize=1)
def aladdin_40nm() -> dict[str, dict[str, float | str]]:
    """Aladdin's 40 nm table (``data/aladdin_40nm.csv``): class -> figures at its reference width."""
    return {r["class"]: {"energy": float(r["energy_pJ"]), "leak": float(r["leak_pJ_per_cycle"]),
                         "area": float(r["area_um2"]), "width": float(r["ref_width"]), "action": r["action"],
                         "provenance": r["provenance"]}
            for r in _rows("aladdin_40nm.csv")}


def _aladdin_rows(name: str) -> dict[str, dict[str, float | str]]:
    return {r["class"]: {"energy": float(r["energy_pJ"]), "idle": float(r["idle_pJ"]), "area": float(r["area_um2"]),
                         "width": float(r["ref_width"]), "provenance": r["provenance"]}
            for r in _rows(name)}


@functools.lru_cache(maxsize=1)
def aladdin_5ns() -> dict[str, dict[str, float | str]]:
    """Aladdin's 40 nm tables at the 5 ns cycle Accelergy 0.3's Aladdin plug-in priced at
    (``data/aladdin_5ns.csv``): class -> energy, idle energy, area at its reference width."""
    return _aladdin_rows("aladdin_5ns.csv")


@functools.lru_cache(maxsize=1)
def aladdin_1ns() -> dict[str, dict[str, float | str]]:
    """The 1 ns rows of the same tables (``data/aladdin_1ns.csv``), which Accelergy 0.4's Aladdin plug-in
    reads at a 1 ns action latency (`primitives.aladdin_energy_rows`)."""
    return _aladdin_rows("aladdin_1ns.csv")


@functools.lru_cache(maxsize=1)
def neurosim_adder() -> tuple[tuple[str, float, float, float, float, str], ...]:
    """(technology, bits, add pJ, leak pJ, area um^2, provenance) of ``data/neurosim_adder.csv``."""
    return tuple((r["technology"], float(r["n_bits"]), float(r["add_pJ"]), float(r["leak_pJ"]),
                  float(r["area_um2"]), r["provenance"]) for r in _rows("neurosim_adder.csv"))


@functools.lru_cache(maxsize=1)
def converters() -> dict[str, dict[str, float | str]]:
    """ADC/DAC reference figures (``data/converters.csv``): class -> energy, area at its reference bits."""
    return {r["class"].upper(): {"bits": float(r["ref_bits"]), "energy": float(r["energy_pJ"]),
                                 "area": float(r["area_um2"]), "provenance": r["provenance"]}
            for r in _rows("converters.csv")}


@functools.lru_cache(maxsize=1)
def dram_energy_per_bit() -> dict[str, tuple[float, float, str]]:
    """DRAM type (and its aliases) -> (read pJ/bit, write pJ/bit, provenance): the published per-bit
    figures of ``data/dram.csv`` (read = write), and those derived from a vendor datasheet's currents
    in ``data/dram_idd.csv`` (`dram_idd_energy_per_bit`)."""
    out = {r["type"].upper(): (float(r["energy_pJ_per_bit"]),) * 2 + (r["provenance"],) for r in _rows("dram.csv")}
    for r in _rows("dram_idd.csv"):
        read, write = dram_idd_energy_per_bit(r)
        act = dram_idd_activate_pJ(r)
        miss = act / (float(r["bus_bits"]) * float(r["burst_length"]))
        prov = (f"{r['part']}, {r['type']}-{r['data_rate_MTps']}: {r['provenance']}; an ACTIVATE/PRECHARGE pair costs "
                f"{act:.0f} pJ, {miss:.1f} pJ/bit more if every burst opened a row")
        for name in (r["type"], *r["aliases"].split()):
            out[name.upper()] = (read, write, prov)
    return out


def dram_idd_energy_per_bit(row: dict[str, str]) -> tuple[float, float]:
    """(read, write) pJ/bit of one ``dram_idd.csv`` row by Micron TN-40-07: a burst draws
    (IDD4R or IDD4W - IDD3N) at VDD above active standby for the BL/2 clocks it holds the bus
    (mA x V x ns = pJ), spread over the bus_bits x BL bits it moves."""
    vdd, tck, bl, bits = (float(row[k]) for k in ("VDD_V", "tCK_ns", "burst_length", "bus_bits"))
    standby = float(row["IDD3N_mA"])
    return tuple((float(row[k]) - standby) * vdd * (bl / 2) * tck / (bits * bl) for k in ("IDD4R_mA", "IDD4W_mA"))


def dram_idd_activate_pJ(row: dict[str, str]) -> float:
    """Energy (pJ) of one ACTIVATE/PRECHARGE pair of a ``dram_idd.csv`` row by Micron TN-40-07: IDD0's
    one-bank ACT-PRE loop less the standby it includes (IDD3N while the row is open for tRAS, IDD2N
    for the rest of tRC) at VDD, plus the word-line boost IPP0 - IPP3N at VPP over tRC."""
    n = {k: float(v) for k, v in row.items() if k.endswith(("_mA", "_ns", "_V"))}
    core = n["IDD0_mA"] * n["tRC_ns"] - n["IDD3N_mA"] * n["tRAS_ns"] - n["IDD2N_mA"] * (n["tRC_ns"] - n["tRAS_ns"])
    return n["VDD_V"] * core + n["VPP_V"] * (n["IPP0_mA"] - n["IPP3N_mA"]) * n["tRC_ns"]


@functools.lru_cache(maxsize=1)
def _scaling() -> list[tuple[float, float, float]]:
    """(node nm, area factor from 45 nm, energy factor at 0.8 V) sorted by node."""
    out = []
    for r in _rows("tech_scaling.csv"):
        a, b, c = float(r["energy_a"]), float(r["energy_b"]), float(r["energy_c"])
        out.append((float(r["node_nm"]), float(r["area_from_45nm"]), a * 0.64 + b * 0.8 + c))
    return sorted(out)


def node_nm(technology) -> float | None:
    """``45nm`` / ``45 nm`` / 45 -> 45.0; anything else (-1, ``SRAM``) -> None."""
    if isinstance(technology, (int, float)) and not isinstance(technology, bool):
        return float(technology) if technology > 0 else None
    m = _NODE.match(str(technology or "").strip('"'))
    return float(m.group(1)) if m else None


def _interp(node: float, column: int) -> float:
    pts = _scaling()
    lo_node, hi_node = pts[0][0], pts[-1][0]
    node = min(max(node, lo_node), hi_node)
    for (n0, *v0), (n1, *v1) in zip(pts, pts[1:]):
        if n0 <= node <= n1:
            t = (math.log(node) - math.log(n0)) / (math.log(n1) - math.log(n0))
            return math.exp((1 - t) * math.log(v0[column]) + t * math.log(v1[column]))
    return pts[-1][column + 1]


def scale_factors(technology) -> tuple[float, float, str]:
    """(energy factor, area factor) from 45 nm to ``technology`` (log-log interpolated, Stillmaker & Baas)."""
    node = node_nm(technology)
    if node is None or node == 45:
        return 1.0, 1.0, ""
    e = _interp(node, 1) / _interp(45, 1)
    a = _interp(node, 0)
    return e, a, f"scaled 45nm->{node:g}nm (energy x{e:.3g}, area x{a:.3g}; data/tech_scaling.csv)"


#: the nodes ``data/tech_scaling.csv`` covers; `primitives.technology` refuses any other (no extrapolation)
SUPPORTED_NODES = (7.0, 130.0)

#: attributes that place or time a component but do not change its energy per action or area
_PLACEMENT = {"meshX", "meshY", "instances", "read_bandwidth", "write_bandwidth", "shared_bandwidth",
              "multiple_buffering", "min_utilization", "network_fill_latency", "network_drain_latency",
              "allow_overbooking", "power_gated_at", "has_power_gating", "reduction_supported", "cluster_size",
              "version"}


def component_signature(attrs) -> str:
    """A component's energy-relevant attributes as canonical text (sorted keys, numbers rounded)."""
    import json

    def norm(v):
        if isinstance(v, bool) or v is None:
            return v
        if isinstance(v, (int, float)):
            return round(float(v), 6)
        return str(v).strip('"')

    return json.dumps({k: norm(v) for k, v in sorted(attrs.items()) if k not in _PLACEMENT}, sort_keys=True)


def class_fingerprint(definition) -> str:
    """Which definition of a compound class priced a component: a short hash of it, '-' for none
    (the same class name defined differently, or not at all, is a different component)."""
    if definition is None:
        return "-"
    import hashlib

    return hashlib.sha256(definition.model_dump_json().encode()).hexdigest()[:12]


#: False: price from the models only (the benchmark's out-of-sample view); True: recorded figures first
USE_RECORDED = True
#: False while `holding_out` a component: no whole component is looked up in ``recorded_components.csv``
USE_RECORDED_COMPONENTS = True


@functools.lru_cache(maxsize=1)
def recorded_components() -> dict[tuple[str, str], dict[str, dict[str, dict[str, tuple[float, str]]]]]:
    """(class, signature) -> component path -> Accelergy version of the recording (its ERT's
    ``version``) -> {action ('' = area): (value, provenance)}, from ``recorded_components.csv`` (paths
    and versions in recording order)."""
    out: dict[tuple[str, str], dict[str, dict[str, dict[str, tuple[float, str]]]]] = {}
    for r in _rows("recorded_components.csv"):
        value = _num(r["area_um2"]) if r["action"] == "" else _num(r["energy_pJ"])
        if value is not None:
            by_path = out.setdefault((r["class"], r["attributes"]), {})
            by_version = by_path.setdefault(r["component"], {})
            by_version.setdefault(r.get("accelergy") or "", {})[r["action"]] = (value, r["provenance"])
    return out


def recorded_component(cls: str, signature: str, path: str,
                       version: str | None = None) -> dict[str, tuple[float, str]] | None:
    """The figures recorded for this class and signature: those of the same component path when two
    recordings disagree (two Accelergy versions priced one component differently), else the first;
    with ``version``, a recording by that Accelergy version first (same path, then any path)."""
    by_path = recorded_components().get((cls, signature))
    if not by_path:
        return None
    if version is not None:
        for versions in ([by_path[path]] if path in by_path else []) + list(by_path.values()):
            if version in versions:
                return versions[version]
    versions = by_path.get(path) or next(iter(by_path.values()))
    return next(iter(versions.values()))
