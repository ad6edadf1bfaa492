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

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from ..limits import MAX_SEED
from .base import SpecModel, fix_note, norm_key, norm_word
from .directives import format_factors, parse_factors, parse_permutation
from .mapping import BYPASS_SPELLINGS

ConstraintType = Literal["temporal", "spatial", "bypass", "utilization", "max_overbooked_proportion"]


def _check_number(key: str, value: Any) -> None:
    """`split: -4`, `split: true` (a lax int: 1), a utilization of 1.5 or NaN and a negative overbooking
    share were accepted with exit 0; Timeloop reads the split and remainders unsigned and the utilization
    as a fraction. A string is a split expression, evaluated once the problem is known
    (`resolve_expressions`)."""
    if isinstance(value, str) or value is None:
        return
    high = 1.0 if key == "min_utilization" else math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value <= high) \
            or not math.isfinite(value):
        what = "a fraction in [0, 1]" if high == 1.0 else "a finite number >= 0"
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        raise ValueError(fix_note(f"{shown} is not {what}", f"give {key} as {what}", (key,)))


class ConstraintDirective(SpecModel, kw_only=True):
    """One constraint on one storage level (a mapspace restriction for the mapper)."""

    target: str
    type: ConstraintType
    factors: dict[str, int | tuple[str, int]] = {}
    residuals: dict[str, int] = {}
    permutation: list[str] | None = None
    #: an int, or a timeloopfe expression such as ``len(spec.problem.instance)`` until the loader
    #: evaluates it (`resolve_expressions`) once the problem is known
    split: int | str | None = None
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
    #: timeloopfe `maximize_dims`: groups of dimensions whose factors are made as large as the
    #: level's fan-out (spatial) or ``maximize_dims_capacity`` (temporal) allows; expanded to exact
    #: factors by `expand_maximize_dims`
    maximize_dims: list[list[str]] | None = None
    maximize_dims_capacity: int | str | None = None
    source: str | None = None

    @classmethod
    def prepare(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
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
        groups = data.get("maximize_dims")
        if isinstance(groups, list) and groups and all(isinstance(g, str) for g in groups):
            data["maximize_dims"] = [groups]  # one group written flat: [M, C]
        for key in ("split", "maximize_dims_capacity"):
            if isinstance(data.get(key), str) and data[key].strip().lstrip("-").isdigit():
                data[key] = int(data[key])
        if isinstance(data.get("source"), Path):
            data["source"] = str(data["source"])
        for key in ("split", "remainders", "min_utilization", "max_overbooked_proportion"):
            if key in data:
                _check_number(key, data[key])
        return data

    def factors_text(self) -> str:
        return format_factors(self.factors, self.residuals)

    def factor_bounds(self, bounds: dict[str, int]) -> dict[str, tuple[int, int]]:
        """Each constrained dimension's allowed factor range ``(lo, hi)``, inclusive.

        ``C=4`` -> (4, 4), ``C=0`` -> the whole dimension, ``M<=8`` -> (1, 8) (Timeloop's maximum
        factor, `Constraints::ParseMaxFactors`), ``M>=2`` -> (2, bound) (timeloopfe's minimum). The
        mapper honours these; a fixed mapping only has to satisfy them. ``bounds`` are the problem's
        dimension sizes.
        """
        out: dict[str, tuple[int, int]] = {}
        for dim, value in self.factors.items():
            full = int(bounds.get(dim, 0)) or 1
            if isinstance(value, tuple):
                op, n = value
                out[dim] = (1, min(n, full)) if op == "<=" else (min(max(n, 1), full), full)
            else:
                exact = full if value == 0 else min(int(value), full)
                out[dim] = (exact, exact)
        return out

    def resolve_expressions(self, names: dict[str, Any]) -> "tuple[ConstraintDirective, list[str]]":
        """Evaluate expression strings in ``split`` / ``maximize_dims_capacity`` (timeloopfe evaluates
        every string value with the spec in scope). Returns the directive and one message per failure."""
        from .expressions import ExpressionError, evaluate

        update: dict[str, Any] = {}
        errors: list[str] = []
        for key in ("split", "maximize_dims_capacity"):
            value = getattr(self, key)
            if not isinstance(value, str):
                continue
            try:
                result = evaluate(value, names)
            except (ExpressionError, ArithmeticError, TypeError, ValueError) as exc:
                errors.append(f"{key}: cannot evaluate {value!r}: {exc}")
                continue
            if isinstance(result, bool) or not isinstance(result, int) or result < 0:
                errors.append(f"{key}: {value!r} gives {result!r}, not a whole number >= 0")
                continue
            update[key] = result
        return (self.model_copy(update=update) if update else self), errors

    def expand_macros(self, dimensions: list[str], data_spaces: list[str]) -> "ConstraintDirective":
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


def _primes(n: int) -> list[int]:
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


def _greedy_allocate(sizes: dict[str, int], capacity: int) -> tuple[list[tuple[str, int, int]], float]:
    """timeloopfe `constraint_macro.greedy_allocate`: the (dim, lo, hi) factor choices that fill
    ``capacity`` best with the remaining sizes of the dimensions, and the utilization they reach.

    A dimension larger than the capacity may take an uneven split (``hi`` per step, ``lo`` the
    remainder); otherwise prime factors are taken one at a time, recursively. Ties keep the first.
    """
    best: list[tuple[str, int, int]] = []
    best_util = 1.0
    if capacity <= 1:
        return best, best_util
    for dim, size in sizes.items():
        if size > capacity:
            steps = math.ceil(size / capacity)
            per = math.ceil(size / steps)
            rest = size % per
            util = (per * (steps - 1) + rest) / steps
            if util > best_util:
                best, best_util = [(dim, rest, per)], util
        for p in set(_primes(size)):
            if p > capacity:
                continue
            smaller = dict(sizes)
            smaller[dim] //= p
            sub, util = _greedy_allocate(smaller, capacity // p)
            util *= p
            if util > best_util:
                best, best_util = [(dim, p, p), *sub], util
    return best, best_util


def expand_maximize_dims(
    directives: list[ConstraintDirective],
    level_order: list[str],
    fanout: dict[str, int],
    instance: dict[str, int],
) -> tuple[list[ConstraintDirective], list[tuple[ConstraintDirective, str]]]:
    """timeloopfe's ``maximize_dims`` macro (`ConstraintMacroProcessor.process`), turned into exact
    factors: spatial constraints first, then temporal, each innermost level first; a group's
    dimensions get the largest factors that fit the capacity left after the level's fixed factors
    (``=``/``>=``), sized by what the exact factors of every constraint leave of each dimension.

    Args:
        directives: every constraint (merged per target and type).
        level_order: level names, innermost first.
        fanout: a level's spatial fan-out (the capacity of its spatial ``maximize_dims``).
        instance: the problem's dimension sizes.

    Returns:
        The directives with ``maximize_dims`` replaced by factors, and (directive, message) per
        problem found.
    """
    out = list(directives)
    errors: list[tuple[ConstraintDirective, str]] = []
    if not any(d.maximize_dims for d in out):
        return out, errors
    left = dict(instance)
    for d in out:
        for dim, value in d.factors.items():
            if isinstance(value, int) and dim in left:
                left[dim] = math.ceil(left[dim] / (value or instance[dim]))
    rank = {name: i for i, name in enumerate(level_order)}
    order = sorted(
        (i for i, d in enumerate(out) if d.maximize_dims and d.type in ("spatial", "temporal")),
        key=lambda i: (out[i].type != "spatial", rank.get(out[i].target, len(rank))),
    )
    for i in order:
        d = out[i]
        capacity = d.maximize_dims_capacity
        if capacity is None and d.type == "spatial":
            capacity = fanout.get(d.target, 1)
        if not isinstance(capacity, int):
            errors.append((d, "temporal maximize_dims needs an integer maximize_dims_capacity"))
            continue
        factors = dict(d.factors)
        bad = False
        for group in d.maximize_dims or []:
            room = capacity
            for dim, value in factors.items():
                if isinstance(value, int) or value[0] == ">=":
                    v = value if isinstance(value, int) else value[1]
                    room //= v or instance.get(dim, 1)
            for dim in group:
                if dim in factors or dim not in left:
                    why = "already has a factor" if dim in factors else "is not a problem dimension"
                    errors.append((d, f"maximize_dims cannot maximize {dim!r}: it {why}"))
                    bad = True
            if bad:
                break
            chosen = {dim: 1 for dim in group}
            for dim, _lo, hi in _greedy_allocate({dim: left[dim] for dim in group}, room)[0]:
                chosen[dim] *= hi
            for dim, value in chosen.items():
                factors[dim] = value
                left[dim] = math.ceil(left[dim] / value)
        if not bad:
            out[i] = d.model_copy(
                update={"factors": factors, "maximize_dims": None, "maximize_dims_capacity": None}
            )
    return out, errors


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
            return [], f"unknown key(s) {', '.join(map(str, unknown))}; known keys: version, targets, constraints"
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


#: Timeloop's mapper search algorithms (src/search/search-factory.cpp), in our underscore spelling
MAPPER_ALGORITHMS = ("exhaustive", "linear_pruned", "random", "random_pruned", "hybrid")
_MAX_COUNT = 2**63 - 1
#: a count Timeloop reads unsigned
Count = Annotated[int, msgspec.Meta(ge=0, le=_MAX_COUNT)]


class MapperSettings(SpecModel, kw_only=True):
    """Mapper settings (the `mapper` key), Timeloop's plus ``seed`` (ours: a seeded search)."""

    version: str | None = None
    optimization_metrics: list[str] = msgspec.field(default_factory=lambda: ["edp"])
    algorithm: str | None = None
    # Timeloop reads these as unsigned integers (a -5 timeout wraps to ~2^64); `true` is no count either
    # (a boolean is never a number here: msgspec does not read `true` as 1)
    num_threads: Count | None = None
    victory_condition: Count | None = None
    timeout: Count | None = None
    search_size: Count | None = None
    max_permutations_per_if_visit: Count | None = None
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
    seed: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEED)] | None = None  # numpy's generators take 0 .. 2^32 - 1

    def __post_init__(self) -> None:
        # Timeloop's search factory knows these five and stops on any other name; ours maps them to --mode
        value = self.algorithm
        if value is not None and value not in MAPPER_ALGORITHMS:
            known = ", ".join(a.replace("_", "-") for a in MAPPER_ALGORITHMS)
            raise ValueError(fix_note(f"unknown mapper algorithm {value!r}", f"use one of {known}", ("algorithm",)))

    @classmethod
    def prepare(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("version") is not None:
            data["version"] = str(data["version"])
        metrics = data.get("optimization_metrics")
        if isinstance(metrics, str):
            data["optimization_metrics"] = [m for m in metrics.replace(",", " ").split() if m]
        if isinstance(data.get("algorithm"), str):
            data["algorithm"] = norm_word(data["algorithm"])
        return data
