"""The second half of `load_spec`: the merged sections of the input files validated into a `Spec`.

Every section is checked by its models (msgspec, `base`), then across files (names, mapping, capacities), and
every problem found is reported at once. `loader` reads the files first, and imports this module (and
with it the models) only then (issue 15, item 14).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .arch import ArchErrors, Architecture, StorageLevel
from .arch_nodes import NodesArch, TreeArch
from .base import norm_key, validate_model
from .constraints import ConstraintDirective, MapperSettings, constraint_items, expand_maximize_dims
from .expressions import evaluate_attributes
from .loader import _Collector
from .mapping import Mapping, MappingDirective
from .problem import Problem as ProblemSpec
from .problem import densities_location, precheck_raw
from .sparse import SparseOptimizations, SparseTarget
from .spec import ModelSettings, Spec
from .tables import ART, ERT, ComponentLibrary


def validate(files: list[Path], sections: dict[str, tuple[Any, Path, Any]], libraries: list,
             out: _Collector) -> Spec:
    """The `Spec` of the merged ``sections`` (and component ``libraries``) read from ``files``.

    Raises:
        SpecError: listing every problem found, the reading phase's (in ``out``) first.
    """
    spec = Spec(files=files)
    _parse_sections(spec, sections, libraries, out)
    # cross-file checks run on whatever parsed, so problems of every file show up together
    _cross_check(spec, sections, out)
    if out.problems:
        raise SpecError(out.problems[0].message, problems=out.problems)
    return spec


# ----------------------------------------------------------------------------------- sections
def _parse_sections(
    spec: Spec, sections: dict[str, tuple[Any, Path, Any]], libraries: list, out: _Collector
) -> None:
    problems = out.problems

    if "variables" in sections:
        raw, path, _ = sections["variables"]
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            out.add(
                "variables must be a mapping of names to values",
                path,
                "variables",
                "write `name: value` pairs",
            )
        else:
            values, errs = evaluate_attributes({norm_key(k): v for k, v in raw.items()}, {})
            for e in errs:
                out.add(f"cannot evaluate variable {e}", path, "variables", "use numbers and arithmetic")
            spec.variables = values
    if "globals" in sections:
        raw, path, _ = sections["globals"]
        if raw is not None and not isinstance(raw, dict):
            out.add("globals must be a mapping", path, "globals", "write `key: value` pairs")
        else:
            spec.globals = {norm_key(k): v for k, v in (raw or {}).items()}

    if "problem" in sections:
        raw, path, _ = sections["problem"]
        before = len(problems)
        spec.problem = validate_model(
            ProblemSpec, raw, file=path, base="problem", problems=problems, rewrite=densities_location(raw)
        )
        if spec.problem is None:
            seen = {p.message for p in problems[before:]}
            for msg in precheck_raw(raw):
                if msg not in seen:
                    out.add(
                        msg,
                        path,
                        "problem.instance",
                        "give every dimension a size",
                        getattr(raw, "line", None),
                    )

    if "architecture" in sections:
        raw, path, _ = sections["architecture"]
        if not isinstance(raw, dict):
            out.add(
                "architecture must be a mapping with `version` and `subtree` (v0.3) or `nodes` (v0.4)",
                path,
                "architecture",
                "see the reference designs for the layout",
            )
        else:
            keys = {norm_key(k) for k in raw}
            model = NodesArch if "nodes" in keys else TreeArch
            if model is TreeArch and "version" not in keys:
                out.add(
                    "architecture needs a `version` (0.3 for the subtree/local format, 0.4 for nodes)",
                    path,
                    "architecture.version",
                    "add `version: 0.3` (subtree) or `version: 0.4` (nodes)",
                    getattr(raw, "line", None),
                )
            else:
                tree = validate_model(model, raw, file=path, base="architecture", problems=problems)
                if tree is not None:
                    spec.architecture = Architecture(tree, spec.variables, str(path))

    if "sparse_optimizations" in sections:
        raw, path, _ = sections["sparse_optimizations"]
        spec.sparse_optimizations = validate_model(
            SparseOptimizations,
            raw if raw is not None else {},
            file=path,
            base="sparse_optimizations",
            problems=problems,
        )
        spec.written["sparse_optimizations"] = spec.sparse_optimizations

    if "mapping" in sections:
        raw, path, _ = sections["mapping"]
        if raw is None or raw == []:
            spec.mapping = None
        elif isinstance(raw, dict) and any(norm_key(k) in ("mapping", "directives") for k in raw):
            inner = next(v for k, v in raw.items() if norm_key(k) in ("mapping", "directives"))
            spec.mapping = _mapping(inner, path, out)
        elif not isinstance(raw, list):
            out.add(
                "mapping must be a list of directives (target, type, factors, permutation, ...)",
                path,
                "mapping",
                "write `mapping:` followed by `- target: ...` items",
            )
        else:
            spec.mapping = _mapping(raw, path, out)

    for key in (
        "architecture_constraints",
        "constraints",
        "extra_mapping_constraints",
        "mapspace_constraints",
        "mapspace",
    ):
        if key not in sections:
            continue
        raw, path, _ = sections[key]
        if key == "mapspace" and isinstance(raw, dict):
            template = next((v for k, v in raw.items() if norm_key(k) == "template"), None)
            spec.mapspace_template = None if template is None else str(template)
        items, err = constraint_items(raw)
        if err:
            out.add(err, path, key, "write `targets:` followed by constraint directives")
            continue
        parsed = []
        for loc, item in items:
            if isinstance(item, dict):
                item = dict(item)
                item.setdefault("source", str(path))
            d = validate_model(ConstraintDirective, item, file=path, base=_join(key, loc), problems=problems)
            if d is not None:
                parsed.append(d)
        spec.written[key] = parsed
        if key in ("mapspace_constraints", "mapspace"):
            spec.mapspace_constraints.extend(parsed)
        else:
            spec.arch_constraints.extend(parsed)

    if "mapper" in sections:
        raw, path, _ = sections["mapper"]
        spec.mapper = validate_model(
            MapperSettings, raw if raw is not None else {}, file=path, base="mapper", problems=problems
        )
    if "model" in sections:
        raw, path, _ = sections["model"]
        if raw is not None and not isinstance(raw, dict):
            out.add("model must be a mapping of settings", path, "model", "write `verbose: true` etc.")
        else:
            data = {norm_key(k): v for k, v in (raw or {}).items()}
            known = ("verbose", "auto_bypass_on_failure", "out_prefix")
            bad = [k for k in data if k not in known]
            if bad:
                out.add(
                    f"unknown key(s) {', '.join(map(str, bad))}; known keys: {', '.join(known)}",
                    path,
                    "model",
                    f"use one of: {', '.join(known)}",
                )
            else:
                spec.model = ModelSettings(**data)

    for key in ("ERT", "ART"):
        if key in sections:
            raw, path, _ = sections[key]
            model = ERT if key == "ERT" else ART
            setattr(spec, key.lower(), validate_model(model, raw, file=path, base=key, problems=problems))

    for raw, path, key in libraries:
        lib = validate_model(
            ComponentLibrary, raw if raw is not None else {}, file=path, base=key, problems=problems
        )
        if lib is None:
            continue
        spec.written.setdefault("component_versions", []).append(lib.version)
        for cls in lib.classes:
            if cls.name in spec.components:
                out.add(
                    f"compound component class {cls.name!r} is defined twice",
                    path,
                    f"{key}.classes",
                    "keep one definition",
                )
            spec.components[cls.name] = cls


def _join(key: str, loc: tuple[Any, ...]) -> str:
    text = key
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _mapping(raw: list, path: Path, out: _Collector) -> Mapping | None:
    directives = []
    ok = True
    for i, item in enumerate(raw):
        d = validate_model(MappingDirective, item, file=path, base=f"mapping[{i}]", problems=out.problems)
        if d is None:
            ok = False
        else:
            directives.append(d)
    return Mapping(directives=directives) if ok else None


# --------------------------------------------------------------------------------- cross checks
def _cross_check(spec: Spec, sections: dict[str, tuple[Any, Path, Any]], out: _Collector) -> None:
    arch_file = sections.get("architecture", (None, None, None))[1]
    flat = None
    if spec.architecture is not None:
        try:
            result = spec.architecture.flat_result(spec.problem)
            flat = result.arch
        except ArchErrors as exc:
            for e in exc.errors:
                out.add(e.args[0], arch_file, e.key_path, e.fix)
            return
        # timeloopfe v0.4: a container stands for its inter_<container>_spatial level in constraints and
        # mappings (constraint_attacher); in-node constraints and sparse optimizations join the explicit ones
        ct = result.container_targets
        if ct:
            spec.arch_constraints = [_retarget(d, ct) for d in spec.arch_constraints]
            spec.mapspace_constraints = [_retarget(d, ct) for d in spec.mapspace_constraints]
            if spec.mapping is not None:
                spec.mapping = Mapping(directives=[_retarget(d, ct) for d in spec.mapping.directives])
        if spec.architecture.dialect == "nodes":
            spec.arch_constraints = _merge_constraints(
                list(result.constraints) + spec.arch_constraints, out, arch_file
            )
            if spec.mapping is not None:
                spec.mapping = _with_constraint_directives(
                    spec.mapping, spec.arch_constraints, set(ct.values())
                )
        if result.sparse_targets:
            existing = list(spec.sparse_optimizations.targets) if spec.sparse_optimizations else []
            names = {t.name for t in existing}
            for t in result.sparse_targets:
                if t.name in names:
                    out.add(
                        f"level {t.name!r} has sparse optimizations both in its node and in "
                        "`sparse_optimizations`",
                        arch_file,
                        f"sparse_optimizations.targets[{t.name}]",
                        "keep them in one place",
                    )
            spec.sparse_optimizations = SparseOptimizations(
                version=spec.sparse_optimizations.version if spec.sparse_optimizations else None,
                targets=existing + list(result.sparse_targets),
            )
    problem = spec.problem
    dims = list(problem.shape.dimensions) if problem else None
    spaces = problem.data_space_names() if problem else None
    if problem is not None:
        spec.arch_constraints = [d.expand_macros(dims, spaces) for d in spec.arch_constraints]
        spec.mapspace_constraints = [d.expand_macros(dims, spaces) for d in spec.mapspace_constraints]
        _resolve_constraint_expressions(spec, flat, arch_file, out)
    storage_names = flat.names() if flat else None
    all_names = (storage_names + [flat.compute.name]) if flat else None

    if spec.mapping is not None:
        mfile = sections["mapping"][1]
        _check_mapping(spec, flat, dims, spaces, mfile, out)

    for key in ("arch_constraints", "mapspace_constraints"):
        for i, d in enumerate(getattr(spec, key)):
            src = d.source or arch_file
            where = (
                f"{'architecture_constraints' if key == 'arch_constraints' else 'mapspace_constraints'}"
                f"[{i}] (target {d.target})"
            )
            if all_names is not None and d.target not in all_names:
                out.add(
                    f"constraint target {d.target!r} is not a level of the architecture",
                    src,
                    f"{where}.target",
                    f"use one of: {', '.join(reversed(storage_names))}",
                )
            _check_names(d, dims, spaces, src, where, out)

    if spec.sparse_optimizations is not None:
        sfile = sections.get("sparse_optimizations", (None, arch_file, None))[1]
        for i, t in enumerate(spec.sparse_optimizations.targets):
            where = f"sparse_optimizations.targets[{i}]"
            if all_names is not None and t.name not in all_names:
                hint = _did_you_mean(t.name, all_names)
                out.add(
                    f"sparse optimization target {t.name!r} is not a level of the architecture.{hint} "
                    "(Timeloop ignores it with only a warning)",
                    sfile,
                    f"{where}.name",
                    f"use one of: {', '.join(all_names)}",
                )
            _check_sparse_target(t, flat, dims, spaces, sfile, where, out)

    if flat is not None and problem is not None:
        _check_capacity(spec, flat, out, arch_file)


def _resolve_constraint_expressions(spec: Spec, flat: Any, file: Any, out: _Collector) -> None:
    """Evaluate constraint expressions (``split: len(spec.problem.instance)``) and expand
    ``maximize_dims`` into exact factors, as timeloopfe does before Timeloop sees the constraints."""
    assert spec.problem is not None
    names: dict[str, Any] = {**spec.variables, "spec": spec.problem.expression_namespace()}
    for key in ("arch_constraints", "mapspace_constraints"):
        resolved = []
        for d in getattr(spec, key):
            d2, errs = d.resolve_expressions(names)
            for e in errs:
                out.add(e, d.source or file, f"constraints ({d.target}, {d.type})", "give a whole number")
            resolved.append(d2)
        setattr(spec, key, resolved)
    if flat is None:
        return
    levels = [*flat.storage, flat.compute]  # innermost first
    fanout = {}
    for i, lv in enumerate(flat.storage):
        inner = flat.storage[i - 1] if i else flat.compute
        fanout[lv.name] = max(1, inner.instances // max(1, lv.instances))
    both = [*spec.arch_constraints, *spec.mapspace_constraints]
    expanded, errs = expand_maximize_dims(
        both, [lv.name for lv in levels], fanout, spec.problem.dimension_bounds()
    )
    for d, msg in errs:
        where = f"constraints ({d.target}, {d.type}).maximize_dims"
        out.add(msg, d.source or file, where, "maximize only unconstrained problem dimensions")
    n = len(spec.arch_constraints)
    spec.arch_constraints, spec.mapspace_constraints = expanded[:n], expanded[n:]


def _with_constraint_directives(
    mapping: Mapping, constraints: list[ConstraintDirective], dummies: set[str]
) -> Mapping:
    """The mapping timeloop-model gets from timeloopfe for a v0.4 design.

    For a model run, timeloopfe attaches the mapping's entries to the nodes' constraints and writes the
    combination as the mapping (`v4_to_v3.transpile(for_model=True)`: ``"mapping": constraint_list``),
    so a level the mapping does not mention still gets its node's keep/bypass lists, and an
    ``inter_<container>_spatial`` level its all-1 temporal factors and bypass of every data space (the
    ISPASS'20 04-model kp/cp mappings name only the container). Added here: the directives of those
    complete forms that the mapping leaves out; factor constraints of real levels stay mapspace limits.
    """
    have = {(d.target, d.type) for d in mapping.directives}
    extra = []
    for c in constraints:
        if (c.target, c.type) in have:
            continue
        if c.type == "bypass" or (c.type == "temporal" and c.target in dummies):
            have.add((c.target, c.type))
            extra.append(
                MappingDirective(
                    target=c.target,
                    type=c.type,
                    factors={k: v for k, v in c.factors.items() if isinstance(v, int)},
                    permutation=c.permutation,
                    keep=c.keep,
                    bypass=c.bypass,
                )
            )
    return Mapping(directives=[*mapping.directives, *extra]) if extra else mapping


def _retarget(d: Any, targets: dict[str, str]) -> Any:
    return d.model_copy(update={"target": targets[d.target]}) if d.target in targets else d


def _merge_constraints(
    items: list[ConstraintDirective], out: _Collector, file: Any
) -> list[ConstraintDirective]:
    """Combine constraints on the same (target, type) as timeloopfe's `Constraint.combine` does."""
    merged: dict[tuple[str, str], ConstraintDirective] = {}
    order: list[tuple[str, str]] = []
    for d in items:
        key = (d.target, d.type)
        if key not in merged:
            merged[key] = d
            order.append(key)
            continue
        a = merged[key]
        update: dict[str, Any] = {}
        factors = dict(a.factors)
        for dim, v in d.factors.items():
            if dim in factors and factors[dim] != v:
                out.add(
                    f"{d.type} constraints on {d.target!r} give {dim}={factors[dim]} and {dim}={v}",
                    d.source or file,
                    f"constraints ({d.target}).factors",
                    "give each factor once",
                )
            factors[dim] = v
        update["factors"] = factors
        if d.permutation:
            if a.permutation and a.permutation != d.permutation:
                out.add(
                    f"{d.type} constraints on {d.target!r} give permutations {''.join(a.permutation)} and "
                    f"{''.join(d.permutation)}",
                    d.source or file,
                    f"constraints ({d.target}).permutation",
                    "give one permutation",
                )
            update["permutation"] = d.permutation
        for attr in ("keep", "bypass"):
            values = list(getattr(a, attr) or [])
            values += [x for x in (getattr(d, attr) or []) if x not in values]
            update[attr] = values or None
        both = set(update.get("keep") or []) & set(update.get("bypass") or [])
        if both:
            out.add(
                f"{d.target!r} both keeps and bypasses {', '.join(sorted(both))}",
                d.source or file,
                f"constraints ({d.target})",
                "remove the data space from one of the lists",
            )
        for attr in ("split", "min_utilization", "max_overbooked_proportion", "remainders"):
            if getattr(d, attr) is not None:
                if getattr(a, attr) is not None and getattr(a, attr) != getattr(d, attr):
                    out.add(
                        f"{d.type} constraints on {d.target!r} give two values of {attr}",
                        d.source or file,
                        f"constraints ({d.target}).{attr}",
                        "give it once",
                    )
                update[attr] = getattr(d, attr)
        merged[key] = a.model_copy(update=update)
    return [merged[k] for k in order]


def _check_names(
    d: Any, dims: list[str] | None, spaces: list[str] | None, file: Any, where: str, out: _Collector
) -> None:
    if dims is not None:
        bad = [k for k in d.factors if k not in dims]
        if bad:
            out.add(
                f"factors name unknown dimension(s) {', '.join(bad)}",
                file,
                f"{where}.factors",
                f"use the problem's dimensions {' '.join(dims)}",
            )
        bad = [c for c in (d.permutation or []) if c != "_" and c not in dims]
        if bad:
            out.add(
                f"permutation names unknown dimension(s) {', '.join(bad)}",
                file,
                f"{where}.permutation",
                f"use the problem's dimensions {' '.join(dims)}",
            )
    if spaces is not None:
        for attr in ("keep", "bypass", "stream"):
            bad = [t for t in (getattr(d, attr, None) or []) if t not in spaces]
            if bad:
                out.add(
                    f"{attr} names unknown data space(s) {', '.join(bad)}",
                    file,
                    f"{where}.{attr}",
                    f"use the problem's data spaces {', '.join(spaces)}",
                )


def _check_mapping(
    spec: Spec, flat: Any, dims: list[str] | None, spaces: list[str] | None, file: Path, out: _Collector
) -> None:
    assert spec.mapping is not None
    names = flat.names() if flat is not None else None
    product: dict[str, int] = {}
    for i, d in enumerate(spec.mapping.directives):
        where = f"mapping[{i}]"
        if names is not None and d.target not in names:
            hint = _did_you_mean(d.target, names)
            out.add(
                f"mapping target {d.target!r} is not a storage level of the architecture.{hint}",
                file,
                f"{where}.target",
                f"use one of: {', '.join(reversed(names))}",
            )
        _check_names(d, dims, spaces, file, where, out)
        # parser.cpp: position idim goes to X when idim < split, so a split at or above the number of
        # dimensions puts every spatial loop on X (Timeloop's own default is NumFlattenedDimensions)
        if d.type == "spatial" and d.split is not None and d.split < 0:
            out.add(
                f"split {d.split} is negative",
                file,
                f"{where}.split",
                "give the number of permutation positions that go to mesh X (0 or more)",
            )
        elif d.type == "spatial" and d.split is not None and d.split > 2**31 - 1:  # a C int in parser.cpp
            out.add(
                f"split {d.split} is larger than 2,147,483,647, the largest Timeloop can read",
                file,
                f"{where}.split",
                "give the number of permutation positions that go to mesh X (at most the number of dimensions)",
            )
        if dims is None or spec.problem is None or d.type not in ("temporal", "spatial"):
            continue
        bounds = spec.problem.dimension_bounds()
        for dim, v in d.factors.items():
            if dim in bounds:
                # parser.cpp ParseUserFactors: 0 means the full problem dimension
                product[dim] = product.get(dim, 1) * (bounds[dim] if v == 0 else v)
    if dims is None or spec.problem is None or not any(d.type != "bypass" for d in spec.mapping.directives):
        return
    bounds = spec.problem.dimension_bounds()
    for dim in dims:
        got = product.get(dim, 1)
        if got != bounds[dim]:
            out.add(
                f"the factors of {dim} multiply to {got} over all levels but the problem has {dim}={bounds[dim]}",
                file,
                "mapping",
                f"make the temporal and spatial factors of {dim} multiply to {bounds[dim]} "
                "(0 means the full dimension)",
            )


def _check_sparse_target(
    t: SparseTarget,
    flat: Any,
    dims: list[str] | None,
    spaces: list[str] | None,
    file: Any,
    where: str,
    out: _Collector,
) -> None:
    if spaces is not None:
        for j, fmt in enumerate(t.representation_format):
            if fmt.name not in spaces:
                out.add(
                    f"representation format names unknown data space {fmt.name!r}",
                    file,
                    f"{where}.representation_format.data_spaces[{j}].name",
                    f"use one of: {', '.join(spaces)}",
                )
            for r, rank in enumerate(fmt.ranks):
                for group in rank.flattened_rank_ids or []:
                    bad = [g for g in group if dims is not None and g not in dims]
                    if bad:
                        out.add(
                            f"flattened rank ids name unknown dimension(s) {', '.join(bad)}",
                            file,
                            f"{where}.representation_format.data_spaces[{j}].ranks[{r}].flattened_rankIDs",
                            f"use the problem's dimensions {' '.join(dims or [])}",
                        )
        for j, opt in enumerate(t.action_optimization):
            for k, option in enumerate(opt.options):
                bad = [x for x in [option.target, *option.condition_on] if x not in spaces]
                if bad:
                    out.add(
                        f"action optimization names unknown data space(s) {', '.join(bad)}",
                        file,
                        f"{where}.action_optimization[{j}].options[{k}]",
                        f"use one of: {', '.join(spaces)}",
                    )
    if flat is not None:
        if t.name == flat.compute.name and (t.representation_format or t.action_optimization):
            out.add(
                f"{t.name!r} is the compute level: only compute_optimization applies there",
                file,
                where,
                "move formats and action optimizations to a storage level",
            )
        if t.name in flat.names() and t.compute_optimization:
            out.add(
                f"{t.name!r} is a storage level: compute_optimization applies to the compute level "
                f"{flat.compute.name!r}",
                file,
                f"{where}.compute_optimization",
                f"move it to a target named {flat.compute.name!r}",
            )


def _kept_at(spec: Spec, flat: Any) -> dict[str, set[str]]:
    """Data spaces each level must keep (from bypass constraints / mapping), outermost keeps all."""
    kept: dict[str, set[str]] = {lv.name: set() for lv in flat.storage}
    directives: list[Any] = list(spec.arch_constraints) + list(spec.mapspace_constraints)
    if spec.mapping is not None:
        directives += spec.mapping.directives
    for d in directives:
        if d.type == "bypass" and d.target in kept:
            kept[d.target].update(d.keep or [])
    kept[flat.storage[-1].name] = set(spec.problem.data_space_names()) if spec.problem else set()
    return kept


def _check_capacity(spec: Spec, flat: Any, out: _Collector, file: Any) -> None:
    """Static capacity check: a level too small for one element of each data space it must keep,
    or an outermost level smaller than the tensors it must hold."""
    assert spec.problem is not None
    kept = _kept_at(spec, flat)
    outer = flat.storage[-1].name
    for lv in flat.storage:
        cap = _capacity(lv)
        if cap is None:
            continue
        need_spaces = sorted(kept.get(lv.name, set()))
        if not need_spaces:
            continue
        if lv.name == outer:
            need = sum(spec.problem.tensor_size(s) for s in need_spaces)
            what = f"the whole tensors ({', '.join(need_spaces)}: {need} words)"
        else:
            need = len(need_spaces)
            what = f"one element of each data space it keeps ({', '.join(need_spaces)})"
        if need > cap:
            out.add(
                f"level {lv.name!r} holds {cap} words but must hold at least {what}; no mapping can fit",
                file,
                f"architecture ({lv.name}).attributes",
                "enlarge the level, or bypass data spaces there (type: bypass)",
            )


def _capacity(level: StorageLevel) -> int | None:
    try:
        cap = level.capacity_words()
    except (TypeError, ValueError):
        return None
    if cap is None:
        return None
    mb = level.attr("multiple_buffering", default=1) or 1
    try:
        return int(cap // float(mb))
    except (TypeError, ValueError, ZeroDivisionError):
        return cap


def _did_you_mean(name: str, names) -> str:
    """`` Did you mean 'X'?`` for the closest known name, or nothing."""
    close = difflib.get_close_matches(name, list(names), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
