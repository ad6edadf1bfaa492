"""Read Accelergy's energy and area tables (``ERT.yaml``, ``ART.yaml``) as Timeloop consumes them.

Components are named by their full path with replication ranges, e.g.
``eyeriss_168.PE[0..167].weights_spad`` (v0.3) or ``eyeriss_168_top_level.mac[1..168]`` (timeloopfe v4).
The number of instances is the product of the range sizes along the path; Timeloop matches a table
entry to an architecture level by the last path element without its range (NVlabs/timeloop v3.0.3,
``src/model/topology.cpp``, ``Topology::Specs::ParseAccelergyERT`` / ``ParseAccelergyART``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BackendError
from ..io import load_yaml

_RANGE = re.compile(r"\[(\d+)\.\.(\d+)\]")


def path_instances(path: str) -> int:
    """``a.PE[0..167].b`` -> 168; ``a.c[0..15].PE[0..11].x`` -> 192; ``DRAM`` -> 1."""
    count = 1
    for lo, hi in _RANGE.findall(path):
        count *= int(hi) - int(lo) + 1
    return count


def component_name(path: str) -> str:
    """The last path element without its range: the name Timeloop matches to a level."""
    return _RANGE.sub("", path).split(".")[-1].strip()


@dataclass(frozen=True)
class ActionEnergy:
    """One ERT entry: an action, its arguments (``data_delta``... or None) and its energy in pJ."""

    action: str
    energy_pj: float
    arguments: dict[str, Any] | None = None


@dataclass
class ErtComponent:
    path: str
    actions: list[ActionEnergy] = field(default_factory=list)

    @property
    def name(self) -> str:
        return component_name(self.path)

    @property
    def instances(self) -> int:
        return path_instances(self.path)

    def energy(self, action: str) -> float:
        """Energy of ``action`` (the highest when the table holds several argument variants)."""
        values = [a.energy_pj for a in self.actions if a.action == action]
        if not values:
            known = ", ".join(sorted({a.action for a in self.actions}))
            raise BackendError(
                f"the ERT has no action {action!r} for {self.path}",
                key_path=f"ERT.tables[{self.path}]",
                fix=f"use one of: {known}",
            )
        return max(values)


@dataclass
class ArtComponent:
    path: str
    area_um2: float

    @property
    def name(self) -> str:
        return component_name(self.path)

    @property
    def instances(self) -> int:
        return path_instances(self.path)

    @property
    def total_area_um2(self) -> float:
        return self.area_um2 * self.instances


def _tables(doc: Any, key: str, path: Path) -> list[Any]:
    top = doc.get(key) if isinstance(doc, dict) else None
    if top is None and isinstance(doc, dict) and f"{key}_summary" in doc:
        top = doc[f"{key}_summary"]
    tables = top.get("tables", top.get("table_summary")) if isinstance(top, dict) else None
    if not isinstance(tables, list):
        raise BackendError(
            f"no '{key}: tables:' list found",
            file=path,
            key_path=f"{key}.tables",
            fix=f"pass the {key}.yaml that Accelergy wrote",
        )
    return tables


def parse_ert(path: str | Path) -> dict[str, ErtComponent]:
    """``ERT.yaml`` -> component path -> its actions (energies in pJ)."""
    path = Path(path)
    doc = load_yaml(path)
    out: dict[str, ErtComponent] = {}
    for i, table in enumerate(_tables(doc, "ERT", path)):
        if not isinstance(table, dict) or "name" not in table:
            raise BackendError(
                "an ERT table needs a 'name'",
                file=path,
                key_path=f"ERT.tables[{i}]",
                fix="pass the ERT.yaml that Accelergy wrote",
            )
        comp = ErtComponent(path=str(table["name"]))
        for j, action in enumerate(table.get("actions") or []):
            try:
                energy = float(action["energy"])
            except (KeyError, TypeError, ValueError):
                raise BackendError(
                    "an ERT action needs a numeric 'energy'",
                    file=path,
                    key_path=f"ERT.tables[{i}].actions[{j}].energy",
                    fix="pass the ERT.yaml that Accelergy wrote",
                ) from None
            args = action.get("arguments")
            comp.actions.append(ActionEnergy(str(action.get("name")), energy, dict(args) if args else None))
        out[comp.path] = comp
    return out


def parse_art(path: str | Path) -> dict[str, ArtComponent]:
    """``ART.yaml`` (or ``ART_summary.yaml``) -> component path -> per-instance area in um^2."""
    path = Path(path)
    doc = load_yaml(path)
    out: dict[str, ArtComponent] = {}
    for i, table in enumerate(_tables(doc, "ART", path)):
        try:
            out[str(table["name"])] = ArtComponent(path=str(table["name"]), area_um2=float(table["area"]))
        except (KeyError, TypeError, ValueError):
            raise BackendError(
                "an ART table needs 'name' and a numeric 'area'",
                file=path,
                key_path=f"ART.tables[{i}]",
                fix="pass the ART.yaml that Accelergy wrote",
            ) from None
    return out


def art_total_um2(art: dict[str, ArtComponent]) -> float:
    """Total area: per-instance area x instances, summed over components."""
    return sum(c.total_area_um2 for c in art.values())
