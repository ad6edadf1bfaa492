"""Shared machinery of the spec layer: the pydantic base model, key spelling, and error reporting.

Timeloop v3.0.3 looks keys up by their hyphenated names and silently ignores an underscore
spelling; Timeloop >= Feb 2024 and timeloopfe write underscores (reference README, "Pitfalls").
We accept both and use underscore names internally. Every model refuses unknown keys, and every
validation failure becomes a `Problem` naming the file, the key path, the line and the fix.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from ..errors import Problem
from .keys import norm_key, norm_word  # noqa: F401 - pydantic-free (.keys); other modules import them from here


def new_list() -> list[Any]:
    """A new empty list: the default factory of the models' list fields. pydantic inspects a default
    factory's signature when it builds a validator; for the builtin ``list`` that means parsing its text
    signature (~0.3-0.6 ms each, ~17 times in a ``map`` of a reference case), for a Python function
    microseconds (issue 15, item 14). Each instance gets its own list either way."""
    return []


class DuplicateKeyError(ValueError):
    """Two spellings of one key (`data-spaces` and `data_spaces`) in the same mapping."""


def normalize_keys(raw: Mapping[str, Any], aliases: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Copy of ``raw`` with underscore keys; ``aliases`` renames keys (``class`` -> ``class_name``)."""
    out: dict[str, Any] = {}
    seen: dict[str, Any] = {}
    for key, value in raw.items():
        new = norm_key(key)
        if aliases and new in aliases:
            new = aliases[new]
        if new in out:
            raise DuplicateKeyError(f"key {key!r} is given twice (as {seen[new]!r} and {key!r})")
        out[new] = value
        seen[new] = key
    return out


class SpecModel(BaseModel):
    """Base of every spec object: unknown keys refused, both key spellings accepted, immutable."""

    # defer_build: a model's validator is built when it first validates, not at import. Building all ~40
    # at import cost ~30 ms of CPU in every process that imports the spec layer, for many models that a
    # command never validates (issue 15, item 14). Messages are the same either way
    # (tests/packaging/test_light_imports.py).
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    #: input spellings renamed before validation (after hyphen -> underscore)
    key_aliases: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _normalize_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return normalize_keys(data, cls.key_aliases)
        return data

    @classmethod
    def known_keys(cls) -> list[str]:
        """The keys this object accepts (their file spelling: ``class`` rather than ``class_name``)."""
        reverse = {v: k for k, v in cls.key_aliases.items()}
        return [reverse.get(name, name) for name in cls.model_fields]


# ------------------------------------------------------------------------------------- errors
def join_path(base: str, loc: Iterable[Any]) -> str:
    """Key path text: ``problem`` + ('shape', 'data_spaces', 0) -> ``problem.shape.data_spaces[0]``."""
    path = base
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def line_of(raw: Any, loc: Iterable[Any]) -> int | None:
    """Line of the deepest node of ``loc`` found in the raw YAML (YamlMap/YamlList carry lines)."""
    node = raw
    line = getattr(raw, "line", None)
    for part in loc:
        if isinstance(node, Mapping):
            key = _raw_key(node, part)
            if key is None:
                break
            kl = getattr(node, "key_lines", {}).get(str(key))
            line = kl or line
            node = node[key]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            break
        line = getattr(node, "line", None) or line
    return line


def _node_at(raw: Any, loc: tuple[Any, ...]) -> Any:
    """The raw YAML node at ``loc`` (keys as the file spells them), None when it is not there."""
    node = raw
    for part in loc:
        found = (isinstance(node, Mapping) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node))
        if not found:
            return None
        node = node[part]
    return node


def _spelling(raw: Any, loc: tuple[Any, ...]) -> Any:
    """The key as the file spells it (``read-only`` for the internal ``read_only``)."""
    node = raw
    for part in loc[:-1]:
        if isinstance(node, Mapping):
            key = _raw_key(node, part)
            if key is None:
                return loc[-1]
            node = node[key]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return loc[-1]
    if isinstance(node, Mapping):
        key = _raw_key(node, loc[-1])
        if key is not None:
            return key
    return loc[-1]


