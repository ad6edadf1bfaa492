"""Rows of the tables that published designs hand Accelergy's table-based plug-in (``data/plugin_tables.csv``).

The ISPASS'20 PIM exercise (ex_778460f simple_pim, 2020.ispass 05_pim) prices its memristor cells,
sample-and-holds, shift-and-adds and a few 32 nm SRAMs from its own ``PIM_estimation_tables``; those
figures are facts, kept here with their provenance (its ADC/DAC rows are ``data/converters.csv``).
Accelergy asks every plug-in for each action and takes the most accurate answer; the table plug-in
(accuracy 100) wins where a row matches, another estimator answers the actions the table lacks.
"""

from __future__ import annotations

import functools
from typing import Any

from . import tables
from .primitives import Priced


@functools.lru_cache(maxsize=1)
def _rows() -> tuple[dict[str, Any], ...]:
    return tuple({**r, "class": r["class"].lower(), "match": dict(kv.split("=", 1) for kv in r["match"].split()),
                  "energy_pJ": float(r["energy_pJ"]), "area_um2": float(r["area_um2"])}
                 for r in tables._rows("plugin_tables.csv"))


def _same(value: Any, wanted: str) -> bool:
    try:
        return float(value) == float(wanted)
    except (TypeError, ValueError):
        return str(value).strip('"').lower() == wanted.lower()


#: attributes Accelergy's primitive component library gives a primitive that its compound class leaves
#: unset, which the table plug-in then matches against (recorded: the address generators' ``datawidth: 16,
#: latency: "5ns", num_pipeline_stages: 1`` next to ``width: 2.48``,
#: ../shared/reference/timeloop/designs/accelergy_ert_compression_arch/flattened_architecture_verbose.yaml)
LIBRARY_DEFAULTS: dict[str, dict[str, Any]] = {"intadder": {"datawidth": 16, "latency": "5ns", "num_pipeline_stages": 1}}


def lookup(cls: str, attrs: dict[str, Any], fallback: Priced | None = None,
           accelergy: str | None = None) -> Priced | None:
    """The table's figures for a primitive of this class whose technology and tabulated attributes
    match (None when no row does); actions the table lacks keep ``fallback``'s figures. The plug-in
    compares only the columns its CSV has, against the primitive's attributes with the library's
    defaults filled in (accelergy-table-based-plug-ins sets_of_tables.py walk_csv, 2020). A row whose
    match names ``accelergy=V`` is a table only the exercises of that generation registered (the
    PIM exercise's generic 32 nm intadder): it applies only when emulating that Accelergy (``accelergy``)."""
    tech = str(attrs.get("technology", "")).strip('"').lower()
    seen = {**LIBRARY_DEFAULTS.get(cls.lower(), {}), **attrs, "accelergy": accelergy}
    rows = [r for r in _rows() if r["class"] == cls.lower() and r["technology"].lower() == tech
            and all(k in seen and _same(seen[k], v) for k, v in r["match"].items())]
    if not rows:
        return None
    energy = dict(fallback.energy) if fallback is not None else {}
    source = dict(fallback.source) if fallback is not None else {}
    for r in rows:
        energy[r["action"]] = r["energy_pJ"]
        source[r["action"]] = f"table plug-in row {r['energy_pJ']:g} pJ, {r['provenance']}"
    if "idle" not in energy:
        energy["idle"], source["idle"] = 0.0, "the table has no idle row: 0 pJ"
    source[""] = f"table plug-in row {rows[0]['area_um2']:g} um^2 (its first matching row), {rows[0]['provenance']}"
    return Priced(energy, rows[0]["area_um2"], "table-based plug-in (data/plugin_tables.csv)", source)
