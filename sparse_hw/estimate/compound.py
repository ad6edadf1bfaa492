"""Accelergy's compound components: a class's actions as sums of its subcomponents' actions.

Accelergy (`ERT_generator.py`, `ART_generator.py`): a compound class's attributes are its defaults
overridden by the instance's; each subcomponent's attributes are expressions over them; a compound
action's energy is the sum over the subcomponent actions it names, each times its scale
(``repeat`` / ``energy_scale`` / ``action_share``); the area is the sum of the subcomponents' areas
times their count (``name[0..N-1]``) and ``area_scale`` / ``area_share``.
"""

from __future__ import annotations

import re
from typing import Any

from ..spec.expressions import evaluate, evaluate_attributes
from ..spec.tables import CompoundComponent
from .primitives import EstimateError, Priced, price

MAX_DEPTH = 16


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
) -> tuple[Priced, list[dict[str, Any]]]:
    """Energy per action and area of one component (compound classes expanded); also the parts list."""
    compound = library.get(cls)
    if compound is None:
        priced = price(cls, attrs, component)
        return priced, [{"name": component, "class": cls, "count": 1, "estimator": priced.estimator,
                         "source": priced.source}]
    if depth > MAX_DEPTH:
        raise EstimateError(f"{component}: compound class {cls!r} nests too deep (a cycle?)", "class",
                            "make the compound classes refer to primitives eventually")
    defaults = {k: v for k, v in compound.attributes.items()
                if not (isinstance(v, str) and v.strip() == "must_specify") or k not in attrs}
    merged, errors = evaluate_attributes({**defaults, **attrs}, {})
    if errors:
        raise EstimateError(f"{component}: cannot evaluate attributes of {cls}: {errors[0]}", errors[0].split(":")[0],
                            "give the attribute a number or an expression of the class's attributes")
    subs: dict[str, tuple[Priced, int]] = {}
    parts: list[dict[str, Any]] = []
    area = 0.0
    for sub in compound.subcomponents:
        base, count = _range(sub.name, merged, component)
        sub_attrs, errors = evaluate_attributes(sub.attributes, merged)
        if errors:
            raise EstimateError(
                f"{component}.{sub.name}: cannot evaluate attribute {errors[0]}", errors[0].split(":")[0],
                f"define it in compound class {cls!r} or on the component",
            )
        # a subcomponent gets the attributes its class lists (Accelergy 0.4: the recorded address
        # generators keep the primitive's default width), plus the technology and cycle time
        inherited = {k: merged[k] for k in ("technology", "global_cycle_seconds") if k in merged}
        sub_attrs = {**inherited, **sub_attrs}
        priced, sub_parts = price_component(sub.class_name, sub_attrs, library, f"{component}.{sub.name}", depth + 1)
        subs[base] = (priced, count)
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
                if e is None:
                    e = priced.energy.get({"idle": "leak", "leak": "idle"}.get(sa.name, ""), 0.0)
                k = _scale(sa.scale(), merged, "energy_scale", component) * copies
                total += e * k
                terms.append(f"{sub.name}.{sa.name} {e:.6g} pJ x {k:g}")
        energy[action.name] = total
        source[action.name] = " + ".join(terms) if terms else "no subcomponent actions: 0 pJ"
    source[""] = " + ".join(f"{name} ({priced.area:.6g} um^2 x {count})" for name, (priced, count) in subs.items()) \
        or "no subcomponents: 0 um^2"
    estimators = sorted({p["estimator"] for p in parts})
    return Priced(energy, area, f"compound {cls}: " + ", ".join(estimators), source), parts
