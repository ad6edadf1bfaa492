"""Jinja2 templating of spec files, as timeloopfe does for ``*.jinja2`` inputs.

timeloopfe (`Specification.from_yaml_files(..., jinja_parse_data=...)`, timeloopfe `common`)
renders a template with the caller's variables and these functions: ``cwd()`` (the template's
folder), ``add_to_path(path)`` (a folder searched by the functions below), ``path_exists(path)``,
``find_path(path)``, ``include(path, key)`` (the value at the dotted ``key`` of a YAML file),
``include_all(glob, key)`` (the values of every matching file, lists concatenated) and
``include_text(path)``. Here ``include`` leaves a placeholder in the rendered text that is replaced
by the included object after parsing, so the included YAML keeps its tags (``!Container``) and
line numbers.
"""

from __future__ import annotations

import glob as globmod
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..io import load_yaml, load_yaml_text
from .base import norm_key

_MARK = "__sparse_hw_include_{}__"


def is_template(path: Path) -> bool:
    return path.suffix in (".jinja", ".jinja2", ".j2") or ".jinja" in path.name


def _dig(data: Any, key: str | None, path: Path) -> Any:
    if not key:
        return data
    node = data
    for part in key.split("."):
        if isinstance(node, dict):
            match = next((k for k in node if k == part or norm_key(k) == norm_key(part)), None)
            if match is not None:
                node = node[match]
                continue
        raise SpecError(
            f"included file has no key {key!r}",
            file=path,
            fix=f"check the key given to include(); the file's top-level keys are "
            f"{', '.join(map(str, data)) if isinstance(data, dict) else '(none)'}",
        )
    return node


def render(path: Path, data: dict[str, Any] | None) -> Any:
    """Render a Jinja2 spec template and parse it; returns the parsed YAML with includes resolved."""
    import jinja2

    path = Path(path)
    search: list[Path] = [path.parent]
    included: dict[str, Any] = {}

    def resolve(p: str) -> Path:
        cand = Path(str(p))
        if cand.is_absolute():
            return cand
        for base in search:
            if (base / cand).exists():
                return base / cand
        return search[0] / cand

    def cwd() -> str:
        return str(path.parent)

    def add_to_path(p: str) -> str:
        search.append(Path(str(p)))
        return ""

    def path_exists(p: str) -> bool:
        return resolve(p).exists()

    def find_path(p: str) -> str:
        return str(resolve(p))

    def _placeholder(value: Any) -> str:
        token = _MARK.format(len(included))
        included[token] = value
        return token

    def include(p: str, key: str | None = None) -> str:
        target = resolve(p)
        return _placeholder(_dig(load_yaml(target), key, target))

    def include_all(pattern: str, key: str | None = None) -> str:
        files: list[Path] = []
        for base in search:
            files = sorted(Path(f) for f in globmod.glob(str(base / pattern)))
            if files:
                break
        if not files:
            raise SpecError(
                f"include_all({pattern!r}) matched no file",
                file=path,
                fix=f"check the pattern; searched {', '.join(map(str, search))}",
            )
        values: list[Any] = []
        merged: dict[str, Any] = {}
        for f in files:
            value = _dig(load_yaml(f), key, f)
            if isinstance(value, list):
                values.extend(value)
            elif isinstance(value, dict):
                merged.update(value)
            elif value is not None:
                values.append(value)
        return _placeholder(values if values or not merged else merged)

    def include_text(p: str) -> str:
        return resolve(p).read_text(encoding="utf-8")

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.globals.update(
        cwd=cwd,
        add_to_path=add_to_path,
        path_exists=path_exists,
        find_path=find_path,
        include=include,
        include_all=include_all,
        include_text=include_text,
    )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", file=path, fix="check the path") from None
    try:
        rendered = env.from_string(text).render(**(data or {}))
    except jinja2.UndefinedError as exc:
        raise SpecError(
            f"Jinja template variable problem: {exc.message}",
            file=path,
            fix="pass the variable, e.g. load_spec([...], jinja_data={'architecture': ...}) "
            "or `sparse-hw check --jinja architecture=...`",
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise SpecError(
            f"Jinja syntax error: {exc.message}",
            file=path,
            line=exc.lineno,
            fix="correct the template syntax",
        ) from None
    except SpecError:
        raise
    except Exception as exc:  # noqa: BLE001 - any template runtime failure is the user's input
        raise SpecError(f"Jinja template failed: {exc}", file=path, fix="correct the template") from None
    parsed = load_yaml_text(rendered, path)
    return _substitute(parsed, included)


def _substitute(node: Any, included: dict[str, Any]) -> Any:
    if isinstance(node, str) and node in included:
        return included[node]
    if isinstance(node, dict):
        for k in list(node):
            node[k] = _substitute(node[k], included)
        return node
    if isinstance(node, list):
        for i, v in enumerate(node):
            node[i] = _substitute(v, included)
        return node
    return node
