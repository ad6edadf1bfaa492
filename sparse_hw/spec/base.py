"""Shared machinery of the spec layer: the msgspec base model, key spelling, and error reporting.

Timeloop v3.0.3 looks keys up by their hyphenated names and silently ignores an underscore
spelling; Timeloop >= Feb 2024 and timeloopfe write underscores (reference README, "Pitfalls").
We accept both and use underscore names internally. Every model refuses unknown keys, and every
validation failure becomes a `Problem` naming the file, the key path, the line and the fix.

The models are ``msgspec.Struct`` classes (issue 15, item 14): msgspec builds a class in microseconds
and imports in a few milliseconds, where pydantic cost ~120 ms of every ``check``/``model``/``map``
process (its import, its plugin loader's ``importlib.metadata``, its class construction and its
validator building). msgspec checks types and bounds (``msgspec.convert``, lax: ``"8"`` reads as 8,
a boolean is never a number); what it cannot express runs here, in three steps per model:

1. `SpecModel.prepare`: the "before" step on the raw value, after keys are normalized (other
   spellings, legacy forms, a number for a mapping...), and `SpecModel.field_hooks` per present key;
2. nested models are built first, each with its own key path (`build`), so an error inside a list or a
   mapping of models names the exact item and key;
3. ``__post_init__``: the "after" checks across fields, on the built object.

A failure raises `Invalid` (kind, key path, message, value), which `problems_from_validation` turns into
`Problem`s. msgspec stops at the first error of a model; `build` then checks each field on its own, so all
of a file's problems are reported together.

The model modules (arch_nodes, constraints, mapping, problem, sparse, tables) do without ``from __future__
import annotations``: msgspec resolves string annotations with an ``eval`` each, ~300 of them at the first
validation of every process; only forward references are quoted there.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from ..errors import Problem
from .keys import norm_key, norm_word  # noqa: F401 - light (.keys); other modules import them from here


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


class Invalid(ValueError):
    """Validation failures: each a record of ``type`` (``extra_forbidden``, ``missing``, ``value_error``,
    ``int_type``...), the key path ``loc`` inside the validated object, ``msg``, and the offending value
    as ``input`` when known (pydantic's record shape, which `problems_from_validation` reads)."""

    def __init__(self, kind: str, loc: tuple[Any, ...], msg: str, value: Any = None, *,
                 has_value: bool = False) -> None:
        super().__init__(msg)
        self.records = [_record(kind, loc, msg, value, has_value=has_value)]

    @classmethod
    def of(cls, records: list[dict[str, Any]]) -> Invalid:
        """One exception carrying several failures."""
        exc = cls(records[0]["type"], records[0]["loc"], records[0]["msg"])
        exc.records = records
        return exc

    def errors(self) -> list[dict[str, Any]]:
        return self.records


def _record(kind: str, loc: tuple[Any, ...], msg: str, value: Any = None, *, has_value: bool = False) -> dict:
    """One failure in pydantic's record shape (``input`` only when the value is known)."""
    record: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg}
    if has_value:
        record["input"] = value
    return record


