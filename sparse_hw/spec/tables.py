"""Accelergy's tables (ERT.yaml / ART.yaml) and compound component classes.

ERT/ART: Accelergy 0.3/0.4 output format (``ERT: {version, tables: [{name, actions: [{name,
arguments, energy}]}]}``, ``ART: {version, tables: [{name, area}]}``). Timeloop matches an entry
to a level by the last element of its path with ``[..]`` ranges stripped
(`Topology::Specs::ParseAccelergyERT` / `ParseAccelergyART` in src/model/topology.cpp).

Compound components: Accelergy's ``compound_components: {version, classes: [...]}`` (v0.4:
``components``), each class with ``attributes``, ``subcomponents`` and ``actions`` that name
subcomponent actions (with ``arguments``, ``action_share``, ``repeat``).

Scale keys: Accelergy 0.3 wrote ``action_share`` / ``area_share``; current Accelergy and timeloopfe
write ``energy_scale`` on a subcomponent action and ``area_scale`` on a subcomponent. Both pairs are
the same multiplicative factor (Accelergy `action.py`: "repeat has the same meaning as action
share", ``repeat`` taking precedence over ``energy_scale``; `ERT_generator.py` multiplies a
subaction's energy by it; `ART_generator.py` multiplies a subcomponent's area by ``area_scale``).
Either spelling loads; giving two spellings of one scale that disagree is refused.
"""

import re
from typing import Annotated, Any, ClassVar

import msgspec

from .base import SpecModel

_RANGE = re.compile(r"\[\d+\.\.\d+\]")


def component_key(path: str) -> str:
    """The name Timeloop matches ERT/ART entries by: last path element, ``[a..b]`` stripped."""
    return _RANGE.sub("", str(path)).rsplit(".", 1)[-1]


class _Versioned(SpecModel, kw_only=True):
    """A section with an optional ``version`` (0.3 / 0.4, written as a number or a string)."""

    version: str | None = None

    @classmethod
    def prepare(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if data.get("version") is not None:
                data["version"] = str(data["version"])
        return data


def _not_bool(value: Any) -> Any:
    """A lax float would read ``true`` as 1.0: an energy or area of ``true`` is an edit, not 1 pJ."""
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is a boolean, not a number [fix: give the figure as a number]")
    return value


def _named(value: Any) -> Any:
    """A blank component or action name matches nothing: the entry was dropped in silence (its component
    estimated instead, its action priced as absent), exit 0."""
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"the name is {value!r}, which names no component or action "
                         "[fix: give the name Accelergy wrote (e.g. system.PE[0..3].buffer, read)]")
    return value


#: a finite figure >= 0 (the lower bound refuses NaN and -inf, the upper one +inf)
Figure = Annotated[float, msgspec.Meta(ge=0, le=1.7976931348623157e308)]


class ERTAction(SpecModel, kw_only=True):
    """Energy of one action (one argument combination) of a component, in pJ."""

    name: str
    arguments: dict[str, Any] | None = None
    energy: Figure  # a NaN, inf or negative energy would poison every total

    field_hooks: ClassVar[dict[str, Any]] = {"energy": _not_bool, "name": _named}


class ERTEntry(SpecModel, kw_only=True):
    """All actions of one component."""

    name: str
    actions: list[ERTAction]

    field_hooks: ClassVar[dict[str, Any]] = {"name": _named}

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


class ERT(_Versioned, kw_only=True):
    """Energy reference table."""

    tables: list[ERTEntry] = []

    def component(self, level_name: str) -> ERTEntry | None:
        """The entry Timeloop uses for a level (last match wins, as a later table row overrides)."""
        return _last_match(self.tables, level_name)


class ARTEntry(SpecModel, kw_only=True):
    """Area of one component instance, in um^2."""

    name: str
    area: Figure

    field_hooks: ClassVar[dict[str, Any]] = {"area": _not_bool, "name": _named}


class ART(_Versioned, kw_only=True):
    """Area reference table."""

    tables: list[ARTEntry] = []

    def component(self, level_name: str) -> ARTEntry | None:
        """The area entry of a level (last match wins, as in the ERT)."""
        return _last_match(self.tables, level_name)


class SubcomponentAction(SpecModel, kw_only=True):
    """An action of a subcomponent invoked by a compound action."""

    name: str
    arguments: dict[str, Any] | None = None
    action_share: Any = None
    repeat: Any = None
    energy_scale: Any = None

    def __post_init__(self) -> None:
        keys = ("repeat", "energy_scale", "action_share")
        given = {k: v for k in keys if (v := getattr(self, k)) is not None}
        if len(set(map(str, given.values()))) > 1:
            raise ValueError(
                f"{' and '.join(given)} give different scales ({given}) [fix: give one of them; "
                "they mean the same multiplicative energy scale]"
            )

    def scale(self) -> Any:
        """The energy scale however it was spelled (``repeat`` first, as Accelergy reads it), or None."""
        for k in ("repeat", "energy_scale", "action_share"):
            if getattr(self, k) is not None:
                return getattr(self, k)
        return None


class SubcomponentActions(SpecModel, kw_only=True):
    """The actions one subcomponent performs for a compound action."""

    name: str
    actions: list[SubcomponentAction] = []


class CompoundAction(SpecModel, kw_only=True):
    """An action of a compound component, defined by subcomponent actions."""

    name: str
    arguments: dict[str, Any] | None = None
    subcomponents: list[SubcomponentActions] = []


class Subcomponent(SpecModel, kw_only=True):
    """A part of a compound component (a primitive or another compound class)."""

    name: str
    class_name: str
    attributes: dict[str, Any] = {}
    area_share: Any = None
    area_scale: Any = None

    key_aliases: ClassVar[dict[str, str]] = {"class": "class_name"}

    def __post_init__(self) -> None:
        if self.area_share is not None and self.area_scale is not None and str(self.area_share) != str(
            self.area_scale
        ):
            raise ValueError(
                f"area_share={self.area_share} and area_scale={self.area_scale} differ [fix: give one of "
                "them; they mean the same multiplicative area scale]"
            )

    def scale(self) -> Any:
        """The area scale however it was spelled, or None."""
        return self.area_scale if self.area_scale is not None else self.area_share


class CompoundComponent(SpecModel, kw_only=True):
    """An Accelergy compound component class."""

    name: str
    attributes: dict[str, Any] = {}
    subcomponents: list[Subcomponent] = []
    actions: list[CompoundAction] = []

    field_hooks: ClassVar[dict[str, Any]] = {"attributes": lambda v: {} if v is None else v}


class ComponentLibrary(_Versioned, kw_only=True):
    """One file's `compound_components` (or v0.4 `components`) section."""

    classes: list[CompoundComponent] = []

    field_hooks: ClassVar[dict[str, Any]] = {"classes": lambda v: [] if v is None else v}


def uncovered_levels(spec) -> tuple[list[str], list[str]]:
    """Names of the storage and compute levels the spec's ERT (first list) and ART (second) do not cover:
    what `sparse_hw.estimate.fill_missing` estimates. It lives here, beside the tables and below the
    estimator, so that a run whose tables cover every level never imports the estimator (issue 15)."""
    if spec.architecture is None:
        return [], []
    flat = spec.flat()
    levels = [*flat.storage, flat.compute]
    no_e = [lv.name for lv in levels if spec.ert is None or spec.ert.component(lv.name) is None]
    no_a = [lv.name for lv in levels if spec.art is None or spec.art.component(lv.name) is None]
    return no_e, no_a
