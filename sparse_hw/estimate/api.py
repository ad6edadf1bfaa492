"""Estimate a spec's ERT and ART (Accelergy's format) and fill the entries its tables lack.

`estimate` prices every component of the flattened architecture (storage levels, the compute
level, and the other components Accelergy would price) with `compound.price_component`;
`fill_missing` adds estimated entries only for components the passed ERT/ART do not name, so a
table the user passes always wins, per component.
"""

from __future__ import annotations

import functools
import logging
import math
import weakref
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError
from ..io import load_yaml
from ..spec.tables import (
    ART,
    ERT,
    ARTEntry,
    ComponentLibrary,
    CompoundComponent,
    ERTAction,
    ERTEntry,
    component_key,
    uncovered_levels,
)
from . import tables
from .compound import CURRENT, Emulation, price_component
from .primitives import ASSUMED, LOWER_BOUND, EstimateError, Priced, check_attributes
from .tables import DATA

log = logging.getLogger(__name__)

ESTIMATOR = "sparse-hw estimator"
NOTE_PREFIX = "estimated energy/area for components"

#: id(spec) -> notes; a Spec defines __eq__ and so is unhashable, and the entry dies with the spec
_NOTES: dict[int, list[str]] = {}


@dataclass
class Estimate:
    """Estimated tables plus, per component, which estimator and which table/formula gave each number."""

    ert: ERT
    art: ART
    summary: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: figures known to be approximate in one direction (`primitives.LOWER_BOUND`), one line per component
    caveats: list[str] = field(default_factory=list)

    def ert_dict(self) -> dict[str, Any]:
        return {"ERT": self.ert.model_dump(exclude_none=True)}

    def art_dict(self) -> dict[str, Any]:
        return {"ART": self.art.model_dump(exclude_none=True)}

    def summary_dict(self) -> dict[str, Any]:
        extra = {"caveats": self.caveats} if self.caveats else {}
        return {"estimate_summary": {"version": "0.4", "estimator": ESTIMATOR, "components": self.summary,
                                     "not_estimated": self.skipped, **extra}}


def _levels(spec):
    flat = spec.flat()
    return [*flat.storage, flat.compute], list(flat.others)


#: class defaults of the built-in classes as the Accelergy 0.3-era runs defined them, where the copies in
#: ``data/compound_classes.yaml`` (taken from the v0.4 eyeriss_v2 files) differ. SRAM_MD: 1 read-write port.
#: Every 0.3 run of an SRAM_MD that gave no ``n_rdwr_ports`` priced one port, although the class files
#: shipped beside them say 2: the flattened architectures record ``n_rdwr_ports: 1`` (with
#: ``metadata_n_banks: 1``, an attribute of no shipped file) for the LRF of ex_778460f
#: sparse_tensor_core_like (ref-output/timeloop-mapper.flattened_architecture.yaml, committed with its
#: all_components.yaml in timeloop-accelergy-exercises 3263d52) and of the MICRO'22 artifact's fig15 STC
#: designs; the artifact's fig12 eyeriss_v2_pe weight_spad (8 x 192) recorded the 1-port CACTI figures
#: (read 0.47678 pJ, area 3013.83 = 1005.99 + 2007.84 metadata, ert_art/ERT.yaml, ART.yaml) and its fig13
#: DSTC Buffer/GLB did too (micro22-sparseloop-artifact de0374a, ref_outputs/*/ERT.yaml, ART.yaml). An
#: explicit ``n_rdwr_ports: 2`` was priced with 2 (fig15 RF 8 x 2048: 23384 um^2); v0.4's eyeriss_v2
#: priced the default 2 (weight_spad 3107.32 = 2101.33 + 1005.99).
V03_DEFAULTS: dict[str, dict[str, Any]] = {"SRAM_MD": {"n_rdwr_ports": 1}}


@functools.lru_cache(maxsize=2)
def builtin_classes(v03: bool = False) -> dict[str, CompoundComponent]:
    """Compound classes known without being passed (``data/compound_classes.yaml``, with provenance);
    ``v03``: with the class defaults the Accelergy 0.3-era runs used (`V03_DEFAULTS`)."""
    raw = load_yaml(DATA / "compound_classes.yaml")["compound_components"]
    classes = {c.name: c for c in ComponentLibrary.model_validate(raw).classes}
    for name, defaults in (V03_DEFAULTS.items() if v03 else ()):
        classes[name] = classes[name].model_copy(update={"attributes": {**classes[name].attributes, **defaults}})
    return classes


