"""Architecture and mapspace constraints compiled to per-level rules the mapspace enumerates.

Semantics follow Timeloop v3.0.3 (`src/mapping/constraints.cpp`): a factor constraint fixes the
factor of that dimension at that level (``0`` = the whole problem dimension, Timeloop's
`ParseUserFactors`); a permutation constraint is a prefix (innermost loops, in order), an optional
``_`` and a suffix (outermost loops), with the remaining dimensions free in between
(`Constraints::ParsePermutations`, `PermutationSpace::InitLevel`); ``M<=8`` is a maximum factor
(`Constraints::ParseMaxFactors`, honoured by `IndexFactorizationSpace::Init`) and ``M>=2`` a
minimum factor (timeloopfe's spelling; v3.0.3 ignores it, we honour it); ``split`` sends spatial
permutation positions ``< split`` to mesh X; ``keep``/``bypass`` fix where data spaces live;
``utilization`` (or ``parallelism``) with ``min`` is a minimum on the whole mapping's parallelism: the
product over spatial levels of (spatial factors used / fan-out), however many levels it names
(`Constraints::ParseSingleConstraint` keeps one ``min_parallelism_`` and refuses a second; the mapspace
rejects a mapping whose `cumulative_fanout_utilization` is below it, `Uber::AssignSpatialTilingDirections`).
"""

from __future__ import annotations

import msgspec

from ..errors import MappingError, ProblemCollector
from ..model.arch import ArchModel
from ..model.problem import ProblemModel


class LevelRules(msgspec.Struct):
    """What the constraints fix at one storage level (dims and data spaces by index)."""

    t_fixed: dict[int, int] = msgspec.field(default_factory=dict)
    s_fixed: dict[int, int] = msgspec.field(default_factory=dict)
    t_max: dict[int, int] = msgspec.field(default_factory=dict)
    t_min: dict[int, int] = msgspec.field(default_factory=dict)
    s_max: dict[int, int] = msgspec.field(default_factory=dict)
    s_min: dict[int, int] = msgspec.field(default_factory=dict)
    t_prefix: list[int] = msgspec.field(default_factory=list)
    t_suffix: list[int] = msgspec.field(default_factory=list)
    s_prefix: list[int] = msgspec.field(default_factory=list)
    s_suffix: list[int] = msgspec.field(default_factory=list)
    split: int | None = None
    keep: set[int] = msgspec.field(default_factory=set)
    bypass: set[int] = msgspec.field(default_factory=set)
    sources: list[str] = msgspec.field(default_factory=list)


class Rules(msgspec.Struct):
    """Constraints for every storage level of one (problem, architecture)."""

    levels: list[LevelRules]
    min_parallelism: float = 0.0
    """Smallest product over spatial levels of (spatial factors used / fan-out) a mapping may have."""

    def describe_fixed(self, arch: ArchModel, problem: ProblemModel, lv: int) -> str:
        rules = self.levels[lv]
        parts = []
        if rules.t_fixed:
            parts.append("temporal " + " ".join(f"{problem.dims[d]}={v}" for d, v in sorted(rules.t_fixed.items())))
        if rules.s_fixed:
            parts.append("spatial " + " ".join(f"{problem.dims[d]}={v}" for d, v in sorted(rules.s_fixed.items())))
        return f"{arch.storage[lv].name}: " + ("; ".join(parts) if parts else "no factor constraints")


def _perm_tokens(perm) -> tuple[list[str], list[str]]:
    """Split a permutation constraint into (prefix, suffix) dimension names."""
    if perm is None:
        return [], []
    text = perm if isinstance(perm, str) else "".join(str(p) for p in perm)
    text = text.split("#")[0]
    prefix: list[str] = []
    suffix: list[str] = []
    seen_sep = False
    for ch in text:
        if ch.isspace():
            continue
        if ch == "_":
            seen_sep = True
            continue
        (suffix if seen_sep else prefix).append(ch)
    return prefix, suffix


