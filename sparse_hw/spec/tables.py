"""Accelergy's tables (ERT.yaml / ART.yaml) and compound component classes.

ERT/ART: Accelergy 0.3/0.4 output format (``ERT: {version, tables: [{name, actions: [{name,
arguments, energy}]}]}``, ``ART: {version, tables: [{name, area}]}``). Timeloop matches an entry
to a level by the last element of its path with ``[..]`` ranges stripped
(`Topology::Specs::ParseAccelergyERT` / `ParseAccelergyART` in src/model/topology.cpp).

Compound components: Accelergy's ``compound_components: {version, classes: [...]}`` (v0.4:
``components``), each class with ``attributes``, ``subcomponents`` and ``actions`` that name
subcomponent actions (with ``arguments``, ``action_share``, ``repeat``).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from .base import SpecModel, norm_key

_RANGE = re.compile(r"\[\d+\.\.\d+\]")


def component_key(path: str) -> str:
    """The name Timeloop matches ERT/ART entries by: last path element, ``[a..b]`` stripped."""
    return _RANGE.sub("", str(path)).rsplit(".", 1)[-1]


class _Versioned(SpecModel):
    """A section with an optional ``version`` (0.3 / 0.4, written as a number or a string)."""

    version: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _version_text(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {norm_key(k): v for k, v in data.items()}
            if data.get("version") is not None:
                data["version"] = str(data["version"])
        return data


class ERTAction(SpecModel):
    """Energy of one action (one argument combination) of a component, in pJ."""

    name: str
    arguments: dict[str, Any] | None = None
    energy: float


class ERTEntry(SpecModel):
    """All actions of one component."""

    name: str
    actions: list[ERTAction]

    def energy(self, action: str) -> float | None:
        """Largest energy over the argument variants of ``action`` (Timeloop keeps the maximum)."""
        values = [a.energy for a in self.actions if a.name == action]
        return max(values) if values else None


def _last_match(entries, level_name: str):
    """The last entry whose name matches ``level_name`` by its last path element (Accelergy's naming)."""
    key = component_key(level_name)
    found = None
    for entry in entries:
        if component_key(entry.name) == key:
            found = entry
    return found


class ERT(_Versioned):
    """Energy reference table."""

    tables: list[ERTEntry] = Field(default_factory=list)

    def component(self, level_name: str) -> ERTEntry | None:
        """The entry Timeloop uses for a level (last match wins, as a later table row overrides)."""
        return _last_match(self.tables, level_name)


class ARTEntry(SpecModel):
    """Area of one component instance, in um^2."""

    name: str
    area: float


class ART(_Versioned):
    """Area reference table."""

    tables: list[ARTEntry] = Field(default_factory=list)

    def component(self, level_name: str) -> ARTEntry | None:
        """The area entry of a level (last match wins, as in the ERT)."""
        return _last_match(self.tables, level_name)


class SubcomponentAction(SpecModel):
    """An action of a subcomponent invoked by a compound action."""

    name: str
    arguments: dict[str, Any] | None = None
    action_share: Any = None
    repeat: Any = None


class SubcomponentActions(SpecModel):
    """The actions one subcomponent performs for a compound action."""

    name: str
    actions: list[SubcomponentAction] = Field(default_factory=list)


class CompoundAction(SpecModel):
    """An action of a compound component, defined by subcomponent actions."""

    name: str
    arguments: dict[str, Any] | None = None
    subcomponents: list[SubcomponentActions] = Field(default_factory=list)


class Subcomponent(SpecModel):
    """A part of a compound component (a primitive or another compound class)."""

    name: str
    class_name: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    area_share: Any = None

    key_aliases: ClassVar[dict[str, str]] = {"class": "class_name"}


class CompoundComponent(SpecModel):
    """An Accelergy compound component class."""

    name: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    subcomponents: list[Subcomponent] = Field(default_factory=list)
    actions: list[CompoundAction] = Field(default_factory=list)

    @field_validator("attributes", mode="before")
    @classmethod
    def _attrs(cls, value: Any) -> Any:
        return {} if value is None else value


class ComponentLibrary(_Versioned):
    """One file's `compound_components` (or v0.4 `components`) section."""

    classes: list[CompoundComponent] = Field(default_factory=list)

    @field_validator("classes", mode="before")
    @classmethod
    def _classes(cls, value: Any) -> Any:
        return [] if value is None else value