def _library(spec, emulate: Emulation = CURRENT) -> dict[str, CompoundComponent]:
    return {**builtin_classes(emulate.v03), **(spec.components or {})}  # the input files' classes win


def _recorded_level(lv, spec, emulate: Emulation = CURRENT) -> Priced | None:
    """The figures Accelergy recorded for a component of this very class (as the input files define
    it, or leave it undefined) and these attributes (by the emulated Accelergy version where two
    versions recorded it)."""
    if not (tables.USE_RECORDED and tables.USE_RECORDED_COMPONENTS):
        return None
    cls = lv.subclass or lv.class_name
    sig = f"{tables.class_fingerprint((spec.components or {}).get(cls))} {tables.component_signature(lv.attributes)}"
    found = tables.recorded_component(cls, sig, lv.path, emulate.version if emulate != CURRENT else None)
    if not found or "" not in found:
        return None
    energy = {a: v for a, (v, _) in found.items() if a}
    source = {a: f"recorded Accelergy output for this component, {p}" for a, (_, p) in found.items()}
    return Priced(energy, found[""][0], "recorded Accelergy output (same class and attributes)", source)


def _arch_file(spec) -> str | None:
    """The file the architecture came from, for the errors (`Architecture.source`)."""
    return getattr(spec.architecture, "source", None)


def _price_level(lv, spec, emulate: Emulation = CURRENT) -> tuple[Any, list[dict[str, Any]]]:
    try:
        # the attributes as the user wrote them (after variables), before any recorded figure could
        # hide a meaningless one such as technology: banana or n_rdwr_ports: .nan
        check_attributes(dict(lv.attributes), lv.name, lv.subclass or lv.class_name)
        recorded = _recorded_level(lv, spec, emulate)
        if recorded is not None and emulate.precision is not None:  # as that Accelergy's --precision printed it
            recorded = Priced({a: round(e, emulate.precision) for a, e in recorded.energy.items()},
                              round(recorded.area, emulate.precision), recorded.estimator, recorded.source)
        if recorded is not None:
            return recorded, [{"name": lv.name, "class": lv.subclass or lv.class_name, "count": 1,
                               "estimator": recorded.estimator, "source": recorded.source}]
        # Accelergy prices the ``subclass`` when there is one (Timeloop reads ``class`` for the level kind)
        return price_component(lv.subclass or lv.class_name, dict(lv.attributes), _library(spec, emulate), lv.name,
                               emulate=emulate)
    except EstimateError as exc:
        where = lv.key_path or f"architecture.{lv.name}"
        raise SpecError(
            f"cannot estimate energy/area of {lv.name!r}: {exc}",
            file=_arch_file(spec),
            key_path=f"{where}.attributes.{exc.key}" if exc.key != "class" else f"{where}.class",
            fix=f"{exc.fix}; or pass an ERT/ART that has {lv.name!r}",
        ) from None


