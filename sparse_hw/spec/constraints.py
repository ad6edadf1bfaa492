"""Architecture / mapspace constraints and mapper settings.

Constraint semantics: Timeloop v3.0.3 `src/mapping/constraints.cpp` (`Constraints::Parse`,
`ParseList`, `ParseSingleConstraint`): a list under ``targets`` (or ``constraints``), each item a
directive, or a target with a nested ``constraints`` list whose items may keep their values under
``attributes``; types ``temporal``, ``spatial`` (factors, permutation with ``_`` between prefix and
suffix, split, remainders, no_link_transfer, no_multicast_no_reduction, no_temporal_reuse),
``bypass`` (also ``datatype``/``bypassing``, timeloopfe ``dataspace``), ``utilization`` /
``parallelism`` (``min``), ``max_overbooked_proportion`` (``proportion``).

Mapper settings: `src/applications/mapper/mapper.cpp` (`optimization-metrics`, `num-threads`,
`algorithm`, `victory-condition`, `timeout`, `search-size`, `max-permutations-per-if-visit`,
`log-stats`, ...); timeloopfe v0.4 adds its own keys (`out_prefix`, `sync_interval`, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from .base import SpecModel, norm_key, norm_word
from .directives import format_factors, parse_factors, parse_permutation
from .mapping import BYPASS_SPELLINGS

ConstraintType = Literal["temporal", "spatial", "bypass", "utilization", "max_overbooked_proportion"]


class ConstraintDirective(SpecModel):
    """One constraint on one storage level (a mapspace restriction for the mapper)."""

    target: str
    type: ConstraintType
    factors: dict[str, int | tuple[str, int]] = Field(default_factory=dict)
    residuals: dict[str, int] = Field(default_factory=dict)
    permutation: list[str] | None = None
    split: int | None = None
    keep: list[str] | None = None
    bypass: list[str] | None = None
    min_utilization: float | None = None
    max_overbooked_proportion: float | None = None
    remainders: int | None = None
    no_link_transfer: list[str] | None = None
    no_multicast_no_reduction: list[str] | None = None
    no_temporal_reuse: list[str] | None = None
    # timeloopfe v0.4 extras (kept for round trips; `no_reuse` etc. are Timeloop >= 2024 options)
    no_reuse: list[str] | None = None
    rmw_first_update: list[str] | None = None
    no_coalesce: list[str] | None = None
    default_max_factor: int | None = None
    default_min_factor: int | None = None
    # timeloopfe constraint macros (`constraint_macro.py`), expanded once the problem is known
    keep_only: list[str] | None = None
    bypass_only: list[str] | None = None
    factors_only: dict[str, int | tuple[str, int]] | None = None
    source: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _forms(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = {norm_key(k): v for k, v in data.items()}
        attrs = data.pop("attributes", None)
        if isinstance(attrs, dict):
            # constraints.cpp ParseList: a constraint's values may sit under `attributes`
            for k, v in attrs.items():
                data.setdefault(norm_key(k), v)
        if "name" in data and "target" not in data:
            data["target"] = data.pop("name")
        kind = norm_word(data.get("type"))
        if kind in BYPASS_SPELLINGS:
            kind = "bypass"
        elif kind in ("utilization", "parallelism", "parallel"):
            kind = "utilization"
            if "min" in data:
                data["min_utilization"] = data.pop("min")
        elif kind == "max_overbooked_proportion" and "proportion" in data:
            data["max_overbooked_proportion"] = data.pop("proportion")
        if kind is not None:
            data["type"] = kind
        if data.get("factors") is None:
            data.pop("factors", None)
        else:
            factors, residuals = parse_factors(data["factors"], allow_bounds=True)
            data["factors"] = factors
            if residuals:
                data["residuals"] = residuals
        if "permutation" in data:
            data["permutation"] = parse_permutation(data["permutation"], allow_separator=True)
        if data.get("factors_only") is not None:
            data["factors_only"] = parse_factors(data["factors_only"], allow_bounds=True)[0]
        if isinstance(data.get("source"), Path):
            data["source"] = str(data["source"])
        return data

    def factors_text(self) -> str:
        return format_factors(self.factors, self.residuals)

    def expand_macros(self, dimensions: list[str], data_spaces: list[str]) -> ConstraintDirective:
        """timeloopfe's macros: ``keep_only`` keeps those and bypasses the rest, ``bypass_only`` the
        reverse, ``factors_only`` sets every other dimension's factor to 1."""
        update: dict[str, Any] = {}
        if self.keep_only is not None:
            update["keep"] = list(dict.fromkeys([*(self.keep or []), *self.keep_only]))
            update["bypass"] = list(
                dict.fromkeys([*(self.bypass or []), *[d for d in data_spaces if d not in self.keep_only]])
            )
            update["keep_only"] = None
        if self.bypass_only is not None:
            update["bypass"] = list(
                dict.fromkeys([*(update.get("bypass", self.bypass) or []), *self.bypass_only])
            )
            update["keep"] = list(
                dict.fromkeys(
                    [
                        *(update.get("keep", self.keep) or []),
                        *[d for d in data_spaces if d not in self.bypass_only],
                    ]
                )
            )
            update["bypass_only"] = None
        if self.factors_only is not None:
            factors = {**self.factors, **self.factors_only}
            for d in dimensions:
                factors.setdefault(d, 1)
            update["factors"] = factors
            update["factors_only"] = None
        return self.model_copy(update=update) if update else self


