"""Accelergy's compound components: a class's actions as sums of its subcomponents' actions.

Accelergy (`ERT_generator.py`, `ART_generator.py`): a compound class's attributes are its defaults
overridden by the instance's; each subcomponent's attributes are expressions over them; a compound
action's energy is the sum over the subcomponent actions it names, each times its scale
(``repeat`` / ``energy_scale`` / ``action_share``); the area is the sum of the subcomponents' areas
times their count (``name[0..N-1]``) and ``area_scale`` / ``area_share``.

`Emulation` picks whose arithmetic to reproduce: today's Accelergy (the default) or Accelergy 0.3,
which differs in the ways recorded outputs show (see `Emulation`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..spec.expressions import evaluate, evaluate_attributes
from ..spec.tables import CompoundComponent
from . import plugin_tables
from .primitives import EstimateError, Priced, aladdin_sram_mid_2021, price

MAX_DEPTH = 16


@dataclass(frozen=True)
class Emulation:
    """Which Accelergy's arithmetic the estimate reproduces (`estimate`'s ``emulate``).

    ``version`` "0.4" (default): today's Accelergy. "0.3": Accelergy 0.3 as it ran through 2022
    (Accelergy-Project/accelergy up to 9dc7af1; dd6a32f "v0.4 update", 2023-08, changed the first rule):
    - a compound subcomponent's action keeps only its own class's shares: ``flatten_action_list_for_an_action``
      recurses into the subcomponent class's action and drops the ``action_share`` the outer action
      gave it (0.4's ``define_subactions`` multiplies it in as ``upper_level_action_share``);
    - an SRAM that neither its Aladdin plug-in (width <= 16, depth <= 128) nor CACTI (64 bytes and up)
      prices falls to the dummy_table plug-in: 1 pJ per action, 0 pJ idle (``dummy_table.py``), as
      ex_778460f's eyeriss_like_w_gating ifmap_spad (17 x 12) records (ERT_summary: storage by dummy_table);
    - ``precision``: every plug-in estimate, energy and area, is rounded to that many decimals before it
      is summed, and a compound's total after (``ERT_generator.eval_primitive_action_energy`` /
      ``generat_cc_ERT``, ``ART_generator``; the ``--precision`` flag, default 3 until a825e6a, 2021-05,
      then 5). None: no rounding;
    - an attribute ``log(x)`` (any one-operand call) is ``ceil(log2(x))`` (`_v03_arithmetic`);
    - ``aladdin_sram``: the Aladdin plug-in of mid-2021 (6c4ddf5, before c127f2e bounded its actions)
      priced 40/45 nm SRAMs' actions as a regfile up to 128 words at any width, and their area up to
      16 x 128 (`primitives.aladdin_sram_mid_2021`). Nothing in an ERT's version or precision tells it
      apart (the MICRO'22 Sparseloop artifact's eyeriss_v2_pe tables and the 2021 ISCA tutorial's are both
      0.3 with 5 decimals); the ERT_summary does, naming Aladdin_table for a 20-bit-wide SRAM, whereas the
      tutorial's 17 x 12 SRAM fell to dummy_table, which this plug-in would have priced.
    """

    version: str = "0.4"
    precision: int | None = None
    aladdin_sram: bool = False

    @property
    def v03(self) -> bool:
        return self.version.startswith("0.3")


CURRENT = Emulation()


def _rounded(priced: Priced, precision: int | None) -> Priced:
    if precision is None:
        return priced
    return Priced({k: round(v, precision) for k, v in priced.energy.items()}, round(priced.area, precision),
                  priced.estimator, priced.source, {k: round(v, precision) for k, v in priced.top_level.items()})


def _priced_by_03_sram_plugins(width: float, depth: float) -> bool:
    """Whether Accelergy 0.3's plug-ins priced an SRAM's actions: Aladdin's up to 16 bits x 128 words,
    CACTI's from 64 bytes (the rule the area of both generations follows, `primitives.aladdin_area_regime`)."""
    return (width <= 16 and depth <= 128) or width * depth >= 512


