"""Energy per action and area of Accelergy's primitive classes.

Each primitive is priced in this order: (1) a figure Accelergy recorded for the very same class
and attributes (``data/recorded_primitives.csv``, its file as provenance); (2) the composition
Accelergy's plug-in used, from its published tables (``data/aladdin_5ns.csv``): a regfile or an
SRAM under CACTI's 64 bytes is width registers plus a log2(depth)-bit comparator per word, an
integer adder is linear and a multiplier quadratic in the bit width, an intmac is multiplier +
adder, an fpmac Aladdin's floating-point adder + multiplier, all exact against the recorded
figures; (3) for an SRAM of 64 bytes and more, CACTI 7's own figures for the request Accelergy's
CACTI plug-in makes (`cacti`: tabulated CACTI runs, interpolated in bus width, words, banks, ports
and node; the current plug-in's rules for v0.4 inputs); DRAM from the per-bit table
(``data/dram.csv``; DDR4 from datasheet currents, ``data/dram_idd.csv``). Other figures are at
45 nm (Aladdin's 40 nm tables are reported unchanged at 40-45 nm) and scaled to the component's
node with `tables.scale_factors`; a technology outside that table's nodes (7-130 nm) is refused,
not extrapolated (`technology`), and so is a count, size or width the estimator cannot price from
(`check_attributes`). The error on sizes no recording has is measured by
``benchmarks/estimate_vs_accelergy.py --loo``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from . import cacti, tables


class EstimateError(ValueError):
    """A primitive cannot be priced (unknown class, impossible size); carries the attribute key."""

    def __init__(self, message: str, key: str, fix: str) -> None:
        super().__init__(message)
        self.key = key
        self.fix = fix


@dataclass
class Priced:
    """One primitive instance: energy per action (pJ), area (um^2) and where each number came from."""

    energy: dict[str, float]
    area: float
    estimator: str
    source: dict[str, str] = field(default_factory=dict)  # action ('' = area) -> table / formula
    #: energies that replace ``energy``'s where the primitive is a component on its own, not a compound's
    #: subcomponent (an SRAM's read then tabulates every address delta, and Timeloop keeps the largest)
    top_level: dict[str, float] = field(default_factory=dict)


def _attr(attrs: dict[str, Any], *names: str, default: Any = None) -> Any:
    for n in names:
        v = attrs.get(n)
        if v is not None and not (isinstance(v, str) and v.strip() in ("", "must_specify")):
            return v
    return default


def _number(attrs: dict[str, Any], names: tuple[str, ...], default: float | None, component: str) -> float | None:
    v = _attr(attrs, *names, default=default)
    if v is None:
        return None
    key = next((n for n in names if attrs.get(n) is not None), names[0])
    try:
        if isinstance(v, bool):
            raise TypeError
        f = float(v)
    except (TypeError, ValueError):
        raise EstimateError(f"{component}: attribute {key} is {v!r}, not a number", key,
                            f"give {key} as a number") from None
    if not math.isfinite(f):  # NaN/inf would price to NaN/inf, or pass silently where it is unused
        raise EstimateError(f"{component}: attribute {key} is {f}, not a finite number", key,
                            f"give {key} as a finite number")
    return f


#: attributes the estimator reads as counts (whole numbers >= 1), whole sizes (>= 0) and bit widths
#: (>= 0; Accelergy's address generators carry fractional widths such as 2.48, so no whole-number rule)
COUNT_ATTRIBUTES = ("n_banks", "num_banks", "n_rdwr_ports", "n_rd_ports", "n_wr_ports", "meshX", "meshY",
                    "instances")
WHOLE_ATTRIBUTES = ("depth", "memory_depth", "data_storage_depth", "entries", "block_size", "n_words")
WIDTH_ATTRIBUTES = ("width", "memory_width", "data_storage_width", "datawidth", "word_bits", "word_width")


def check_attributes(attrs: dict[str, Any], component: str, cls: str = "") -> None:
    """Refuse a component attribute the estimator cannot price from (raises `EstimateError` naming the
    key): a count that is not a whole number >= 1, a size that is not a whole number >= 0, a width
    that is not a finite number >= 0, a technology outside the scaling table. Run before pricing, so
    a meaningless attribute is refused even where the model at hand would not read it."""
    for key in (*COUNT_ATTRIBUTES, *WHOLE_ATTRIBUTES, *WIDTH_ATTRIBUTES):
        if _attr(attrs, key) is None:
            continue
        f = _number(attrs, (key,), None, component)
        if key in COUNT_ATTRIBUTES and (f < 1 or f != int(f)):
            raise EstimateError(f"{component}: attribute {key} is {f:g}, not a whole number >= 1", key,
                                f"give {key} as a whole number >= 1")
        if key in WHOLE_ATTRIBUTES and (f < 0 or f != int(f)):
            raise EstimateError(f"{component}: attribute {key} is {f:g}, not a whole number >= 0", key,
                                f"give {key} as a whole number >= 0")
        if f < 0:
            raise EstimateError(f"{component}: attribute {key} is {f:g}, negative", key, f"give {key} as a number >= 0")
    tech = str(_attr(attrs, "technology", default="")).strip('"').upper()
    # placeholders (v4's technology: -1) are priced free, and a DRAM's per-bit figure depends on no node:
    # Accelergy prices a DRAM whose technology is still the template's "SET ME" (example_designs, 2d55108)
    if "dummy" not in cls.lower() and "dram" not in cls.lower() and tech != "DRAM":
        technology(attrs, component)


def technology(attrs: dict[str, Any], component: str) -> str:
    """The component's ``technology`` (45nm when not given), refused unless it is a node inside the
    scaling table (`tables.SUPPORTED_NODES`, 7-130 nm): every figure is fitted at 45 nm and scaled
    with that table, and sparse-hw refuses rather than extrapolates beyond it (no silent numbers)."""
    tech = _attr(attrs, "technology", default="45nm")
    node = tables.node_nm(tech)
    lo, hi = tables.SUPPORTED_NODES
    if node is None or not lo <= node <= hi:
        what = "outside the nodes the estimator's scaling table covers" if node is not None else "not a process node"
        raise EstimateError(
            f"{component}: technology is {tech!r}, {what}", "technology",
            f"give technology like 45nm, between {lo:g} and {hi:g} nm (the range of data/tech_scaling.csv, "
            "Stillmaker & Baas 2017; sparse-hw does not extrapolate beyond it), on the component or its subtree",
        )
    if isinstance(tech, (int, float)):  # `technology: 45` (a YAML number): the node in the text every table reads
        return f"{node:g}nm"
    return str(tech)


# ------------------------------------------------------------------------------------- recorded
def _lookup(cls: str, key: tuple, action: str) -> tables.Recorded | None:
    """The recorded figure for exactly this key, else one whose recorded attributes (those the
    recording names; the others it left to the plug-in's defaults) all equal the query's."""
    exact = tables.recorded_index().get((cls, key, action))
    if exact is not None:
        return exact
    best, best_n = None, 0
    for rec in tables.recorded_by_class().get((cls, action), ()):
        named = [(r, q) for r, q in zip(rec.key, key) if r not in (None, "")]
        if len(named) >= 3 and all(r == q for r, q in named) and len(named) > best_n:
            best, best_n = rec, len(named)
    return best


_ACTION_ALIASES = {"idle": "leak", "leak": "idle", "update": "write"}


def _recorded_primitive(cls: str, key: tuple, actions: tuple[str, ...]) -> Priced | None:
    """All actions and the area from recorded figures, or None when any one is missing."""
    energy, source = {}, {}
    estimator = ""
    for action in actions:
        rec = _lookup(cls, key, action) or _lookup(cls, key, _ACTION_ALIASES.get(action, ""))
        if rec is None:
            return None
        energy[action] = rec.value
        source[action] = f"recorded {rec.estimator} figure, {rec.provenance}"
        estimator = rec.estimator
    rec = _lookup(cls, key, "")
    if rec is None:
        return None
    source[""] = f"recorded {rec.estimator} figure, {rec.provenance}"
    return Priced(energy, rec.value, f"recorded ({estimator})", source)


# ------------------------------------------------------------------------------------------ SRAM
CACTI_MIN_BITS = 512  # the CACTI plug-in refuses arrays under 64 bytes (accelergy-cacti-plug-in, 2022)

_SRAM_ACTIONS = ("read", "write", "idle")
#: the largest on-chip memory and word priced (x128 and x64 the CACTI grid's largest; see `sram`)
MAX_SRAM_BYTES = 1 << 30
MAX_SRAM_BITS = 65536
MAX_SRAM_BANKS = 1024


def aladdin_energy_regime(cls: str, width: float, depth: float) -> bool:
    """Whether Accelergy priced this storage's actions with Aladdin's register table (else CACTI):
    a regfile always, an SRAM under CACTI's 64-byte minimum. (The 2022 Accelergy behind
    eyeriss_v2_pe gave a 20 x 32 SRAM Aladdin's figures, the 2023 one behind eyeriss_v2 CACTI's; this
    follows the later one and the CACTI plug-in's own rule.)"""
    return "regfile" in cls.lower() or width * depth < CACTI_MIN_BITS


def aladdin_area_regime(cls: str, width: float, depth: float) -> str:
    """'aladdin', 'cacti' or 'placeholder' for the area: Aladdin prices the area of a regfile and of
    an SRAM of width <= 16 and depth <= 128 (accelergy-aladdin-plug-in), CACTI from 64 bytes; an SRAM
    neither prices got Accelergy's dummy_table area of 1 um^2 (recorded for a 17 x 12 SRAM in
    ../shared/reference/timeloop/designs/eyeriss_v2/accelergy_ert/ART_summary_verbose.yaml)."""
    if "regfile" in cls.lower() or (width * depth < CACTI_MIN_BITS and width <= 16 and depth <= 128):
        return "aladdin"
    return "cacti" if width * depth >= CACTI_MIN_BITS else "placeholder"


def aladdin_storage(width: float, depth: float, attrs: dict[str, Any] | None = None,
                    component: str = "") -> tuple[dict[str, float], float, str]:
    """A regfile (or small SRAM) as Aladdin's plug-in composes it: ``width`` one-bit registers read
    per access plus one address comparator of ceil(log2 depth) bits per word (a comparator's figure
    is linear in its bits); 40-45 nm figures at the plug-in's 5 ns cycle (``data/aladdin_5ns.csv``),
    or for Accelergy 0.4 (``attrs`` with ``global_cycle_seconds``) at its cycle's rows
    (`aladdin_energy_rows`; areas stay the 5 ns rows). Exact against every recorded Aladdin
    regfile/SRAM figure (see the CSVs' provenance)."""
    t, idle_k, path = aladdin_energy_rows(attrs or {}, component)
    reg, cmp_ = t["reg"], t["comparator"]
    reg_a, cmp_a = tables.aladdin_5ns()["reg"], tables.aladdin_5ns()["comparator"]
    abits = math.ceil(math.log2(depth)) if depth > 1 else 0
    n_cmp = depth * abits / float(cmp_["width"])  # comparators in units of the table's 32-bit one
    e = width * float(reg["energy"]) + n_cmp * float(cmp_["energy"])
    idle = (width * float(reg["idle"]) + n_cmp * float(cmp_["idle"])) * idle_k
    area = width * float(reg_a["area"]) + n_cmp * float(cmp_a["area"])
    src = (f"Aladdin regfile: {width:g} bits x reg + {depth:g} words x {abits}-bit comparator "
           f"({path}; area data/aladdin_5ns.csv)")
    return {"read": e, "write": e, "idle": idle}, area, src


def aladdin_sram_mid_2021(attrs: dict[str, Any], width: float, depth: float, priced: Priced,
                          component: str = "") -> Priced | None:
    """An SRAM as Accelergy 0.3 priced it with the Aladdin plug-in of mid-2021, else None (not 40/45 nm,
    or deeper than 128 words: ``priced`` stands). accelergy-aladdin-plug-in 6c4ddf5 (2021-05-31,
    aladdin_table.py) added SRAM as a regfile but put its size bound (width <= 16, depth <= 128) only
    in ``primitive_area_supported``: ``primitive_action_supported`` claimed every 40/45 nm SRAM's
    actions at ALADDIN_ACCURACY 70; c127f2e (2021-10-16, "fix missing size constraint") bounded the
    actions too. CACTI's plug-in also says 70 (accelergy-cacti-plug-in 9cf48b1 cacti_wrapper.py
    CACTI_ACCURACY) and Accelergy keeps the first of equal accuracies (accelergy bb39de0
    ERT_generator.py eval_primitive_action_energy, ``accuracy > best_accuracy``), Aladdin here. The
    MICRO'22 Sparseloop artifact's precomputed eyeriss_v2_pe tables (fig12_eyerissv2_pe_setup/ert_art/
    ERT_summary.yaml, ART_summary.yaml) show both generations: Aladdin_table for the actions of a
    20 x 32 SRAM (6c4ddf5's unbounded claim) and of the 8 x 128, 16 x 8, 4 x 25, 8 x 1, 4 x 1 ones,
    Cacti for the actions of the 8 x 192 one (c127f2e's depth bound); areas by the bound (Aladdin
    for the 8 x 128 and 4 x 1, Cacti for the 20 x 32 and 8 x 192). The rule that gives every one of
    them: Aladdin's actions up to 128 words at any width, Aladdin's area up to 16 bits x 128 words,
    else ``priced``'s (CACTI / dummy_table)."""
    if not _aladdin_node(_attr(attrs, "technology", default="45nm")) or depth > 128:
        return None
    al_e, al_a, al_src = aladdin_storage(width, depth, attrs, component)
    why = "mid-2021 Aladdin plug-in (6c4ddf5: a 40/45 nm SRAM's {} as a regfile): "
    energy = {a: al_e.get(a, al_e["read"]) if a not in ("idle", "leak") else al_e["idle"] for a in priced.energy}
    source = {a: why.format("actions up to 128 words") + al_src for a in energy}
    area, source[""] = priced.area, priced.source.get("", "")
    if width <= 16 and depth <= 128:
        area, source[""] = al_a, why.format("area up to 16 x 128") + al_src
    return Priced(energy, area, "Aladdin regfile (Accelergy 0.3, mid-2021 plug-in)", source)


def sram(attrs: dict[str, Any], cls: str, component: str) -> Priced:
    width = _number(attrs, ("width", "memory_width", "data_storage_width"), None, component)
    depth = _number(attrs, ("depth", "memory_depth", "data_storage_depth", "entries"), None, component)
    if width is None:
        word = _number(attrs, ("datawidth", "word_bits", "word_width"), None, component)
        block = _number(attrs, ("block_size", "n_words"), 1, component)
        width = None if word is None else word * block
    if width is None or depth is None:
        missing = "width" if width is None else "depth"
        raise EstimateError(f"{component}: {cls} needs {missing}", missing, f"give the {cls} a {missing} attribute")
    if (width == 0 or depth == 0) and (width == 0 or attrs.get("entries") == 0):
        # an explicit placeholder (the Eyeriss designs' DummyBuffer: depth 0, entries 0); Accelergy
        # recorded 0 pJ and 0 um^2 for it (../shared/reference/timeloop/designs/accelergy_ert_gating_arch)
        return Priced(dict.fromkeys(_SRAM_ACTIONS, 0.0), 0.0, "zero-size buffer",
                      {**dict.fromkeys(_SRAM_ACTIONS, "zero-size placeholder: 0 pJ"), "": "zero-size placeholder"})
    if width <= 0 or depth <= 0:
        bad = "depth" if depth <= 0 else "width"
        raise EstimateError(f"{component}: {cls} {bad} is {depth if bad == 'depth' else width:g}", bad,
                            f"give {bad} >= 1 (or entries: 0 as well, for a placeholder buffer)")
    banks = _number(attrs, ("n_banks", "num_banks"), 1, component)
    ports = _number(attrs, ("n_rdwr_ports",), 1, component)
    tech = technology(attrs, component)
    kind = "regfile" if "regfile" in cls.lower() else "sram"
    for key in (tables.record_key(tech, width, depth, attrs.get("datawidth"), attrs.get("n_banks"),
                                  attrs.get("n_rdwr_ports")),
                tables.record_key(tech, width, depth, _attr(attrs, "datawidth", default=width), banks, ports)):
        tables.trace(kind, key)
        found = _recorded_primitive(kind, key, _SRAM_ACTIONS)
        if found is not None:
            return found
    if banks > MAX_SRAM_BANKS:  # 1e11 banks: the grid's 32 extrapolated, as for the sizes below
        raise EstimateError(f"{component}: {banks:g} banks are beyond what the estimator can price (at most "
                            f"{MAX_SRAM_BANKS:,}; its CACTI table covers 1 - 32)", "n_banks",
                            "give a realistic n_banks")
    if width * depth / 8 > MAX_SRAM_BYTES or width > MAX_SRAM_BITS:
        # data/cacti_sram.csv covers 256 B - 8 MiB and buses up to 1024 bits: a depth of 1e15 words was priced
        # by extrapolating that grid 10^8-fold (exit 0); refused here, as a technology outside its table is
        bad = "width" if width > MAX_SRAM_BITS else "depth"
        raise EstimateError(
            f"{component}: a {width:g}-bit x {depth:g}-word {cls} ({width * depth / 8:.3g} bytes) is beyond what "
            f"the estimator can price (at most {MAX_SRAM_BYTES >> 30} GiB and {MAX_SRAM_BITS:,}-bit words; its "
            "CACTI table covers 256 B - 8 MiB)", bad, f"give a realistic {bad}, or split the memory into levels")
    if "sram" in cls.lower() and "global_cycle_seconds" in attrs:  # a v0.4 input: today's CACTI plug-in prices it
        return _sram_v04(attrs, width, depth, banks, tech, component)
    if "sram" in cls.lower() and int(width * depth) // 8 == 0:
        # under one byte the CACTI plug-in reports a zero-size SRAM: 0 pJ, 0 um^2 (accelergy-cacti-plug-in,
        # bytes = width * depth // 8; recorded for a 4 x 1 SRAM in timeloop/designs/eyeriss_v2/accelergy_ert)
        why = "CACTI plug-in's zero-size SRAM (under one byte): 0"
        return Priced(dict.fromkeys(_SRAM_ACTIONS, 0.0), 0.0, "zero-size SRAM (CACTI plug-in rule)",
                      {**dict.fromkeys(_SRAM_ACTIONS, f"{why} pJ"), "": f"{why} um^2"})
    energy, source, area = {}, {}, 0.0
    al_e, al_a, al_src = aladdin_storage(width, depth, attrs, component)
    a_e, a_a, a_note = _aladdin_scale(tech)
    node = tables.node_nm(tech)
    # the plug-in asks CACTI for n_rdwr_ports + n_rd_ports + n_wr_ports read-write ports (at least 1)
    cacti_ports = max(ports + sum(_number(attrs, (k,), 0, component) for k in ("n_rd_ports", "n_wr_ports")), 1.0)

    def cacti_figure(action: str) -> tuple[float, str]:
        figs, how = cacti.figures(width, depth, banks, cacti_ports, node)
        if action in ("read", "write"):
            own = (f"; as a component of its own CACTI's {figs[action]:.6g} pJ (address_delta = n_banks, the "
                   "largest access its ERT lists)") if banks > 1 else ""
            return cacti.access_energy(figs[action], figs["idle"], banks), (
                f"CACTI {action} {figs[action]:.6g} pJ as the plug-in's random access (x (0.3/{banks:g} banks + 0.7) "
                f"above idle){own}; {how}")
        return figs[action], f"CACTI {'area' if action == 'area' else action}; {how}"

    aladdin_e = aladdin_energy_regime(cls, width, depth)
    top_level = {}
    for action in _SRAM_ACTIONS:
        if aladdin_e:
            energy[action] = al_e[action] * a_e
            source[action] = f"{al_src} {a_note}".strip()
        else:
            energy[action], source[action] = cacti_figure(action)
            if action != "idle" and banks > 1:
                # the plug-in's access with address_delta = n_banks (the largest its ERT lists) is CACTI's
                # own figure (recorded: eyeriss_v2 psum_glb, 4 banks, read max 6.90191 pJ = CACTI's read)
                top_level[action] = cacti.figures(width, depth, banks, cacti_ports, node)[0][action]
    regime = aladdin_area_regime(cls, width, depth)
    if regime == "aladdin":
        area, source[""] = al_a * a_a, f"{al_src} {a_note}".strip()
    elif regime == "cacti":
        area, source[""] = cacti_figure("area")
    else:
        area, source[""] = 1.0, ("Accelergy's dummy_table area (1 um^2): neither Aladdin (width > 16) nor CACTI "
                                 "(under 64 bytes) prices this SRAM's area")
    label = "Aladdin regfile" if aladdin_e else "CACTI table"
    return Priced(energy, area, f"sparse-hw SRAM model ({label})", source, top_level)


def _sram_v04(attrs: dict[str, Any], width: float, depth: float, banks: float, tech: str, component: str) -> Priced:
    """An SRAM of a v0.4 input (it carries ``global_cycle_seconds``), as today's CACTI plug-in prices
    every size (`cacti.figures_v04`; recorded: ISPASS'20 40 nm MainMemory 64 x 32768, 2 banks, read
    43.353054 pJ, in examples/ex_2d55108/.../01-model-conv1d-2level/ref-output/ws/timeloop-model.ERT.yaml)."""
    ports = _number(attrs, ("n_rw_ports", "n_rdwr_ports"), 1, component)
    cycle = _number(attrs, ("global_cycle_seconds",), 1e-9, component)
    figs, how = cacti.figures_v04(width, depth, banks, ports, tables.node_nm(tech), cycle)
    energy = {"read": figs["read"], "write": figs["write"], "update": figs["write"], "leak": figs["leak"],
              "idle": figs["leak"]}
    source = {a: f"CACTI {'write' if a == 'update' else 'leak' if a == 'idle' else a}; {how}" for a in energy}
    source[""] = f"CACTI area; {how}"
    return Priced(energy, figs["area"], "sparse-hw SRAM model (CACTI table, current plug-in)", source)


def _aladdin_scale(tech: str) -> tuple[float, float, str]:
    """Aladdin's tables are 40 nm figures that Accelergy's plug-in reports unchanged at 40 and 45 nm
    (recorded: regfile 8 x 64 is 0.42 pJ at both); other nodes scale from 45 nm."""
    if _aladdin_node(tech):
        return 1.0, 1.0, ""
    return tables.scale_factors(tech)


def _aladdin_node(tech: Any) -> bool:
    """Whether ``tech`` is a node Aladdin's table plug-in prices at: its tables are 40 nm figures it
    reports at 40 and 45 nm only."""
    node = tables.node_nm(tech)
    return node is not None and 40 <= node <= 45


# ---------------------------------------------------------------------------------- arithmetic
#: actions of an Aladdin adder/multiplier: the plug-in gives every action but idle/leak the dynamic
#: figure (accelergy-aladdin-plug-in intadder_estimate_energy), so a compound's ``count`` of an intadder
#: costs an add (recorded: ex_778460f simba_like GlobalBuffer write 1.049 = 1 + count 0.04285 + idle 0.00595)
_ARITH_ACTIONS = {
    "adder": ("add", "count", "read", "access", "idle"),
    "multiplier": ("multiply_random", "multiply_reuse", "multiply", "idle"),
}


def aladdin_energy_rows(attrs: dict[str, Any], component: str) -> tuple[dict, float, str]:
    """(Aladdin table, factor on its idle energy, file) that Accelergy's Aladdin plug-in reads a
    component's energies from: 0.3's plug-in always its 5 ns rows; 0.4's the row of the action's
    latency, ``global_cycle_seconds`` x ``action_latency_cycles`` (accelergy-aladdin-plug-in
    query_csv_using_latency), of which the 1 ns rows (``data/aladdin_1ns.csv``) and the 5 ns rows
    stand for all (the 2-10 ns rows are within a few % of the 5 ns ones), leakage = idle energy x cycle
    / row latency. Areas stay the 5 ns rows (recorded: v0.4 intmac 8 bits 0.845 pJ from the 1 ns rows
    but 332.25 um^2 from the 5 ns ones; fpmac 32 bits 51.979 pJ and 4120 um^2)."""
    cycle = _number(attrs, ("global_cycle_seconds",), None, component)
    if cycle is None:
        return tables.aladdin_5ns(), 1.0, "data/aladdin_5ns.csv"
    latency = cycle * _number(attrs, ("action_latency_cycles",), 1, component)
    if latency > 1.5e-9:
        return tables.aladdin_5ns(), cycle / 5e-9, "data/aladdin_5ns.csv"
    return tables.aladdin_1ns(), cycle / 1e-9, "data/aladdin_1ns.csv"


def arithmetic(kind: str, attrs: dict[str, Any], cls: str, component: str) -> Priced:
    """Aladdin's 32-bit adder (linear in bits) or multiplier (quadratic in bits), as Accelergy's
    Aladdin plug-in interpolates them from 0 bits: energies from the rows of `aladdin_energy_rows`,
    areas from the 5 ns rows (``data/aladdin_5ns.csv``)."""
    # Accelergy 0.3's Aladdin plug-in indexes its tables by `datawidth` (default 16 in Accelergy's
    # primitive library); an adder's `width` is not read (the recorded address generators with width
    # 2.48 cost 16 bits). 0.4's (global_cycle_seconds given) reads `width` (accelergy-aladdin-plug-in
    # intadder_estimate_energy; recorded: v0.4 simba_like PEWeightRegs' 1-bit address generators)
    v04 = _attr(attrs, "global_cycle_seconds") is not None
    bits = _number(attrs, ("width", "datawidth") if v04 else ("datawidth",), 16 if not v04 else 32, component)
    if bits < 0:
        raise EstimateError(f"{component}: {cls} datawidth is {bits:g}", "datawidth", "give datawidth >= 0")
    tech = technology(attrs, component)
    e_scale, a_scale, note = _aladdin_scale(tech)
    rows, idle_k, path = aladdin_energy_rows(attrs, component)
    row, area_row = rows[kind], tables.aladdin_5ns()[kind]
    ref = float(row["width"])
    k = bits / ref if kind == "adder" else (bits / ref) ** 2
    law = f"x {bits:g}/{ref:g}" if kind == "adder" else f"x ({bits:g}/{ref:g})^2"
    energy, source = {}, {}
    for action in _ARITH_ACTIONS[kind]:
        energy[action] = (float(row["idle"]) * idle_k if action == "idle" else float(row["energy"])) * k * e_scale
        source[action] = f"Aladdin {ref:g}-bit {kind} {law} ({path}) {note}".strip()
    source[""] = f"Aladdin {ref:g}-bit {kind} area {area_row['area']:g} um^2 {law} (data/aladdin_5ns.csv) {note}".strip()
    return Priced(energy, float(area_row["area"]) * k * a_scale, f"sparse-hw {kind} model (Aladdin {law})", source)


_MAC_ACTIONS = ("mac_random", "mac_reused", "mac_gated", "idle")

#: Accelergy's Aladdin intmac prices a reused multiply at 0.85 of a random one (accelergy-aladdin-plug-in;
#: recorded: 8-bit mac_reused 0.47989 = 0.85 x 0.539375 + 0.021425 pJ)
REUSED_MULTIPLY = 0.85


def recorded_mac(attrs: dict[str, Any], cls: str, component: str) -> Priced | None:
    """A primitive intmac/fpmac recorded at this very width and node (any other is `mac`'s formula)."""
    kind = "fpmac" if "fp" in cls.lower() else "intmac"
    bits = _number(attrs, ("datawidth", "width", "word_bits"), 16, component)
    tech = technology(attrs, component)
    tables.trace(kind, (str(tech).lower(), None, None, bits, None, None))
    rows = [r for r in tables.recorded() if r.cls == kind and r.key[3]]
    rows = [r for r in rows if r.key[3] == bits and tables.node_nm(r.key[0]) == tables.node_nm(tech)]
    if not rows or bits <= 0 or not tables.USE_RECORDED:
        return None
    nearest = min({r.key[3] for r in rows}, key=lambda b: abs(math.log(b / bits)))
    e_scale, a_scale, note = tables.scale_factors(tech)
    energy, source, area = {}, {}, None
    for r in rows:
        if r.key[3] != nearest:
            continue
        re, ra, _ = tables.scale_factors(r.key[0] or "45nm")
        k = (bits / nearest) ** 2
        if r.action == "":
            area = r.value / ra * k * a_scale
            source[""] = f"recorded {kind} area {r.value:g} um^2 at {nearest:g} bits x (bits/{nearest:g})^2 ({r.provenance}) {note}"
        elif r.action in (*_MAC_ACTIONS, "compute", "leak") and r.action not in energy:
            a = "idle" if r.action == "leak" else r.action
            energy[a] = r.value / re * k * e_scale
            source[a] = f"recorded {kind} {r.action} {r.value:g} pJ at {nearest:g} bits x (bits/{nearest:g})^2 ({r.provenance}) {note}"
    if area is None or "mac_random" not in energy:
        return None
    for a in ("mac_reused", "mac_gated", "idle"):
        energy.setdefault(a, energy["mac_random"] if a == "mac_reused" else energy.get("idle", 0.0))
        source.setdefault(a, source["mac_random"])
    energy.setdefault("mac_skipped", energy["idle"])
    source.setdefault("mac_skipped", source["idle"])
    return Priced(energy, area, f"sparse-hw {kind} model (recorded, width^2)", source)


def fpmac(attrs: dict[str, Any], cls: str, component: str) -> Priced:
    """Accelergy's Aladdin fpmac: a floating-point adder (linear in bits) plus a multiplier (quadratic),
    single-precision tables up to 32 bits, double above (``data/aladdin_5ns.csv``). The plug-in hands
    the MAC's own action to both, so a reused or gated MAC costs a full one (recorded: 32-bit fpmac
    mac_random = mac_reused = mac_gated = 32.328 pJ = 7.928 + 24.4)."""
    bits = _fp_bits(attrs, component)
    tech = technology(attrs, component)
    e_scale, a_scale, note = _aladdin_scale(tech)
    t, idle_k, path = aladdin_energy_rows(attrs, component)
    names = ("fp_sp_adder", "fp_sp_multiplier") if bits <= 32 else ("fp_dp_adder", "fp_dp_multiplier")
    add, mul = (t[n] for n in names)
    add_a, mul_a = (tables.aladdin_5ns()[n] for n in names)
    ka, km = bits / float(add["width"]), (bits / float(mul["width"])) ** 2
    dyn = (float(add["energy"]) * ka + float(mul["energy"]) * km) * e_scale
    idle = (float(add["idle"]) * ka + float(mul["idle"]) * km) * idle_k * e_scale
    area = (float(add_a["area"]) * ka + float(mul_a["area"]) * km) * a_scale
    src = (f"Aladdin fp adder x {bits:g}/{add['width']:g} + fp multiplier x ({bits:g}/{mul['width']:g})^2 "
           f"({path}; areas data/aladdin_5ns.csv) {note}").strip()
    energy = {"mac_random": dyn, "mac_reused": dyn, "mac_gated": dyn, "compute": dyn, "idle": idle, "mac_skipped": idle}
    return Priced(energy, area, "sparse-hw fpmac model (Aladdin fp adder + multiplier)", {**dict.fromkeys(energy, src),
                                                                                          "": src})


def fp_arithmetic(kind: str, attrs: dict[str, Any], cls: str, component: str) -> Priced:
    """A floating-point adder or multiplier (`fpmac`'s parts on their own): Aladdin's single- or
    double-precision table, linear (adder) or quadratic (multiplier) in exponent + mantissa bits."""
    t, idle_k, path = aladdin_energy_rows(attrs, component)
    bits = _fp_bits(attrs, component)
    name = f"fp_{'sp' if bits <= 32 else 'dp'}_{kind}"
    row, area_row = t[name], tables.aladdin_5ns()[name]
    k = bits / float(row["width"]) if kind == "adder" else (bits / float(row["width"])) ** 2
    e_scale, a_scale, note = _aladdin_scale(technology(attrs, component))
    dyn, idle = float(row["energy"]) * k * e_scale, float(row["idle"]) * k * idle_k * e_scale
    actions = ("add", "idle") if kind == "adder" else ("multiply_random", "multiply_reuse", "multiply", "idle")
    energy = {a: idle if a == "idle" else dyn for a in actions}
    src = f"Aladdin {row['width']:g}-bit fp {kind} x {k:.4g} ({bits:g} bits; {path}) {note}".strip()
    return Priced(energy, float(area_row["area"]) * k * a_scale, f"sparse-hw fp {kind} model (Aladdin)",
                  {**dict.fromkeys(energy, src), "": src})


def _fp_bits(attrs: dict[str, Any], component: str) -> float:
    """exponent + mantissa bits (Accelergy's fp classes), else the datawidth, else 32."""
    if _attr(attrs, "exponent") is not None or _attr(attrs, "mantissa") is not None:
        return _number(attrs, ("exponent",), 8, component) + _number(attrs, ("mantissa",), 24, component)
    return _number(attrs, ("datawidth", "width", "word_bits"), 32, component)


def mac(attrs: dict[str, Any], cls: str, component: str) -> Priced:
    """A primitive MAC: a recorded one (`recorded_mac`), else Accelergy's Aladdin intmac: multiplier +
    adder of its datawidth, a reused multiply at `REUSED_MULTIPLY`, a gated MAC = idle multiplier +
    adding adder (recorded: 8-bit mac_gated 0.03642 = 0.015 + 0.021425 pJ)."""
    found = recorded_mac(attrs, cls, component)
    if found is not None:
        return found
    if "fp" in cls.lower():
        return fpmac(attrs, cls, component)
    # a MAC's width is its datawidth, else its width (recorded: an 8-bit-wide intmac at 332.25 um^2)
    attrs = {**attrs, "datawidth": _number(attrs, ("datawidth", "width", "word_bits"), 16, component)}
    mul = arithmetic("multiplier", attrs, cls, component)
    add = arithmetic("adder", attrs, cls, component)
    m, a = mul.energy["multiply_random"], add.energy["add"]
    energy = {
        "mac_random": m + a,
        "mac_reused": REUSED_MULTIPLY * m + a,
        "mac_gated": mul.energy["idle"] + a,
        "mac_skipped": mul.energy["idle"] + add.energy["idle"],
        "idle": mul.energy["idle"] + add.energy["idle"],
    }
    energy["compute"] = energy["mac_random"]
    source = {k: f"multiplier + adder: {mul.source['multiply_random']}; {add.source['add']}" for k in energy}
    source["mac_reused"] = f"{REUSED_MULTIPLY} x {source['mac_reused']}"
    source[""] = f"multiplier + adder areas: {mul.source['']}; {add.source['']}"
    return Priced(energy, mul.area + add.area, "sparse-hw MAC model (Aladdin multiplier + adder)", source)


# ---------------------------------------------------------------------------------------- DRAM
#: Starts the source of a figure that is known to be too low (a DRAM figure of device energy only);
#: `sparse_hw.estimate.estimate` turns it into a caveat on stderr and in the manifest, never silent
LOWER_BOUND = "LOWER BOUND"
#: Starts the source of a figure priced from an attribute the input left out (a DRAM without ``type``);
#: the text up to " | " becomes a caveat, as `LOWER_BOUND`'s do
ASSUMED = "ASSUMED"
#: Accelergy's CACTI plug-in prices a DRAM without ``type`` as LPDDR4 (accelergy-cacti-plug-in
#: cacti_wrapper.py, ``DRAM_attr_supported``: ``if 'type' not in attributes: attributes['type'] = 'LPDDR4'``)
DRAM_DEFAULT_TYPE = "LPDDR4"


def _dram_type(attrs: dict[str, Any], component: str, table: dict) -> tuple[str, bool]:
    """(type, assumed): a missing ``type`` is the plug-in's default, said aloud; a blank one (or
    ``must_specify``) is refused: the plug-in prices a type it does not know at 0 pJ, never as LPDDR4."""
    if "type" not in attrs or attrs["type"] is None:
        return DRAM_DEFAULT_TYPE, True
    kind = str(attrs["type"]).strip().upper()
    if kind in ("", "MUST_SPECIFY"):
        raise EstimateError(f"{component}: DRAM type is {attrs['type']!r}, not a DRAM type", "type",
                            f"give one of {', '.join(table)}, or leave type out for Accelergy's default "
                            f"{DRAM_DEFAULT_TYPE}")
    return kind, False


def dram(attrs: dict[str, Any], cls: str, component: str) -> Priced:
    """Energy per bit of the DRAM type times the access width. The figures are per interface, not per
    process node (as in the plug-in's table), so ``technology`` is not read. A speed grade is accepted
    only where the table's source is that grade's datasheet (``DDR4-2666``); others are refused."""
    table = tables.dram_energy_per_bit()
    kind, assumed = _dram_type(attrs, component, table)
    if kind not in table:
        raise EstimateError(f"{component}: DRAM type {kind!r} is not in the table ({', '.join(table)})", "type",
                            f"use one of {', '.join(table)}")
    width = _number(attrs, ("width", "memory_width", "data_storage_width"), None, component)
    if width is None:
        word = _number(attrs, ("datawidth", "word_bits"), 16, component)
        width = word * _number(attrs, ("block_size", "n_words"), 1, component)
    read, write, prov = table[kind]
    energy = {"read": read * width, "write": write * width, "update": write * width, "idle": 0.0, "leak": 0.0}
    bound = f"{LOWER_BOUND}: " if "lower bound" in prov else ""
    if assumed:
        bound = (f"{ASSUMED}: {component} gives no DRAM type; priced as {kind}, Accelergy's default (set "
                 f"attributes.type to one of {', '.join(table)} to choose) | {bound}")
    src = {k: f"{bound}{kind} {per:.4g} pJ/bit x {width:g} bits ({prov}; any technology)"
           for k, per in (("read", read), ("write", write), ("update", write))}
    return Priced(energy, 0.0, "sparse-hw DRAM table (per-bit figures: Accelergy CACTI plug-in, datasheets)",
                  {**src, "idle": "DRAM idle: 0 pJ", "leak": "DRAM leak: 0 pJ",
                   "": "DRAM area is off-chip: 0 um^2"})


def converter(kind: str, attrs: dict[str, Any], cls: str, component: str) -> Priced:
    """An ADC (energy per conversion = Walden figure of merit x 2^bits) or DAC (2^bits - 1 unit
    elements), from the 32 nm figures of ``data/converters.csv``. Mixed-signal energy does not follow
    the digital node scaling, so the figures are used at every supported node (stated in the source)."""
    bits = _number(attrs, ("resolution", "datawidth", "width", "n_bits"), None, component)
    if bits is None or bits < 1 or bits > 24:
        raise EstimateError(f"{component}: {cls} needs a resolution of 1-24 bits (got {bits})", "datawidth",
                            f"give the {cls} its resolution as datawidth (bits)")
    technology(attrs, component)
    row = tables.converters()[kind]
    ref = float(row["bits"])
    k = 2 ** (bits - ref) if kind == "ADC" else (2 ** bits - 1) / (2 ** ref - 1)
    src = (f"{kind} {row['energy']:g} pJ / {row['area']:g} um^2 at {ref:g} bits x {k:.4g} "
           f"({'2^bits' if kind == 'ADC' else '2^bits - 1 elements'}; data/converters.csv, 32nm figures, not node-scaled)")
    e = float(row["energy"]) * k
    energy = {"convert": e, "read": e, "idle": 0.0, "leak": 0.0}
    return Priced(energy, float(row["area"]) * k, f"sparse-hw {kind} model (Walden FOM x 2^bits)"
                  if kind == "ADC" else "sparse-hw DAC model (unit elements)",
                  {**dict.fromkeys(energy, src), "idle": f"{kind} idle: 0 pJ (as the table)",
                   "leak": f"{kind} leak: 0 pJ (as the table)", "": src})


def free(cls: str, area: float, why: str) -> Priced:
    """A component Accelergy prices at zero energy (dummy buffers, placeholders)."""
    return Priced({"read": 0.0, "write": 0.0, "update": 0.0, "idle": 0.0, "leak": 0.0}, area, why, {"": why})


# ------------------------------------------------------------------------------------- dispatch
def price(cls: str, attrs: dict[str, Any], component: str) -> Priced:
    """Price one primitive; raises `EstimateError` (naming the key) for an unknown class."""
    low = cls.lower()
    if low == "dummy_storage":  # timeloopfe's inter-container placeholders
        return free(cls, 1.0, "dummy_table: 0 pJ per action, area 1 um^2 (as Accelergy's dummy table)")
    if "dummy" in low:  # e.g. the artifact's DummyStorage backing store
        return free(cls, 0.0, "dummy component: 0 pJ per action, 0 um^2 (as Accelergy recorded)")
    if low == "dram" or "dram" in low or str(attrs.get("technology", "")).upper() == "DRAM":
        return dram(attrs, cls, component)
    if low == "reg":
        return aladdin_reg(attrs, cls, component)
    if low in ("adc", "dac"):
        return converter(low.upper(), attrs, cls, component)
    if (low == "intadder" and "global_cycle_seconds" in attrs and _attr(attrs, "n_bits", "precision") is not None
            and (_attr(attrs, "width", "datawidth") is None
                 or not _aladdin_node(_attr(attrs, "technology", default="45nm")))):
        # Accelergy 0.4 gave a smartbuffer's address generators (``width`` and ``n_bits`` both set) to Aladdin
        # at 45 nm (example_designs simba_like, simple_weight_stationary), to NeuroSim at 32 nm (eyeriss_like:
        # "Neurosim Plug-In" in its ERT_summary)
        return neurosim_adder(attrs, cls, component)
    if low in ("intadder", "intmultiplier") and "global_cycle_seconds" in attrs:
        # Accelergy 0.4 prices these with its Aladdin plug-in (recorded estimator Aladdin_table), at the
        # cycle's rows; hwcomponents' aladdin_adder/aladdin_multiplier are other classes (below)
        return arithmetic("adder" if low == "intadder" else "multiplier", attrs, cls, component)
    if low in _HW_ALADDIN and ("global_cycle_seconds" in attrs or low.startswith("aladdin_")):
        return hw_aladdin(_HW_ALADDIN[low], attrs, cls, component)
    if any(k in low for k in ("sram", "smartbuffer", "regfile")) or low in ("storage", "buffer", "cache"):
        return sram(attrs, cls, component)
    if low in ("intmac", "fpmac", "mac", "imac", "compute") or low.endswith("mac"):
        return mac(attrs, cls, component)
    if low.startswith("fp") and ("adder" in low or "multiplier" in low):
        return fp_arithmetic("adder" if "adder" in low else "multiplier", attrs, cls, component)
    if "multiplier" in low:
        return arithmetic("multiplier", attrs, cls, component)
    if any(k in low for k in ("adder", "counter", "comparator", "address_generator")):
        return arithmetic("adder", attrs, cls, component)
    if "register" in low:
        return register(attrs, cls, component)
    if any(k in low for k in ("wire", "noc", "multicast", "legacy", "reductiontree")):
        return free(cls, 0.0, "network/wire: Timeloop prices transfers itself (0 pJ per action here)")
    raise EstimateError(f"{component}: no estimator for class {cls!r}", "class",
                        "use a known primitive class (SRAM, regfile, DRAM, intmac, intadder, intmultiplier, ...), "
                        "define it as a compound component, or pass an ERT/ART for it")


_HW_ALADDIN = {"adder": "adder", "intadder": "adder", "aladdin_adder": "adder", "comparator": "comparator",
               "aladdin_comparator": "comparator", "multiplier": "multiplier", "intmultiplier": "multiplier",
               "aladdin_multiplier": "multiplier", "counter": "counter", "aladdin_counter": "counter",
               "register": "register", "aladdin_register": "register"}


def hw_aladdin(kind: str, attrs: dict[str, Any], cls: str, component: str) -> Priced:
    """hwcomponents' Aladdin classes (Accelergy v4 inputs, recognised by ``global_cycle_seconds``):
    the 40 nm table figure times width / reference width (a multiplier also times width_a/32 and
    width_b/32), leakage = leak per 1 ns cycle x cycle time; reported unscaled at 40-45 nm, as the
    recorded 45 nm aladdin_adder/aladdin_multiplier figures are."""
    row = tables.aladdin_40nm()[kind]
    ref = float(row["width"])
    scale = _number(attrs, ("width", "datawidth"), ref, component) / ref
    if kind == "multiplier":
        for k in ("width_a", "width_b"):
            scale *= _number(attrs, (k,), 32, component) / 32
    cycle = _number(attrs, ("global_cycle_seconds",), 1e-9, component) / 1e-9
    tech = technology(attrs, component)
    node = tables.node_nm(tech)
    e_scale, a_scale, note = (1.0, 1.0, "") if node is None or 40 <= node <= 45 else tables.scale_factors(tech)
    dyn = float(row["energy"]) * scale * e_scale
    leak = float(row["leak"]) * scale * cycle * e_scale
    src = f"Aladdin 40nm {kind} x {scale:.4g} ({row['provenance']}) {note}".strip()
    energy = {str(row["action"]): dyn, "read": dyn, "write": 0.0, "update": 0.0, "leak": leak}
    return Priced(energy, float(row["area"]) * scale * a_scale, f"sparse-hw hwcomponents Aladdin {kind}",
                  {**dict.fromkeys(energy, src), "": src})


def neurosim_adder(attrs: dict[str, Any], cls: str, component: str) -> Priced:
    """A v0.4 ``intadder`` given only ``n_bits``/``precision`` (the smartbuffers' address generators):
    Aladdin's plug-ins index an adder by its width and leave it, so Accelergy 0.4 took NeuroSim's
    figure (recorded estimator "Neurosim Plug-In" in the ISPASS'20 v0.4 runs). NeuroSim's adder is a
    chain of one-bit adders: energy, leakage and area a line in the bit count through the figures of
    ``data/neurosim_adder.csv`` at the nearest tabulated node (through the origin where one bit count
    is left), other nodes scaled from it (`tables.scale_factors`); the sizes held out by the
    leave-one-size-out view (`tables.HELD_OUT`) are left out of the line."""
    bits = _number(attrs, ("n_bits", "precision"), None, component)
    tech = technology(attrs, component)
    key = (str(tech).lower(), None, None, bits, None, None)
    tables.trace("intadder", key)
    rows = [r for r in tables.neurosim_adder()
            if tables.size_key("intadder", (r[0], None, None, r[1], None, None)) not in tables.HELD_OUT]
    if not rows or bits < 0:
        return hw_aladdin("adder", {**attrs, "width": bits}, cls, component)
    node = tables.node_nm(tech)
    at = min({r[0] for r in rows}, key=lambda t: abs(math.log(tables.node_nm(t) / node)))
    pts = sorted((r[1], r[2], r[3], r[4]) for r in rows if r[0] == at)
    xs = [p[0] for p in pts]
    mx = sum(xs) / len(xs)

    def line(col: int) -> float:
        ys = [p[col] for p in pts]
        my = sum(ys) / len(ys)
        if len(set(xs)) < 2:
            return my / mx * bits
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
        return max(slope * (bits - mx) + my, 0.0)

    e_to, a_to, _ = tables.scale_factors(tech)
    e_at, a_at, _ = tables.scale_factors(at)
    ke, ka = e_to / e_at, a_to / a_at
    add, leak, area = line(1) * ke, line(2) * ke, line(3) * ka
    src = (f"NeuroSim adder at {at}: a line in bits through {', '.join(f'{p[0]:g}' for p in pts)}-bit figures, "
           f"at {bits:g} bits (data/neurosim_adder.csv)" + (f" scaled {at}->{tech}" if (ke, ka) != (1.0, 1.0) else ""))
    energy = {"add": add, "read": add, "write": 0.0, "update": 0.0, "leak": leak, "idle": leak}
    return Priced(energy, area, "sparse-hw NeuroSim adder (recorded, linear in bits)",
                  {**dict.fromkeys(energy, src), "": src})


def aladdin_reg(attrs: dict[str, Any], cls: str, component: str) -> Priced:
    """Accelergy's ``reg`` primitive: Aladdin's 40 nm register figures (``data/aladdin_40nm.csv``)."""
    row = tables.aladdin_40nm()["reg"]
    # the plug-in reports Aladdin's 40 nm figure unchanged at 40-45 nm (recorded 0.009 pJ at 45 nm);
    # other nodes scale from 45 nm
    e_to, a_to, note = tables.scale_factors(technology(attrs, component))
    e, a = row["energy"] * e_to, row["area"] * a_to
    src = f"Aladdin reg {row['energy']:g} pJ, {row['area']:g} um^2 ({row['provenance']}) {note}".strip()
    energy = {"access": e, "read": e, "write": e, "idle": 0.0}
    return Priced(energy, a, "sparse-hw reg model (Aladdin table)", {**dict.fromkeys(energy, src), "": src})


def register(attrs: dict[str, Any], cls: str, component: str) -> Priced:
    """A register as a one-entry SRAM of its width (the Aladdin table's smallest array)."""
    width = _number(attrs, ("width", "datawidth"), 16, component)
    return sram({**attrs, "width": width, "depth": 1}, "register", component)