def estimate(spec, only: set[str] | None = None, emulate: Emulation = CURRENT) -> Estimate:
    """ERT/ART for the spec's components (``only``: those whose Timeloop key is in the set; ``emulate``:
    whose Accelergy arithmetic to reproduce, today's by default)."""
    if spec.architecture is None:
        raise SpecError("no architecture to estimate", key_path="architecture",
                        fix="pass the architecture file (and its compound components)")
    main, others = _levels(spec)
    ert_entries, art_entries, summary, skipped, caveats = [], [], [], [], []
    for lv in [*main, *others]:
        if only is not None and component_key(lv.name) not in only:
            continue
        try:
            priced, parts = _price_level(lv, spec, emulate)
        except SpecError:
            if lv in others:  # Timeloop ignores these; Accelergy's pricing of them is a bonus
                skipped.append(lv.name)
                continue
            raise
        name = lv.path or lv.name
        figures = [*priced.energy.items(), ("area", priced.area)]
        bad = {a: e for a, e in figures if not math.isfinite(e) or e < 0}
        if bad:  # an attribute like NaN or 1e308 slipped through its pricing: refuse, never write it
            a, e = next(iter(bad.items()))
            raise SpecError(f"the estimate of {lv.name!r} gives {a} = {e}, not a finite number >= 0",
                            file=_arch_file(spec), key_path=f"{name}.attributes",
                            fix=f"correct {lv.name!r}'s attributes; or pass an ERT/ART that has {lv.name!r}")
        actions = [ERTAction(name=a, energy=round(e, 9)) for a, e in priced.energy.items()
                   if a != "leak" or (lv.subclass or lv.class_name) in _library(spec)]
        bounds = sorted({s for p in parts for s in p["source"].values() if s.startswith(LOWER_BOUND)})
        if bounds:  # one line per component, naming its figures (read and write may differ)
            figures = ", ".join(s[len(LOWER_BOUND) + 2:].split(" (", 1)[0] for s in bounds)
            caveats.append(f"{name} is priced from a lower bound ({figures}; see the estimate summary's source); "
                           "pass an ERT with a system figure to override")
        sources = {s for p in parts for s in p["source"].values()}
        caveats += sorted({s[len(ASSUMED) + 2:].split(" | ", 1)[0] for s in sources if s.startswith(ASSUMED)})
        ert_entries.append(ERTEntry(name=name, actions=actions))
        art_entries.append(ARTEntry(name=name, area=round(priced.area, 6)))
        cls = lv.subclass or lv.class_name
        origin = ("input files" if cls in (spec.components or {}) else
                  "sparse-hw's class library (data/compound_classes.yaml)" if cls in builtin_classes() else "primitive")
        summary.append({
            "name": name,
            "class_from": origin,
            "class": lv.subclass or lv.class_name,
            "estimator": priced.estimator,
            "actions": [{"name": a.name, "energy": a.energy, "source": priced.source.get(a.name, "")} for a in actions],
            "area": round(priced.area, 6),
            "area_source": priced.source.get("", ""),
            "primitives": [{"name": p["name"], "class": p["class"], "count": p["count"], "estimator": p["estimator"],
                            "sources": p["source"]} for p in parts],
        })
    return Estimate(ERT(version="0.4", tables=ert_entries), ART(version="0.4", tables=art_entries), summary, skipped,
                    caveats)


#: Names of the levels the spec's ERT (first list) and ART (second) do not cover (defined with the tables,
#: so that a caller can test coverage without importing the estimator).
missing = uncovered_levels


def fill_missing(spec, emulate: Emulation = CURRENT) -> list[str]:
    """Estimate the ERT/ART entries the spec lacks, in place; returns the components estimated
    (``emulate``: whose Accelergy arithmetic to reproduce, today's by default).

    The passed tables keep every entry they have (they win, per component); estimated entries go
    before them, and Timeloop's lookup takes the last entry with a name.
    """
    no_e, no_a = missing(spec)
    names = sorted({component_key(n) for n in [*no_e, *no_a]})
    if not names:
        return []
    est = estimate(spec, only=set(names), emulate=emulate)
    if no_e:
        keep = {component_key(n) for n in no_e}
        new = [t for t in est.ert.tables if component_key(t.name) in keep]
        old = list(spec.ert.tables) if spec.ert is not None else []
        spec.ert = ERT(version=spec.ert.version if spec.ert is not None else "0.4", tables=[*new, *old])
    if no_a:
        keep = {component_key(n) for n in no_a}
        new_a = [t for t in est.art.tables if component_key(t.name) in keep]
        old_a = list(spec.art.tables) if spec.art is not None else []
        spec.art = ART(version=spec.art.version if spec.art is not None else "0.4", tables=[*new_a, *old_a])
    note = f"{NOTE_PREFIX} {', '.join(names)} with sparse-hw's estimator; pass an ERT to override"
    if est.caveats:
        note += "; " + "; ".join(est.caveats)
    if id(spec) not in _NOTES:
        weakref.finalize(spec, _NOTES.pop, id(spec), None)
    _NOTES[id(spec)] = [note]
    return names


def notes_for(spec) -> list[str]:
    """The notes `fill_missing` left on this spec (empty when every table was passed)."""
    return list(_NOTES.get(id(spec), []))


def manifest_settings(notes: list[str]) -> dict[str, Any]:
    """The manifest entry for a run whose tables were estimated (empty otherwise)."""
    found = [n for n in notes if n.startswith(NOTE_PREFIX)]
    return {"estimated_energy_area": found[0]} if found else {}
