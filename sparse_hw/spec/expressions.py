"""Safe evaluation of attribute expressions (timeloopfe v0.4 `parse_expressions`, Timeloop `variables`).

timeloopfe evaluates every string attribute as a Python expression over the global
``variables``, the parent containers' attributes and the node's own attributes; a string that is
not an expression (``45nm``, ``must_specify``, ``LPDDR4``) stays a string. Timeloop v3.0.3
(`CompoundConfigNode::lookupValue` in src/compound-config/compound-config.cpp) resolves a
non-numeric attribute through the top-level ``variables`` key the same way. We evaluate with a
whitelist of AST nodes and math functions, no calls to anything else. Attribute access works only
on a `Namespace` the caller builds from plain data (timeloopfe lets constraints say
``split: len(spec.problem.instance)``), and indexing only on plain lists and mappings.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Mapping
from typing import Any

FUNCTIONS: dict[str, Any] = {
    "ceil": math.ceil,
    "floor": math.floor,
    "log": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "max": max,
    "min": min,
    "abs": abs,
    "round": round,
    "int": int,
    "float": float,
    "pow": pow,
    "sum": sum,
    "len": len,
    "str": str,
    "bool": bool,
}
CONSTANTS: dict[str, Any] = {
    "pi": math.pi,
    "e": math.e,
    "True": True,
    "False": False,
    "None": None,
    "true": True,
    "false": False,
}

_BIN = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_CMP = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


class ExpressionError(ValueError):
    """An expression that looks like one but cannot be evaluated (unknown name, bad operation)."""


class Namespace:
    """Read-only named fields an expression may reach with ``.`` (e.g. ``spec.problem.instance``).

    Only the fields given here exist; nothing of Python's object model (no dunder, no methods) is
    reachable, so an expression cannot escape to arbitrary code.
    """

    __slots__ = ("_fields", "_name")

    def __init__(self, name: str, **fields: Any) -> None:
        self._name = name
        self._fields = dict(fields)

    def get(self, attr: str) -> Any:
        if attr not in self._fields:
            known = ", ".join(sorted(self._fields)) or "none"
            raise ExpressionError(f"{self._name} has no field {attr!r} (fields: {known})")
        return self._fields[attr]

    def __repr__(self) -> str:
        return f"<{self._name}>"


def _eval(node: ast.AST, names: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body, names)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise ExpressionError(f"unknown name {node.id!r}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        left, right = _eval(node.left, names), _eval(node.right, names)
        if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > 64:
            raise ExpressionError("exponent too large")
        return _BIN[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand, names))
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, names) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare) and all(type(op) in _CMP for op in node.ops):
        left = _eval(node.left, names)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, names)
            if not _CMP[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body, names) if _eval(node.test, names) else _eval(node.orelse, names)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in FUNCTIONS
        and not node.keywords
    ):
        return FUNCTIONS[node.func.id](*[_eval(a, names) for a in node.args])
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, names) for e in node.elts]
    if isinstance(node, ast.Attribute):
        base = _eval(node.value, names)
        if not isinstance(base, Namespace):
            raise ExpressionError(f"attribute access .{node.attr} is only allowed on spec fields")
        return base.get(node.attr)
    if isinstance(node, ast.Subscript):
        base = _eval(node.value, names)
        key = _eval(node.slice, names)
        if not isinstance(base, (list, tuple, dict, str)) or isinstance(key, (list, dict)):
            raise ExpressionError("indexing is only allowed on lists and mappings")
        try:
            return base[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise ExpressionError(f"cannot index with {key!r}: {exc}") from None
    raise ExpressionError(f"unsupported expression element {type(node).__name__}")


def evaluate(value: Any, names: Mapping[str, Any]) -> Any:
    """Evaluate a string attribute; non-strings and plain words are returned unchanged.

    Raises:
        ExpressionError: the string is an expression (operators, calls) naming something unknown.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return value
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return value  # "45nm", "SET ME": a plain string
    body = tree.body
    if isinstance(body, ast.Name):
        if body.id in names:
            return names[body.id]
        return value  # a word such as must_specify / LPDDR4 / DRAM
    if isinstance(body, ast.Constant):
        return body.value
    if isinstance(body, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
        return value
    if isinstance(body, (ast.Attribute, ast.Subscript)) and not _reaches_namespace(body, names):
        return value  # "a.b" with no spec field behind it: a plain string, as before
    result = _eval(tree, names)
    if isinstance(result, float) and result.is_integer() and not _has_float(tree):
        return int(result)
    return result


def _reaches_namespace(node: ast.AST, names: Mapping[str, Any]) -> bool:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return isinstance(node, ast.Name) and isinstance(names.get(node.id), Namespace)


def _has_float(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            return True
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return True
    return False


def evaluate_attributes(
    attrs: Mapping[str, Any], outer: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Evaluate every attribute of one node.

    A name resolves to a sibling attribute (evaluated on demand, any order), else to ``outer``
    (parent attributes, then variables); inside attribute ``k`` the name ``k`` itself means the
    outer value (``technology: technology``). Returns the attributes and one message per failure.
    """
    out: dict[str, Any] = {}
    busy: set[str] = set()
    errors: list[str] = []

    class _Scope(Mapping):
        def __init__(self, own: str) -> None:
            self.own = own

        def __getitem__(self, name: str) -> Any:
            if name in attrs and name != self.own:
                return resolve(name)
            return outer[name]

        def __contains__(self, name: object) -> bool:
            return (name in attrs and name != self.own) or name in outer

        def __iter__(self):
            return iter(set(attrs) | set(outer))

        def __len__(self) -> int:
            return len(set(attrs) | set(outer))

    def resolve(key: str) -> Any:
        if key in out:
            return out[key]
        if key in busy:
            raise ExpressionError(f"circular reference through {key!r}")
        busy.add(key)
        try:
            value = evaluate(attrs[key], _Scope(key))
        finally:
            busy.discard(key)
        out[key] = value
        return value

    for key in attrs:
        try:
            resolve(key)
        except (ExpressionError, ArithmeticError, TypeError, ValueError) as exc:
            errors.append(f"{key}: {attrs[key]!r}: {exc}")
            out[key] = attrs[key]
    return out, errors