def _dimension(attrs: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for k in keys:
        v = attrs.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def _sram_size(attrs: dict[str, Any]) -> tuple[float | None, float | None]:
    """(width, depth) an SRAM's attributes give explicitly, as the 0.3 plug-ins' size rules read them."""
    return (_dimension(attrs, ("width", "memory_width", "data_storage_width")),
            _dimension(attrs, ("depth", "memory_depth", "data_storage_depth", "entries")))


def _primitive(cls: str, attrs: dict[str, Any], component: str, emulate: Emulation) -> Priced:
    """A primitive's figures as the emulated Accelergy's plug-ins gave them (see `Emulation`): a
    matching row of a design's plug-in table first (`plugin_tables`), else the primitive models."""
    era = "0.3" if emulate.v03 else emulate.version
    try:
        priced = price(cls, attrs, component)
    except EstimateError:
        priced = plugin_tables.lookup(cls, attrs, accelergy=era)
        if priced is None:
            raise
    else:
        priced = plugin_tables.lookup(cls, attrs, priced, accelergy=era) or priced
    if emulate.v03 and "sram" in cls.lower():
        width, depth = _sram_size(attrs)
        mid_2021 = (aladdin_sram_mid_2021(attrs, width, depth, priced, component)
                    if emulate.aladdin_sram and width and depth else None)
        if mid_2021 is not None:
            priced = mid_2021
        elif width and depth and not _priced_by_03_sram_plugins(width, depth):
            why = ("Accelergy 0.3's dummy_table (neither its Aladdin plug-in, width <= 16 and depth <= 128, "
                   "nor CACTI, 64 bytes and up, prices this SRAM): ")
            energy = {a: 0.0 if a in ("idle", "leak") else 1.0 for a in priced.energy}
            source = {**{a: why + f"{e:g} pJ" for a, e in energy.items()}, "": priced.source.get("", "")}
            priced = Priced(energy, priced.area, "dummy_table (Accelergy 0.3)", source)
    if emulate.v03 and emulate.precision == 3:
        priced = _before_june_2021(cls, attrs, priced)
    return _rounded(priced, emulate.precision)


def _before_june_2021(cls: str, attrs: dict[str, Any], priced: Priced) -> Priced:
    """Accelergy 0.3 with ``--precision`` 3 (its default until a825e6a, 2021-05) ran with the plug-ins
    of its day: the Aladdin plug-in priced no SRAM yet (accelergy-aladdin-plug-in 6c4ddf5, 2021-05-31,
    "approximate small SRAM as regfile"), so an SRAM under CACTI's 64 bytes fell to dummy_table (1 pJ per
    action, 0 idle, 1 um^2), and the CACTI plug-in gave DRAM no area, dummy_table's 1 um^2 (recorded:
    ex_778460f simba_like GlobalBuffer 16 x 12 = 1 pJ + address generators, 180 um^2 = 1 + 2 x 89.5;
    every 3-decimal ex_778460f ART has DRAM 1 um^2, the 5-decimal ones 0)."""
    low = cls.lower()
    why = "dummy_table (Accelergy 0.3 plug-ins before June 2021): "
    if "dram" in low or str(attrs.get("technology", "")).upper() == "DRAM":
        return Priced(priced.energy, 1.0, priced.estimator, {**priced.source, "": why + "DRAM area 1 um^2"},
                      priced.top_level)
    width, depth = _sram_size(attrs)
    if "sram" in low and width and depth and 8 <= width * depth < 512:
        energy = {a: 0.0 if a in ("idle", "leak") else 1.0 for a in priced.energy}
        return Priced(energy, 1.0, "dummy_table (Accelergy 0.3, before June 2021)",
                      {**{a: why + f"{e:g} pJ" for a, e in energy.items()}, "": why + "1 um^2"})
    return priced


_V03_CALL = re.compile(r"^\s*[A-Za-z_]\w*\s*\(\s*([A-Za-z_]\w*|\d+)\s*\)\s*$")


def _v03_arithmetic(attrs: dict[str, Any], emulate: Emulation) -> dict[str, Any]:
    """Attribute expressions as Accelergy 0.3 evaluated them: its parser tested ``'log2(' and ')' in
    expression``, i.e. only ``')' in expression``, so a one-operand call with no arithmetic operator,
    ``log(data_storage_depth)`` included, came out as ``int(ceil(log2(operand)))`` (accelergy
    parsing_utils.py parse_expression_for_arithmetic / process_arithmetic, 0.3 from 8b93ff0, 2020-01, until
    e473ae3 "Added advanced math evaluation", 2022-03, which made ``log`` the natural log). Recorded: the
    2021 eyeriss-like shared_glb's ``ag_datawidth: log(data_storage_depth)`` is 14 for depth 12800
    (ex_778460f .../eyeriss_like_onchip_compression/ref-output/timeloop-mapper.flattened_architecture.yaml;
    address_generation 0.03749 pJ = 14/32 x 0.0857), the v0.4 tables' 9.4572 (natural log, ../shared/
    reference/timeloop/designs/accelergy_ert_compression_arch/flattened_architecture_verbose.yaml)."""
    if not emulate.v03:
        return attrs
    out = {}
    for k, v in attrs.items():
        m = _V03_CALL.match(v) if isinstance(v, str) else None
        out[k] = f"ceil(log2({m.group(1)}))" if m else v
    return out


def _scale(value: Any, scope: dict[str, Any], what: str, component: str) -> float:
    if value is None:
        return 1.0
    v = evaluate(value, scope)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise EstimateError(f"{component}: {what} {value!r} is not a number", what, f"give {what} as a number")
    return float(v)


_RANGE = re.compile(r"^(?P<base>[^\[]*)\[(?P<lo>[^\]]*?)\.\.(?P<hi>[^\]]*)\]\s*$")


def _range(name: str, scope: dict[str, Any], component: str) -> tuple[str, int]:
    """``name[lo..hi]`` -> (name, hi - lo + 1) with lo/hi numbers or expressions of the class's
    attributes (v0.4 writes ``storage[1..width*depth]``); ``name[3]`` and ``name`` -> (name, 1)."""
    m = _RANGE.match(name.strip())
    if m is None:
        return name.split("[", 1)[0].strip(), 1
    lo, hi = (evaluate(m.group(k).strip(), scope) for k in ("lo", "hi"))
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)):
        raise EstimateError(f"{component}: cannot evaluate the range of {name!r}", "subcomponents",
                            "give the range bounds as numbers or expressions of the class's attributes")
    return m.group("base").strip(), max(0, int(hi) - int(lo) + 1)