def _file_loc(model: type[BaseModel] | None, raw: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``loc`` with every key as the user's file spells it: ``class`` for the field ``class_name``,
    ``data-spaces`` for ``data_spaces`` in a v0.3 file (a key the file lacks takes its mapping's style:
    hyphens when a sibling key has one), so an error names the key the user wrote."""
    out: list[Any] = []
    node = raw
    for i, part in enumerate(loc):
        if isinstance(part, int) or not isinstance(part, str):
            out.append(part)
            node = node[part] if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node) else None
            continue
        owner = _model_at(model, loc[: i + 1]) if model is not None else None
        reverse = {v: k for k, v in getattr(owner, "key_aliases", {}).items()}
        key = None
        if isinstance(node, Mapping):
            key = _raw_key(node, part)
            if key is None and part in reverse:
                key = _raw_key(node, reverse[part])
        if key is not None:
            out.append(key)
            node = node[key]
            continue
        out.append(_styled(reverse.get(part, part), node))
        node = None
    return tuple(out)


def _styled(name: str, node: Any) -> str:
    """``name`` with hyphens when the mapping ``node`` spells its keys with hyphens (v0.3 files)."""
    if isinstance(node, Mapping) and any("-" in str(k) for k in node):
        return name.replace("_", "-")
    return name


def _raw_key(node: Mapping[str, Any], part: Any) -> Any:
    if part in node:
        return part
    for key in node:
        if norm_key(key) == part:
            return key
    return None


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the last element of ``loc``."""
    import typing

    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _inner_model(field.annotation, typing)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any, typing: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg, typing)
        if found is not None:
            return found
    return None


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problems_from_validation(
    exc: ValidationError,
    model: type[BaseModel],
    raw: Any,
    *,
    file: str | Path | None,
    base: str,
    rewrite: Any = None,
) -> list[Problem]:
    """Translate a pydantic ValidationError into Problems with key paths, lines and fixes.

    ``rewrite`` maps a model location to where the key sits in the file (e.g. densities, which
    the file keeps under ``instance``).
    """
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(
            p
            for p in err["loc"]
            if not (isinstance(p, str) and ("[" in p or p.startswith(("function-", "!"))))
        )
        model_loc = loc
        if rewrite is not None:
            loc = rewrite(loc)
        # the keys as the file spells them (a rewritten location no longer follows the model)
        loc = _file_loc(model if loc == model_loc else None, raw, loc)
        kind = err["type"]
        line = line_of(raw, loc)
        fname = None if file is None else str(file)
        if kind == "extra_forbidden":
            owner = _model_at(model, model_loc)
            known = owner.known_keys() if owner is not None and issubclass(owner, SpecModel) else []
            bad = str(_spelling(raw, loc)) if loc else "?"
            parent = _node_at(raw, loc[:-1])
            if "-" in bad or (isinstance(parent, Mapping) and any("-" in str(k) for k in parent)):
                known = [k.replace("_", "-") for k in known]  # the v0.3 file's own style
            close = difflib.get_close_matches(bad, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            out.append(
                Problem(
                    f"unknown key {bad!r}.{hint} Known keys: {', '.join(known)}",
                    fname,
                    join_path(base, loc),
                    f"remove {bad!r} or use one of: {', '.join(known)}",
                    line,
                )
            )
        elif kind == "missing":
            out.append(Problem("required key is missing", fname, join_path(base, loc), "add it", line))
        else:
            msg = err["msg"]
            msg = msg.removeprefix("Value error, ")
            got = err.get("input")
            fix = _fix_for(kind)
            if " [fix: " in msg and msg.endswith("]"):
                msg, fix = msg[:-1].split(" [fix: ", 1)
            if " [at: " in msg and msg.endswith("]"):  # a key below the validated object (`fix_note`)
                msg, at = msg[:-1].split(" [at: ", 1)
                loc = _file_loc(model, raw, (*model_loc, *json.loads(at)))
                line = line_of(raw, loc) or line
            text = f"{msg} (got {_describe(got)})" if kind not in ("value_error", "assertion_error") else msg
            out.append(Problem(text, fname, join_path(base, loc), fix, line))
    return out


def fix_note(message: str, fix: str, at: tuple[str | int, ...] = ()) -> str:
    """A validator message carrying its fix (split again by `problems_from_validation`); ``at``: the key
    below the validated object that the message is about (``("instance", "Hstride")``), for its key path."""
    where = f" [at: {json.dumps(list(at))}]" if at else ""
    return f"{message}{where} [fix: {fix}]"


def _fix_for(kind: str) -> str:
    if kind.startswith("int"):
        return "give a whole number"
    if kind.startswith(("float", "greater", "less")):
        return "give a number in the allowed range"
    if kind.startswith("bool"):
        return "give true or false"
    if kind.startswith("string"):
        return "give a text value"
    if kind in ("list_type", "tuple_type"):
        return "give a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "give a mapping of keys to values"
    if kind == "literal_error":
        return "use one of the allowed values"
    return "correct the value"


def validate_model(
    model: type[BaseModel],
    raw: Any,
    *,
    file: str | Path | None,
    base: str,
    problems: list[Problem],
    context: dict[str, Any] | None = None,
    rewrite: Any = None,
) -> Any:
    """Validate ``raw`` as ``model``; on failure add the problems and return None."""
    try:
        return model.model_validate(raw, context=context)
    except ValidationError as exc:
        problems.extend(problems_from_validation(exc, model, raw, file=file, base=base, rewrite=rewrite))
        return None
    except DuplicateKeyError as exc:
        problems.append(
            Problem(
                str(exc),
                None if file is None else str(file),
                base,
                "keep one spelling",
                getattr(raw, "line", None),
            )
        )
        return None
