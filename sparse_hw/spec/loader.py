"""`load_spec`: read input files, merge them the way Timeloop does, validate, report every problem.

Timeloop v3.0.3 (`config::CompoundConfig`, src/compound-config/compound-config.cpp) concatenates
its input files and reads the top-level keys of the result, so every file adds keys. We merge
the same way but refuse a key given in two files (naming both) instead of letting one win
silently, except ``compound_components`` (Accelergy's classes from several files merge).
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import Problem, SpecError
from ..io import load_yaml_text
from ..safe_yaml import load as bounded_load
from ..safe_yaml import read_input_bytes
from .arch import ArchErrors, Architecture, StorageLevel
from .arch_nodes import NodesArch, TreeArch
from .base import norm_key, validate_model
from .constraints import ConstraintDirective, MapperSettings, constraint_items, expand_maximize_dims
from .expressions import evaluate_attributes
from .jinja import has_jinja, is_template, render
from .jinja import include_roots as _include_roots
from .mapping import Mapping, MappingDirective
from .problem import Problem as ProblemSpec
from .problem import densities_location, precheck_raw
from .sparse import SparseOptimizations, SparseTarget
from .spec import ModelSettings, Spec
from .tables import ART, ERT, ComponentLibrary

#: top-level keys (internal spelling) -> what they hold
TOP_KEYS = {
    "architecture": "the hardware (v0.3 subtree/local or v0.4 nodes)",
    "problem": "the workload shape, instance and densities",
    "mapping": "a fixed mapping (list of directives)",
    "sparse_optimizations": "Sparseloop formats, gating/skipping",
    "architecture_constraints": "hardware/dataflow constraints for the mapper",
    "mapspace_constraints": "search-space constraints for the mapper",
    "mapspace": "mapspace constraints / template",
    "constraints": "timeloopfe v0.4 constraints",
    "extra_mapping_constraints": "timeloopfe v0.4 constraints from a mapping file",
    "mapper": "mapper settings",
    "model": "timeloop-model settings",
    "compound_components": "Accelergy compound component classes",
    "components": "timeloopfe v0.4 compound component classes",
    "ERT": "Accelergy energy reference table",
    "ART": "Accelergy area reference table",
    "variables": "values attribute expressions refer to",
    "globals": "timeloopfe v0.4 globals",
    "dumped_by_timeloop_front_end": "timeloopfe marker",
}
TOP_ALIASES = {
    "arch": "architecture",
    "arch_constraints": "architecture_constraints",
    "ert": "ERT",
    "art": "ART",
}
MERGING_KEYS = ("compound_components", "components")

_TEXT_CACHE: dict[str, Any] = {}
_CACHE_LIMIT = 4096


def _fast_loader() -> Any:
    """libyaml's parser with `sparse_hw.io`'s constructors (line numbers, ``!Tags``), if libyaml exists."""
    import yaml

    from .. import io as sio

    base = getattr(yaml, "CSafeLoader", None)
    if base is None:
        return None

    class _CLoader(base):  # type: ignore[misc, valid-type]
        pass

    _CLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, sio._construct_mapping)
    _CLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sio._construct_sequence)
    _CLoader.add_multi_constructor("!", sio._construct_tagged)
    return _CLoader


_C_LOADER = _fast_loader()


def _parse_text(text: str, path: Path) -> Any:
    """Parse with libyaml (about 10x faster); on any error re-parse with the pure-Python loader of
    `sparse_hw.io`, whose message and line number the user sees."""
    if _C_LOADER is not None:
        import yaml

        try:
            return bounded_load(text, _C_LOADER, path)
        except yaml.YAMLError:
            pass
    return load_yaml_text(text, path)


def read_document(
    path: Path, jinja_data: dict[str, Any] | None = None, roots: Sequence[Path] | None = None
) -> Any:
    """Parse one file; a template (by name, or any file with Jinja in it, as timeloopfe renders every
    file) is rendered with includes limited to ``roots`` (default: the file's folder). Plain files are
    cached by content hash, so the result is shared: copy it before changing it."""
    if is_template(path):
        return render(path, jinja_data, roots=roots)
    data = read_input_bytes(path)  # regular files within the size cap only (sparse_hw.safe_yaml)
    digest = hashlib.sha256(data).hexdigest()
    if digest in _TEXT_CACHE:
        return _TEXT_CACHE[digest]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("not a UTF-8 text file", file=path, fix="pass a YAML text file") from None
    if has_jinja(text):
        return render(path, jinja_data, roots=roots, text=text)
    parsed = _parse_text(text, path)
    if len(_TEXT_CACHE) > _CACHE_LIMIT:
        _TEXT_CACHE.clear()
    _TEXT_CACHE[digest] = parsed
    return parsed


def _is_empty_section(value: Any) -> bool:
    """None, an empty list/mapping, or a mapping whose only content is a version and empty lists."""
    if value is None or value == [] or value == {}:
        return True
    if isinstance(value, dict):
        return all(
            norm_key(k) == "version" or v is None or v == [] or v == {} for k, v in value.items()
        ) and any(norm_key(k) != "version" for k in value)
    return False


#: input format versions of Timeloop v0.2/v0.3 and timeloopfe v0.4 (the only ones there are)
SUPPORTED_VERSIONS = ("0.2", "0.3", "0.4")


def _check_version(value: Any, path: Path, key: str, out: _Collector) -> None:
    """A section's ``version:`` must be one this loader understands; another is refused, not guessed."""
    if not isinstance(value, dict):
        return
    for k, v in value.items():
        if norm_key(k) != "version" or v is None:
            continue
        text = str(v).strip()
        try:
            text = f"{float(text):g}" if text.replace(".", "", 1).isdigit() else text
        except ValueError:
            pass
        if text not in SUPPORTED_VERSIONS:
            out.add(
                f"unsupported version {v!r}; sparse-hw reads versions {', '.join(SUPPORTED_VERSIONS)}",
                path,
                f"{key}.version",
                "use version 0.3 (Timeloop's tree format) or 0.4 (timeloopfe)",
                value.key_lines.get(str(k)) if hasattr(value, "key_lines") else None,
            )


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(
        self,
        message: str,
        file: Any = None,
        key_path: str | None = None,
        fix: str | None = None,
        line: int | None = None,
    ) -> None:
        self.problems.append(Problem(message, None if file is None else str(file), key_path, fix, line))


def load_spec(
    paths: Sequence[str | Path],
    *,
    jinja_data: dict[str, Any] | None = None,
    include_roots: Sequence[str | Path] = (),
) -> Spec:
    """Load Timeloop/Sparseloop/Accelergy input files (v0.3 or v0.4, hyphen or underscore keys).

    Args:
        paths: the input files, in the order Timeloop would read them.
        jinja_data: variables for Jinja2 templates (``*.jinja2``), as timeloopfe's
            ``jinja_parse_data``.
        include_roots: more folders templates may include from, besides the input files' own
            (see `sparse_hw.spec.jinja`).

    Returns:
        The merged, validated `Spec`.

    Raises:
        SpecError: listing every problem found (file, key path, line, fix).
    """
    out = _Collector()
    files = [Path(p) for p in paths]
    if not files:
        raise SpecError("no input files given", fix="pass the Timeloop YAML files to load")
    sections: dict[str, tuple[Any, Path, Any]] = {}
    libraries: list[tuple[Any, Path, str]] = []
    roots = _include_roots(files, include_roots)
    for path in files:
        try:
            raw = read_document(path, jinja_data, roots)
        except SpecError as exc:
            out.problems.extend(exc.problems)
            continue
        if raw is None:
            out.add(
                "the file is empty (no YAML keys)",
                path,
                fix="give the file its content (e.g. `problem:` ...), or leave it out of the inputs",
            )
            continue
        if not isinstance(raw, dict):
            out.add(
                "the file must be a mapping of top-level keys (architecture:, problem:, ...)",
                path,
                fix="start the file with a key such as `architecture:`",
                line=getattr(raw, "line", None),
            )
            continue
        for key, value in raw.items():
            k = norm_key(key)
            k = TOP_ALIASES.get(k, TOP_ALIASES.get(str(key), k))
            if k not in TOP_KEYS:
                if str(key) in TOP_KEYS:
                    k = str(key)
                else:
                    known = list(TOP_KEYS)
                    close = difflib.get_close_matches(str(key), known, n=1)
                    hint = f" Did you mean {close[0]!r}?" if close else ""
                    out.add(
                        f"unknown top-level key {key!r}.{hint} Known keys: {', '.join(known)}",
                        path,
                        str(key),
                        f"remove it or use one of: {', '.join(known)}",
                        raw.key_lines.get(str(key)) if hasattr(raw, "key_lines") else None,
                    )
                    continue
            _check_version(value, path, str(key), out)
            if k in MERGING_KEYS:
                libraries.append((value, path, k))
            elif k in sections and (_is_empty_section(value) or _is_empty_section(sections[k][0])):
                # timeloopfe's processed input holds `mapping: []` (a mapper run) or
                # `architecture_constraints: {targets: []}` (a model run); passed next to the map.yaml
                # or constraints it stands for, the empty one gives way instead of being a conflict
                if not _is_empty_section(value):
                    sections[k] = (value, path, value)
            elif k in sections:
                out.add(
                    f"key {k!r} is given in both {sections[k][1]} and {path}",
                    path,
                    k,
                    "keep it in one file (Timeloop would silently use one of them)",
                    raw.key_lines.get(str(key)) if hasattr(raw, "key_lines") else None,
                )
            else:
                sections[k] = (value, path, value)
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
                    f"unknown key(s) {', '.join(bad)}; known keys: {', '.join(known)}",
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
                close = difflib.get_close_matches(t.name, all_names, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
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
            close = difflib.get_close_matches(d.target, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
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