def price_component(
    cls: str,
    attrs: dict[str, Any],
    library: dict[str, CompoundComponent],
    component: str,
    depth: int = 0,
    emulate: Emulation = CURRENT,
) -> tuple[Priced, list[dict[str, Any]]]:
    """Energy per action and area of one component (compound classes expanded); also the parts list."""
    compound = library.get(cls)
    if compound is None:
        priced = _primitive(cls, attrs, component, emulate)
        if depth == 0 and priced.top_level:  # a component of its own (see `Priced.top_level`)
            priced = Priced({**priced.energy, **priced.top_level}, priced.area, priced.estimator, priced.source)
        if depth == 0:
            priced = _component_scales(priced, attrs, component)
        return priced, [{"name": component, "class": cls, "count": 1, "estimator": priced.estimator,
                         "source": priced.source}]
    if depth > MAX_DEPTH:
        raise EstimateError(f"{component}: compound class {cls!r} nests too deep (a cycle?)", "class",
                            "make the compound classes refer to primitives eventually")
    defaults = {k: v for k, v in compound.attributes.items()
                if not (isinstance(v, str) and v.strip() == "must_specify") or k not in attrs}
    merged, errors = evaluate_attributes(_v03_arithmetic({**defaults, **attrs}, emulate), {})
    if errors:
        raise EstimateError(f"{component}: cannot evaluate attributes of {cls}: {errors[0]}", errors[0].split(":")[0],
                            "give the attribute a number or an expression of the class's attributes")
    subs: dict[str, tuple[Priced, int]] = {}
    compound_subs: set[str] = set()
    parts: list[dict[str, Any]] = []
    area = 0.0
    for sub in compound.subcomponents:
        base, count = _range(sub.name, merged, component)
        sub_attrs, errors = evaluate_attributes(_v03_arithmetic(dict(sub.attributes), emulate), merged)
        if errors:
            raise EstimateError(
                f"{component}.{sub.name}: cannot evaluate attribute {errors[0]}", errors[0].split(":")[0],
                f"define it in compound class {cls!r} or on the component",
            )
        # a subcomponent gets the attributes its class lists (Accelergy 0.4: the recorded address
        # generators keep the primitive's default width), plus the technology and cycle time
        inherited = {k: merged[k] for k in ("technology", "global_cycle_seconds") if k in merged}
        sub_attrs = {**inherited, **sub_attrs}
        priced, sub_parts = price_component(sub.class_name, sub_attrs, library, f"{component}.{sub.name}", depth + 1,
                                            emulate)
        subs[base] = (priced, count)
        if sub.class_name in library:
            compound_subs.add(base)
        share = _scale(sub.scale(), merged, "area_scale", component)
        area += priced.area * count * share
        for p in sub_parts:
            parts.append({**p, "count": p["count"] * count})
    energy: dict[str, float] = {}
    source: dict[str, str] = {}
    for action in compound.actions:
        total, terms = 0.0, []
        # a subcomponent named twice in one action counts once, the later entry winning (Accelergy
        # keys them by name: smartbuffer_metadata's `idle` lists `storage` twice and costs one idle)
        latest = {sub.name: sub for sub in action.subcomponents}
        for sub in latest.values():
            # "address_generators[0]": one of the copies; "storage[1..width]": that many copies act
            base, copies = _range(sub.name, merged, component)
            if base not in subs:
                raise EstimateError(f"{component}: action {action.name} names unknown subcomponent {sub.name!r}",
                                    f"actions.{action.name}", f"name one of {', '.join(subs)}")
            priced, _ = subs[base]
            for sa in sub.actions:
                e = priced.energy.get(sa.name)
                if sa.name in priced.top_level and not isinstance((sa.arguments or {}).get("address_delta", 0), int):
                    # the action passes its own address_delta (0..n_banks) on: Timeloop keeps the largest
                    e = priced.top_level[sa.name]  # (recorded: ex_778460f simple_ws shared_glb, 32 banks)
                if e is None:
                    e = priced.energy.get({"idle": "leak", "leak": "idle"}.get(sa.name, ""), 0.0)
                dropped = emulate.v03 and base in compound_subs and sa.scale() is not None
                if dropped:  # Accelergy 0.3 drops the share an action gives a compound's action (`Emulation`)
                    k = float(copies)
                else:
                    k = _scale(sa.scale(), merged, "energy_scale", component) * copies
                total += e * k
                terms.append(f"{sub.name}.{sa.name} {e:.6g} pJ x {k:g}"
                             + (f" (its share {sa.scale()} dropped, as Accelergy 0.3)" if dropped else ""))
        energy[action.name] = total
        source[action.name] = " + ".join(terms) if terms else "no subcomponent actions: 0 pJ"
    source[""] = " + ".join(f"{name} ({priced.area:.6g} um^2 x {count})" for name, (priced, count) in subs.items()) \
        or "no subcomponents: 0 um^2"
    estimators = sorted({p["estimator"] for p in parts})
    if depth == 0 and emulate.precision is not None:  # Accelergy rounds a compound's total once, its
        # flattened primitive actions each
        energy = {a: round(e, emulate.precision) for a, e in energy.items()}
        area = round(area, emulate.precision)
    priced = Priced(energy, area, f"compound {cls}: " + ", ".join(estimators), source)
    return (_component_scales(priced, merged, component) if depth == 0 else priced), parts


