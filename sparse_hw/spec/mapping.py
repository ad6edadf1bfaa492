"""The `mapping` key: Timeloop mapping directives (what `timeloop-model` evaluates).

Directive types follow `src/mapping/parser.cpp` (`ParseAndConstruct`): ``temporal`` / ``spatial``
(factors, permutation, ``split`` for spatial: positions < split go to mesh X), and ``bypass``
(Timeloop's own `.map.yaml` writes ``datatype``, timeloopfe v0.4 ``dataspace``; both are normalized
to ``bypass``) with ``keep`` / ``bypass`` lists.

``stream`` (a list of data spaces) appears in the ``.map.yaml`` that the 2021-2022 Sparseloop builds of
Timeloop wrote: it echoes the ``streamed`` buffer statistic printed next to ``keep`` in their
``map+stats.xml``, and it is not a subset of ``keep`` (a level may bypass a data space it "streams").
Timeloop's parser reads only ``keep`` and ``bypass`` from a datatype directive (parser.cpp,
``ParseUserDatatypeBypassSettings``), so ``stream`` has no effect there; it is accepted, kept on the
directive (not written back) and ignored by the model, as Timeloop ignores it.
"""

from typing import Any, ClassVar, Literal

from .base import SpecModel, fix_note, norm_word
from .directives import format_factors, parse_factors, parse_permutation

BYPASS_SPELLINGS = ("bypass", "datatype", "dataspace", "bypassing")


class MappingDirective(SpecModel, kw_only=True):
    """One directive of a fixed mapping."""

    target: str
    type: Literal["temporal", "spatial", "bypass"]
    factors: dict[str, int] = {}
    residuals: dict[str, int] = {}
    permutation: list[str] | None = None
    split: int | None = None
    keep: list[str] | None = None
    bypass: list[str] | None = None
    no_link_transfer: list[str] | None = None
    no_multicast_no_reduction: list[str] | None = None
    no_temporal_reuse: list[str] | None = None
    stream: list[str] | None = None  # output-only echo of old builds; no effect (see module docstring)

    @classmethod
    def prepare(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kind = norm_word(data.get("type"))
        if kind in BYPASS_SPELLINGS:
            data["type"] = "bypass"
        if data.get("factors") is None:
            data.pop("factors", None)
        else:
            factors, residuals = parse_factors(data["factors"])
            data["factors"] = factors
            if residuals:
                data["residuals"] = {**residuals, **dict(data.get("residuals") or {})}
        if "permutation" in data:
            data["permutation"] = parse_permutation(data["permutation"])
        if "name" in data and "target" not in data:
            # parser.cpp FindTargetStorageLevel: `target`, or the level's `name`
            data["target"] = data.pop("name")
        return data

    @staticmethod
    def _split_not_bool(value: Any) -> Any:  # a lax int read `split: true` as 1
        if isinstance(value, bool):
            raise ValueError(fix_note(f"{str(value).lower()} is a boolean, not a number",  # noqa: TRY004
                                      "give the number of permutation positions that go to mesh X"))
        return value

    field_hooks: ClassVar[dict[str, Any]] = {
        "target": lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v,
        "split": _split_not_bool,
    }

    def __post_init__(self) -> None:
        # a data space in both lists contradicts itself (which wins would be an accident of parse order);
        # refused as the same contradiction in constraints is (loader.py)
        both = sorted(set(self.keep or []) & set(self.bypass or []))
        if both:
            raise ValueError(
                f"{self.target!r} both keeps and bypasses {', '.join(both)}: remove it from one list")

    def factors_text(self) -> str:
        return format_factors(self.factors, self.residuals)


class Mapping(SpecModel, kw_only=True):
    """A fixed mapping: the list of directives, in file order."""

    directives: list[MappingDirective] = []

    def by_target(self, target: str) -> list[MappingDirective]:
        return [d for d in self.directives if d.target == target]