class SpecModel(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every spec object: unknown keys refused, both key spellings accepted, immutable.

    Subclasses say ``kw_only=True`` too (msgspec applies it per class), so required fields may follow
    defaulted ones. Build one from a file's mapping with `model_validate`: calling the class directly
    checks nothing (it is how the code makes objects from values it already validated)."""

    #: input spellings renamed before validation (after hyphen -> underscore)
    key_aliases: ClassVar[dict[str, str]] = {}
    #: per-key "before" steps, ``{key: function(value) -> value}``, run on keys the input has; a ValueError
    #: they raise is reported at that key
    field_hooks: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    @classmethod
    def prepare(cls, data: Any) -> Any:
        """The "before" step: ``data`` (keys already normalized when it is a mapping) as the model reads it.
        A ValueError it raises is reported at the model's own key path."""
        return data

    @classmethod
    def model_validate(cls, raw: Any) -> Any:
        """The model built from ``raw`` (a mapping as read from YAML); raises `Invalid`."""
        return build(cls, raw, ())

    @classmethod
    def known_keys(cls) -> list[str]:
        """The keys this object accepts (their file spelling: ``class`` rather than ``class_name``)."""
        reverse = {v: k for k, v in cls.key_aliases.items()}
        return [reverse.get(name, name) for name in cls.__struct_fields__]

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Any:
        """A copy with the fields in ``update`` replaced."""
        return msgspec.structs.replace(self, **(update or {}))

    def model_dump(self, *, exclude: Iterable[str] = (), exclude_none: bool = False, mode: str = "python") -> dict:
        """The fields as plain dicts and lists (nested models too); ``exclude``: top-level fields left out."""
        skip = set(exclude)
        out = _dump(self, exclude_none)
        return {k: v for k, v in out.items() if k not in skip}

    def model_dump_json(self) -> str:
        """`model_dump` as compact JSON (a stable text for hashing a definition)."""
        return json.dumps(self.model_dump(), separators=(",", ":"), ensure_ascii=False, default=str)


def _dump(value: Any, exclude_none: bool) -> Any:
    if isinstance(value, msgspec.Struct):
        out: dict[str, Any] = {}
        config = value.__struct_config__
        if config.tag_field is not None:
            out[config.tag_field] = config.tag
        for name in value.__struct_fields__:
            v = getattr(value, name)
            if v is None and exclude_none:
                continue
            out[name] = _dump(v, exclude_none)
        return out
    if isinstance(value, list):
        return [_dump(v, exclude_none) for v in value]
    if isinstance(value, tuple):
        return tuple(_dump(v, exclude_none) for v in value)
    if isinstance(value, dict):
        return {k: _dump(v, exclude_none) for k, v in value.items()}
    return value


# ------------------------------------------------------------------------------------- building
def build(cls: type[SpecModel], raw: Any, loc: tuple[Any, ...]) -> Any:
    """``raw`` validated as ``cls``; ``loc`` is where it sits inside the outermost object (for errors).

    Every failure of the model is reported (in field order), as far as its fields can be checked one by
    one: its keys', its nested models' and its unknown or missing keys. The checks across fields
    (``__post_init__``) run once every field is valid."""
    data = raw
    if isinstance(raw, Mapping):
        try:
            data = normalize_keys(raw, cls.key_aliases)
        except DuplicateKeyError as exc:
            raise Invalid("value_error", loc, f"{exc} [fix: keep one spelling]") from None
    try:
        data = cls.prepare(data)
    except Invalid:
        raise
    except (ValueError, TypeError) as exc:
        raise Invalid("value_error", loc, str(exc)) from None
    failed: dict[str, list[dict[str, Any]]] = {}
    if isinstance(data, dict):
        for name, hook in cls.field_hooks.items():
            if name in data:
                try:
                    data[name] = hook(data[name])
                except (ValueError, TypeError) as exc:
                    failed[name] = [_record("value_error", (*loc, name), str(exc), data[name], has_value=True)]
        for name, tp in _nested(cls):
            if name in data and name not in failed:
                try:
                    data[name] = _build_value(tp, data[name], (*loc, name))
                except Invalid as exc:
                    failed[name] = exc.records
    if not failed:
        try:
            return msgspec.convert(data, cls, strict=False)
        except msgspec.ValidationError as exc:
            first = _translate(str(exc), cls, data, loc)
            if not isinstance(data, dict):
                raise first from None
    raise Invalid.of(_every_failure(cls, data, loc, failed) or first.records) from None


def _every_failure(cls: type, data: dict[str, Any], loc: tuple[Any, ...],
                   failed: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each field of ``data`` checked on its own against ``cls`` (those in ``failed`` already were), then
    its unknown and missing keys: every failure a model has, not only msgspec's first."""
    records: list[dict[str, Any]] = []
    fields = _fields(cls)
    for f in fields:
        if f.name in failed:
            records.extend(failed[f.name])
        elif f.name in data and not isinstance(data[f.name], msgspec.Struct):
            try:
                msgspec.convert(data[f.name], f.type, strict=False)
            except msgspec.ValidationError as exc:
                records.extend(_translate(str(exc), f.type, data[f.name], (*loc, f.name)).records)
    names = {f.name for f in fields}
    tag = cls.__struct_config__.tag_field
    records.extend(_record("extra_forbidden", (*loc, k), "Extra inputs are not permitted")
                   for k in data if k not in names and k != tag)
    records.extend(_record("missing", (*loc, f.name), "Field required") for f in fields
                   if f.required and f.name not in data)
    return records


@functools.cache
def _fields(cls: type) -> tuple[msgspec.structs.FieldInfo, ...]:
    """``cls``'s fields with their resolved types (msgspec resolves them anew on every call)."""
    return msgspec.structs.fields(cls)


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """``{field name: its type}`` of ``cls``."""
    return {f.name: f.type for f in _fields(cls)}


@functools.cache
def _nested(cls: type) -> tuple[tuple[str, Any], ...]:
    """The fields of ``cls`` whose type holds a model somewhere (built before ``cls`` itself)."""
    return tuple((f.name, f.type) for f in _fields(cls) if _inner_model(f.type) is not None)


def _build_value(tp: Any, value: Any, loc: tuple[Any, ...]) -> Any:
    """``value`` with every model inside it built, for a field of type ``tp`` (every item of a list or a
    mapping is built, and all their failures reported together)."""
    if isinstance(value, msgspec.Struct):
        return value
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return build(tp, value, loc)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _build_value(args[0], value, loc)
    if origin is list and isinstance(value, list):
        return _each(((i, v) for i, v in enumerate(value)), args[0], loc, list)
    if origin is dict and isinstance(value, Mapping):
        return _each(value.items(), args[1], loc, dict)
    models = [a for a in args if isinstance(a, type) and issubclass(a, msgspec.Struct)]
    if not models or value is None:
        return value
    if len(models) == 1:
        other = [a for a in args if a is not models[0] and a is not type(None)]
        return value if other and not isinstance(value, Mapping) else build(models[0], value, loc)
    # a tagged union (the v0.4 node kinds): the model whose tag the value names
    if isinstance(value, Mapping):
        field = models[0].__struct_config__.tag_field
        for m in models:
            if value.get(field) == m.__struct_config__.tag:
                return build(m, value, loc)
        tags = [m.__struct_config__.tag for m in models]
        raise Invalid("literal_error", (*loc, field), "Input should be " + _or_list(tags), value.get(field),
                      has_value=True)
    return value


def _each(items: Iterable[tuple[Any, Any]], tp: Any, loc: tuple[Any, ...], kind: type) -> Any:
    """The items of a list or mapping built as ``tp``, or every failure among them."""
    out: dict[Any, Any] = {}
    records: list[dict[str, Any]] = []
    for key, v in items:
        try:
            out[key] = _build_value(tp, v, (*loc, key))
        except Invalid as exc:
            records.extend(exc.records)
    if records:
        raise Invalid.of(records)
    return list(out.values()) if kind is list else out


# ------------------------------------------------------------------------------------- msgspec's errors
_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_PART = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_TYPES = {
    "int": ("int_type", "Input should be a valid integer"),
    "float": ("float_type", "Input should be a valid number"),
    "str": ("string_type", "Input should be a valid string"),
    "bool": ("bool_type", "Input should be a valid boolean"),
    "array": ("list_type", "Input should be a valid list"),
    "object": ("dict_type", "Input should be a mapping of keys to values"),
    "null": ("none_required", "Input should be empty (null)"),
}
_BOUNDS = {">=": ("greater_than_equal", "greater than or equal to"), ">": ("greater_than", "greater than"),
           "<=": ("less_than_equal", "less than or equal to"), "<": ("less_than", "less than")}


def _translate(text: str, cls: Any, data: Any, loc: tuple[Any, ...]) -> Invalid:
    """msgspec's message (``Expected `int` >= 1 - at `$.spatial.meshX` ``) about ``data`` converted to the
    type ``cls``, as an `Invalid` with its key path."""
    m = _AT.match(text)
    msg, path = (m.group("msg"), m.group("path") or "") if m else (text, "")
    rel: list[Any] = []
    node = data
    for key, index in _PART.findall(path):
        if key:
            rel.append(key)
            node = node.get(key) if isinstance(node, Mapping) else getattr(node, key, None)
        elif index == "...":  # a mapping's value: msgspec does not name the key; find the one that fails
            bad = _failing_key(cls, rel, node)
            if bad is None:  # no value fails: a key does (`1:` where text is wanted); the mapping is named
                return _key_not_text((*loc, *rel), node)
            rel.append(bad)
            node = node.get(bad) if isinstance(node, Mapping) else None
        else:
            rel.append(int(index))
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
    where = (*loc, *rel)
    if msg.startswith("Object contains unknown field `"):
        return Invalid("extra_forbidden", (*where, msg.split("`")[1]), "Extra inputs are not permitted")
    if msg.startswith("Object missing required field `"):
        return Invalid("missing", (*where, msg.split("`")[1]), "Field required")
    if msg.startswith("Expected `"):
        return _expected(msg, where, node, cls, rel)
    if msg.startswith(("Invalid enum value", "Invalid value")):
        allowed = _literal_values(cls, rel) or _tags(cls, rel[:-1])
        text = ("Input should be " + _or_list(allowed)) if allowed else "Input is not an allowed value"
        return Invalid("literal_error", where, text, node, has_value=True)
    if msg.startswith("Integer value out of range"):
        return Invalid("int_too_big", where, "Input is larger than a 64-bit integer", node, has_value=True)
    return Invalid("value_error", where, msg)  # a ValueError of ``__post_init__``: the model's own message


def _expected(msg: str, where: tuple[Any, ...], node: Any, cls: type, rel: list[Any]) -> Invalid:
    body = msg[len("Expected `"):]
    wanted, _, rest = body.partition("`")
    kinds = [w.strip() for w in wanted.split("|") if w.strip() != "null"] or ["null"]
    if isinstance(node, bool) and set(kinds) & {"int", "float"}:
        word = str(node).lower()
        return Invalid("value_error", where, f"{word} is a boolean, not a number [fix: give a number]")
    bound = re.match(r"\s*(>=|<=|>|<)\s*(\S+)", rest)
    if bound:
        if isinstance(node, float) and not math.isfinite(node):
            return Invalid("finite_number", where, "Input should be a finite number", node, has_value=True)
        kind, words = _BOUNDS[bound.group(1)]
        limit = bound.group(2).removesuffix(".0")
        return Invalid(kind, where, f"Input should be {words} {limit}", node, has_value=True)
    if kinds == ["str"] and isinstance(node, Mapping):  # a mapping's key that is no text (`1: 5`)
        return _key_not_text(where, node)
    kind, text = _TYPES.get(kinds[0], ("type_error", f"Input should be of type {wanted}"))
    if kinds[0] == "str" and len(kinds) == 1:
        allowed = _literal_values(cls, rel)
        if allowed:
            return Invalid("literal_error", where, "Input should be " + _or_list(allowed), node, has_value=True)
    return Invalid(kind, where, text, node, has_value=True)


def _key_not_text(where: tuple[Any, ...], node: Any) -> Invalid:
    """A mapping with a key that is no text (``1: 5`` where names are wanted)."""
    keys = [k for k in node if not isinstance(k, str)] if isinstance(node, Mapping) else [None]
    return Invalid("string_type", where, "every key should be text", keys[0] if keys else None, has_value=True)


def _or_list(values: list[Any]) -> str:
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def _field_type(cls: type, rel: list[Any]) -> Any:
    """The declared type at the key path ``rel`` inside ``cls`` (None when the path leaves the models)."""
    tp: Any = cls
    for part in rel:
        tp = _strip(tp)
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            if isinstance(part, int):
                return None
            fields = _field_types(tp)
            if part not in fields:
                return None
            tp = fields[part]
            continue
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is list and isinstance(part, int):
            tp = args[0]
        elif origin is dict:
            tp = args[1]
        else:
            return None
    return tp


def _strip(tp: Any) -> Any:
    """``tp`` without Annotated and without None in a union."""
    while True:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Annotated:
            tp = args[0]
            continue
        real = [a for a in args if a is not type(None)]
        if origin in (typing.Union, types.UnionType) and len(real) == 1:
            tp = real[0]
            continue
        return tp


def _literal_values(cls: type, rel: list[Any]) -> list[Any]:
    tp = _strip(_field_type(cls, rel))
    return list(typing.get_args(tp)) if typing.get_origin(tp) is typing.Literal else []


def _tags(cls: type, rel: list[Any]) -> list[Any]:
    """The tags of the tagged models a union at ``rel`` takes (``!Component``, ``!Container``...)."""
    tp = _strip(_field_type(cls, rel)) if rel else None
    return [a.__struct_config__.tag for a in typing.get_args(tp)
            if isinstance(a, type) and issubclass(a, msgspec.Struct) and a.__struct_config__.tag is not None]


def _failing_key(cls: type, rel: list[Any], node: Any) -> Any:
    """The key of the mapping ``node`` (the field at ``rel``) whose value does not convert, or None."""
    tp = _strip(_field_type(cls, rel))
    args = typing.get_args(tp)
    if not isinstance(node, Mapping) or len(args) != 2:
        return None
    for key, value in node.items():
        try:
            msgspec.convert(value, args[1], strict=False)
        except msgspec.ValidationError:
            return key
    return None


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


def _file_loc(model: type | None, raw: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
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


def _model_at(model: type, loc: tuple[Any, ...]) -> type | None:
    """The model class that owns the last element of ``loc``."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, msgspec.Struct)):
            return None
        fields = _field_types(current)
        if part not in fields:
            return None
        current = _inner_model(fields[part])
    return current if isinstance(current, type) and issubclass(current, msgspec.Struct) else None


def _inner_model(annotation: Any) -> Any:
    """The first model class inside a type (``list[Rank] | None`` -> ``Rank``), or None."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problems_from_validation(
    exc: Invalid,
    model: type,
    raw: Any,
    *,
    file: str | Path | None,
    base: str,
    rewrite: Any = None,
) -> list[Problem]:
    """Translate an `Invalid` into Problems with key paths, lines and fixes.

    ``rewrite`` maps a model location to where the key sits in the file (e.g. densities, which
    the file keeps under ``instance``).
    """
    out: list[Problem] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
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
    model: type,
    raw: Any,
    *,
    file: str | Path | None,
    base: str,
    problems: list[Problem],
    rewrite: Any = None,
) -> Any:
    """Validate ``raw`` as ``model``; on failure add the problems and return None."""
    try:
        return model.model_validate(raw)
    except Invalid as exc:
        problems.extend(problems_from_validation(exc, model, raw, file=file, base=base, rewrite=rewrite))
        return None