def _component_scales(priced: Priced, attrs: dict[str, Any], component: str) -> Priced:
    """A component's own ``area_scale`` / ``energy_scale`` attributes scale all it is made of: Accelergy
    0.4 takes them as the component's scales (accelergy arch_dict_2_obj.ArchComp.get_area_scale, read
    from the attributes; later versions deprecate that) and multiplies every primitive below it by
    them (compound_component.process_subcomponents), on top of the subcomponents' own ``area_scale``.
    So a v0.4 smartbuffer_RF, whose class defines the attribute ``area_scale: widthscale * depthscale``
    for its storage, has its storage area scaled twice and its address generators once (recorded:
    ISPASS'20 eyeriss ifmap_spad 16 x 12 at 45nm, 151.94 um^2 = 0.09375 x (0.09375 x 16791 + 2 x 23.25),
    examples/ex_2d55108/.../timeloop+accelergy/ref-output/intmac/timeloop-mapper.ART.yaml). Top-level
    only: a nested compound's own attribute is not its scale (the subcomponent's ``area_scale`` key is)."""
    a = _scale(attrs.get("area_scale"), attrs, "area_scale", component)
    e = _scale(attrs.get("energy_scale"), attrs, "energy_scale", component)
    if a == 1.0 and e == 1.0:
        return priced
    source = dict(priced.source)
    if a != 1.0:
        source[""] = f"({source.get('', '')}) x area_scale {a:g} (the component's own attribute, Accelergy 0.4)"
    if e != 1.0:
        source.update({k: f"({v}) x energy_scale {e:g} (the component's own attribute, Accelergy 0.4)"
                       for k, v in source.items() if k})
    return Priced({k: v * e for k, v in priced.energy.items()}, priced.area * a, priced.estimator, source)
