"""The `sparse_optimizations` key: representation formats, action and compute optimizations per level.

Format: Timeloop v3.0.3 `src/sparse-analysis/sparse-optimization-parser.cpp`
(`ParseAndConstruct`: ``targets``, each with ``representation-format.data-spaces[].ranks[]``
(``format`` UOP/RLE/CP/B/UB, ``flattened-rankIDs``, ``payload-word-bits``,
``metadata-word-bits``) and ``rank-application-order``, ``action-optimization[]`` (``type``
gating/skipping/skipping-spatial, ``options[]`` with ``target`` and ``condition-on``), and
``compute-optimization[]`` (``type`` gating/skipping)). timeloopfe v0.4 puts the same blocks in
each component (``sparse_optimizations:`` of a node); they are normalized here to targets.
"""

import math
from typing import Any, ClassVar, Literal

from .base import SpecModel, fix_note, norm_key, norm_word

RANK_FORMATS = ("UOP", "RLE", "CP", "B", "UB")


class Rank(SpecModel, kw_only=True):
    """One rank of a representation format, listed outermost first as in the file."""

    format: Literal["UOP", "RLE", "CP", "B", "UB"]
    flattened_rank_ids: list[list[str]] | None = None
    payload_word_bits: int | None = None
    metadata_word_bits: int | None = None

    key_aliases: ClassVar[dict[str, str]] = {
        "flattened_rankIDs": "flattened_rank_ids",
        "flattened_rankids": "flattened_rank_ids",
    }

    @classmethod
    def prepare(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if isinstance(data.get("format"), str):
                data["format"] = data["format"].strip().upper()
            for key in ("payload_word_bits", "metadata_word_bits"):
                if key in data:
                    _bits(data[key], key)
            groups = data.get("flattened_rank_ids")
            if isinstance(groups, list) and groups and all(isinstance(v, str) for v in groups):
                data["flattened_rank_ids"] = [groups]  # a single group written flat: [R, S]
        return data


def _bits(value: Any, key: str) -> None:
    # a width of -3 bits or `true` (a lax int: 1 bit) was modeled with exit 0; Timeloop reads them as
    # unsigned bit counts (sparse-optimization-parser.cpp)
    if isinstance(value, bool) or (isinstance(value, (int, float)) and value < 0):
        flag = isinstance(value, bool)
        what = f"{str(value).lower()} is a boolean" if flag else f"{value!r} is negative"
        raise ValueError(fix_note(f"{what}, not a number of bits", "give a whole number of bits, >= 0", (key,)))


class DataSpaceFormat(SpecModel, kw_only=True):
    """The representation format of one data space at one level."""

    name: str
    ranks: list[Rank]
    rank_application_order: Literal["inner-to-outer", "outer-to-inner"] | None = None
    compression_rate: float | None = None

    @classmethod
    def prepare(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if isinstance(data.get("rank_application_order"), str):
                data["rank_application_order"] = data["rank_application_order"].strip().replace("_", "-")
            value = data.get("compression_rate")
            # -2, .nan and `true` (read as 1.0) were kept and written back, exit 0
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value < 0):
                raise ValueError(fix_note(f"{value!r} is not a finite number >= 0",
                                          "give the rate as a number >= 0", ("compression_rate",)))
        return data


class ActionOption(SpecModel, kw_only=True):
    """One alternative of an action optimization: act on ``target`` when ``condition_on`` is zero."""

    target: str
    condition_on: list[str] = []

    field_hooks: ClassVar[dict[str, Any]] = {"condition_on": lambda v: [v] if isinstance(v, str) else v}


class ActionOptimization(SpecModel, kw_only=True):
    """Gating or skipping of accesses at a storage level.

    ``position_skipping`` is the Sparseloop (MICRO'22 artifact, DSTC) form that skips by position in
    a compressed fiber (the artifact's 2022 build; v3.0.3's parser knows only gating, skipping and
    skipping-spatial). It loads here, and the engine names it when it cannot model it.
    """

    type: Literal["gating", "skipping", "skipping_spatial", "spatial_skipping", "position_skipping"]
    options: list[ActionOption]

    field_hooks: ClassVar[dict[str, Any]] = {"type": norm_word}

    @classmethod
    def prepare(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if "options" not in data and "target" in data:
                # older Sparseloop form: target/condition-on directly on the optimization
                data["options"] = [
                    {"target": data.pop("target"), "condition_on": data.pop("condition_on", [])}
                ]
        return data


class ComputeOptimization(SpecModel, kw_only=True):
    """Gating or skipping of computes at the compute level."""

    type: Literal["gating", "skipping"]

    field_hooks: ClassVar[dict[str, Any]] = {"type": norm_word}


class SparseTarget(SpecModel, kw_only=True):
    """Every sparse optimization of one architecture level."""

    name: str
    representation_format: list[DataSpaceFormat] = []
    action_optimization: list[ActionOptimization] = []
    compute_optimization: list[ComputeOptimization] = []

    @classmethod
    def prepare(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "target" in data and "name" not in data:
            data["name"] = data.pop("target")
        rf = data.get("representation_format")
        if isinstance(rf, dict):
            rf = {norm_key(k): v for k, v in rf.items()}
            unknown = [k for k in rf if k not in ("data_spaces",)]
            if unknown:
                raise ValueError(
                    f"unknown key(s) {', '.join(map(str, unknown))} in representation_format; known keys: data_spaces"
                )
            data["representation_format"] = rf.get("data_spaces") or []
        elif rf is None:
            data.pop("representation_format", None)
        for key in ("action_optimization", "compute_optimization"):
            if key in data and data[key] is None:
                data.pop(key)
            elif isinstance(data.get(key), dict):
                data[key] = [data[key]]
        return data

    def exploited_tensors(self) -> set[str]:
        """Data spaces whose zeros this target exploits (gating/skipping conditioned on them)."""
        out: set[str] = set()
        for opt in self.action_optimization:
            for option in opt.options:
                out.update(option.condition_on)
        return out


class SparseOptimizations(SpecModel, kw_only=True):
    """Sparse optimizations of every level, one target per level (v0.3 key and v0.4 in-node ones)."""

    version: str | None = None
    targets: list[SparseTarget] = []

    @classmethod
    def prepare(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if data.get("version") is not None:
                data["version"] = str(data["version"])
            if data.get("targets") is None:
                data["targets"] = []
        return data

    def __post_init__(self) -> None:
        names = [t.name for t in self.targets]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(
                f"level(s) {', '.join(dup)} appear as more than one target; merge their optimizations"
            )

    def target(self, name: str) -> SparseTarget | None:
        for t in self.targets:
            if t.name == name:
                return t
        return None