def constraint_items(raw: Any) -> tuple[list[tuple[tuple[Any, ...], Any]], str | None]:
    """Flatten a constraints section into (location, directive) pairs, as `Constraints::Parse` does.

    Returns the items and the error text if the section has no recognizable list.
    """
    if raw is None:
        return [], None
    if isinstance(raw, list):
        container, base = raw, ()
    elif isinstance(raw, dict):
        keys = {norm_key(k): k for k in raw}
        unknown = [k for k in keys if k not in ("targets", "constraints", "version", "template")]
        if unknown:
            return [], (f"unknown key(s) {', '.join(unknown)}; known keys: version, targets, constraints")
        key = keys.get("targets") or keys.get("constraints")
        if key is None:
            return [], None
        container, base = raw[key], (norm_key(key),)
        if container is None:
            return [], None
        if not isinstance(container, list):
            return [], f"{norm_key(key)} must be a list of constraint directives"
    else:
        return [], "constraints must be a mapping with a `targets` list"
    out = []
    for i, item in enumerate(container):
        if isinstance(item, dict) and any(norm_key(k) == "constraints" for k in item):
            inner_key = next(k for k in item if norm_key(k) == "constraints")
            target = {k: v for k, v in item.items() if k != inner_key}
            for j, c in enumerate(item[inner_key] or []):
                merged = dict(target) | (dict(c) if isinstance(c, dict) else {"_bad": c})
                out.append(((*base, i, "constraints", j), merged))
        else:
            out.append(((*base, i), item))
    return out, None


class MapperSettings(SpecModel):
    """Mapper settings (the `mapper` key), Timeloop's plus ``seed`` (ours: a seeded search)."""

    version: str | None = None
    optimization_metrics: list[str] = Field(default_factory=lambda: ["edp"])
    algorithm: str | None = None
    num_threads: int | None = None
    victory_condition: int | None = None
    timeout: int | None = None
    search_size: int | None = None
    max_permutations_per_if_visit: int | None = None
    log_stats: bool | None = None
    log_suboptimal: bool | None = None
    log_interval: int | None = None
    log_oaves: bool | None = None
    log_oaves_mappings: bool | None = None
    live_status: bool | None = None
    diagnostics: bool | None = None
    penalize_consecutive_bypass_fails: bool | None = None
    emit_whoop_nest: bool | None = None
    max_temporal_loops_in_a_mapping: int | None = None
    filter_revisits: bool | None = None
    sync_interval: int | None = None
    out_prefix: str | None = None
    optimization_metric: list[str] | None = None
    seed: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _forms(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = {norm_key(k): v for k, v in data.items()}
        if data.get("version") is not None:
            data["version"] = str(data["version"])
        metrics = data.get("optimization_metrics")
        if isinstance(metrics, str):
            data["optimization_metrics"] = [m for m in metrics.replace(",", " ").split() if m]
        if isinstance(data.get("algorithm"), str):
            data["algorithm"] = norm_word(data["algorithm"])
        return data