def compile_rules(directives, arch: ArchModel, problem: ProblemModel) -> Rules:
    """Compile constraint directives (spec `ConstraintDirective`s, any order) into `Rules`."""
    rules = Rules([LevelRules() for _ in arch.storage])
    names = arch.names()
    dims = problem.dims
    spaces = problem.dataspace_names
    problems = ProblemCollector()
    parallelism_from: str | None = None
    for i, d in enumerate(directives or []):
        src = getattr(d, "source", None)
        key = f"constraints[{i}]"
        if d.type == "utilization" and d.target in (*names, arch.compute.name):  # (the spec's name for parallelism)
            mu = getattr(d, "min_utilization", None)
            if mu is None:
                continue
            if parallelism_from is not None:  # Timeloop: "re-specification of min parallelism/utilization"
                problems.add(f"a second minimum parallelism ({float(mu):g}, at {d.target}); {parallelism_from} "
                             "already set one, and a mapping has only one", file=src, key_path=f"{key}.min",
                             fix="keep one utilization constraint")
                continue
            rules.min_parallelism, parallelism_from = float(mu), f"{key} ({d.target})"
            continue
        if d.target not in names:
            if d.target == arch.compute.name:
                continue
            problems.add(
                f"constraint target {d.target!r} is not a storage level of the architecture",
                file=src,
                key_path=f"{key}.target",
                fix=f"use one of: {', '.join(names)}",
            )
            continue
        lv = names.index(d.target)
        r = rules.levels[lv]
        r.sources.append(str(src) if src else key)
        kind = str(d.type).replace("-", "_")
        if kind in ("temporal", "spatial"):
            target = r.t_fixed if kind == "temporal" else r.s_fixed
            upper = r.t_max if kind == "temporal" else r.s_max
            lower = r.t_min if kind == "temporal" else r.s_min
            for dim, value in (getattr(d, "factors", None) or {}).items():
                if dim not in dims:
                    problems.add(f"factor names unknown dimension {dim!r}", file=src, key_path=f"{key}.factors",
                                 fix=f"use the problem's dimensions {' '.join(dims)}")
                    continue
                di = dims.index(dim)
                if isinstance(value, (tuple, list)):
                    op, v = str(value[0]), int(value[1])
                    if op not in ("<=", ">=") or (op == "<=" and v <= 0):
                        problems.add(f"factor {dim}{op}{v}: a bound must be <= n (n >= 1) or >= n", file=src,
                                     key_path=f"{key}.factors.{dim}", fix=f"write {dim}<=8, {dim}>=2 or {dim}=8")
                        continue
                    (upper if op == "<=" else lower)[di] = v
                    continue
                v = int(value)
                # 0 means the whole dimension; larger than the dimension is clamped to it (`ParseFactors`)
                target[di] = int(problem.bounds[di]) if v == 0 else min(v, int(problem.bounds[di]))
            prefix, suffix = _perm_tokens(getattr(d, "permutation", None))
            bad = [c for c in prefix + suffix if c not in dims]
            if bad:
                problems.add(f"permutation names unknown dimension(s) {', '.join(bad)}", file=src,
                             key_path=f"{key}.permutation", fix=f"use {' '.join(dims)}")
            pre = [dims.index(c) for c in prefix if c in dims]
            suf = [dims.index(c) for c in suffix if c in dims]
            if kind == "temporal":
                r.t_prefix, r.t_suffix = pre or r.t_prefix, suf or r.t_suffix
            else:
                r.s_prefix, r.s_suffix = pre or r.s_prefix, suf or r.s_suffix
                split = getattr(d, "split", None)
                if split is not None:
                    r.split = int(split)
        elif kind in ("bypass", "datatype"):
            for t in getattr(d, "keep", None) or []:
                if t in spaces:
                    r.keep.add(spaces.index(t))
            for t in getattr(d, "bypass", None) or []:
                if t in spaces:
                    r.bypass.add(spaces.index(t))
        elif kind in ("max_overbooked_proportion", "parallel"):
            continue
        else:
            problems.add(f"unknown constraint type {kind!r}", file=src, key_path=f"{key}.type",
                         fix="use temporal, spatial, bypass or utilization")
    for lv, r in enumerate(rules.levels):
        both = r.keep & r.bypass
        if both:
            problems.add(
                f"{names[lv]} both keeps and bypasses {', '.join(spaces[t] for t in sorted(both))}",
                key_path="constraints",
                fix="remove the data space from one of the two lists",
            )
    problems.raise_if_any(MappingError)
    return rules
