"""`load_spec`: read input files, merge them the way Timeloop does, validate, report every problem.

Timeloop v3.0.3 (`config::CompoundConfig`, src/compound-config/compound-config.cpp) concatenates
its input files and reads the top-level keys of the result, so every file adds keys. We merge
the same way but refuse a key given in two files (naming both) instead of letting one win
silently, except ``compound_components`` (Accelergy's classes from several files merge).
This module reads and merges; `validate` turns the merged sections into a `Spec`.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Problem, SpecError
from ..io import load_yaml_text
from ..safe_yaml import load as bounded_load
from ..safe_yaml import read_input_bytes
from .jinja import has_jinja, is_template, render
from .jinja import include_roots as _include_roots
from .keys import norm_key

if TYPE_CHECKING:
    from .spec import Spec

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
    # the models (msgspec) are imported once the inputs are read: a command begins its work, and a
    # file that cannot be read or parsed is reported, without paying for them first (issue 15, item 14)
    from .validate import validate

    return validate(files, sections, libraries, out)


