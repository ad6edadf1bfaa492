"""A direct call of ``check``/``model``/``map`` for a plain command line, without typer's parser.

typer (>= 0.2x) coerces every parameter through a pydantic ``TypeAdapter`` that it builds on each call:
~40-70 ms of CPU per process for these commands, more than their own work on a small input, and it
imports pydantic before the command has read anything (issue 15, item 14). This module reads the same
``typer.Option``/``typer.Argument`` declarations -- as the command module's ``FAST_PARAMS`` list them, so
that typer itself (~30 ms of imports) is not imported either; tests/cli/test_fast_dispatch.py checks the
list against the declarations -- and, for a command line it understands completely (known options, values
whose conversion is unambiguous, no ``--help``), calls the command's function (``handle_errors`` around
the module's ``run``, as typer's command is) with exactly the values typer would pass. Anything else --
help, an unknown or malformed option, a value typer would refuse, a missing argument -- returns None and
the caller runs typer, so every message and exit code stays typer's own (tests/cli/test_fast_dispatch.py
compares both paths).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: commands whose parameters this module may parse (each is checked again against what it supports)
FAST_COMMANDS = ("check", "model", "map")

_INT = re.compile(r"[0-9]{1,18}")
_FLOAT = re.compile(r"[0-9]{1,15}(\.[0-9]{1,15})?")

# annotation -> (kind, converter); the converter returns None where typer's result is not certain
_SCALARS: dict[Any, Callable[[str], Any]] = {
    str: lambda v: v,
    int: lambda v: int(v) if _INT.fullmatch(v) else None,
    float: lambda v: float(v) if _FLOAT.fullmatch(v) else None,
    Path: lambda v: _path(v),
}


def _path(value: str) -> Path | None:
    """``Path(value)`` as typer makes it; None where typer would check more (an unreadable file: its error)."""
    if not value or value.startswith("-"):
        return None
    try:
        os.stat(value)
    except OSError:
        return Path(value)  # typer checks nothing more of a path that does not exist (exists=False)
    return Path(value) if os.access(value, os.R_OK) else None


class _Param:
    """One parameter of a command: its name, how to convert a value, and its option spellings."""

    @classmethod
    def from_typer(cls, name: str, annotation: Any, info: Any) -> _Param:
        """The parameter as a ``typer.Option``/``typer.Argument`` declaration ``info`` declares it."""
        from typer.models import ArgumentInfo, OptionInfo

        is_argument = isinstance(info, ArgumentInfo)
        if not (is_argument or isinstance(info, OptionInfo)):
            raise _Unsupported(name)
        untouched = (info.callback, info.envvar, info.parser, info.default_factory, info.autocompletion,
                     info.shell_complete, info.max, info.path_type)
        if any(x is not None for x in untouched) or info.is_eager or not info.expose_value or info.clamp \
                or info.exists or info.resolve_path or info.allow_dash or info.writable \
                or not (info.file_okay and info.dir_okay and info.readable):
            raise _Unsupported(name)
        if not is_argument and (info.prompt or info.count or info.confirmation_prompt):
            raise _Unsupported(name)
        decls = list(info.param_decls or ())
        if is_argument and decls:
            raise _Unsupported(name)
        return cls(name, annotation, tuple(decls), info.default, info.min, is_argument=is_argument)

    def __init__(self, name: str, annotation: Any, decls: tuple[str, ...], default: Any, minimum: Any,
                 *, is_argument: bool | None = None) -> None:
        """A parameter from plain values (a command's ``FAST_PARAMS``: no option names = an argument)."""
        self.name = name
        self.is_argument = not decls if is_argument is None else is_argument
        self.is_list = getattr(annotation, "__origin__", None) is list
        base = annotation.__args__[0] if self.is_list else annotation
        optional = False
        if getattr(base, "__args__", None) and type(None) in base.__args__ and len(base.__args__) == 2:
            base = next(a for a in base.__args__ if a is not type(None))
            optional = True
        self.is_flag = base is bool and not self.is_list
        if self.is_flag:
            if self.is_argument or default is not False or optional:
                raise _Unsupported(name)
        elif base not in _SCALARS:
            raise _Unsupported(name)
        self.convert = _SCALARS.get(base)
        self.minimum = minimum
        self.default = default
        self.required = self.default is ...
        decls = list(decls)
        if not self.is_argument and (not decls or any("/" in d or not d.startswith("-") or d.startswith("---")
                                                      for d in decls)):
            raise _Unsupported(name)
        self.decls = decls

    def key(self) -> tuple:
        """Everything parsing reads of this parameter (two declarations parse alike iff equal)."""
        return (self.name, self.is_argument, self.is_list, self.is_flag, self.convert, self.minimum,
                self.default, self.required, tuple(self.decls))

    def value(self, text: str) -> Any:
        """The converted value, or raise _Unsupported where typer's result is not certain."""
        got = self.convert(text)
        if got is None or (self.minimum is not None and got < self.minimum):
            raise _Unsupported(self.name)
        return got


class _Unsupported(Exception):
    """This command line is left to typer."""


class _Recorder:
    """Stands in for the typer group: keeps the functions that ``register`` decorates."""

    def __init__(self) -> None:
        self.functions: dict[str, Callable[..., Any]] = {}

    def command(self, name: str, **_: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def keep(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.functions[name] = fn
            return fn

        return keep


def command_function(module: Any, name: str) -> Callable[..., Any]:
    """The function that ``module.register`` declares as command ``name`` (what typer would call)."""
    recorder = _Recorder()
    module.register(recorder)
    return recorder.functions[name]


def typer_params(fn: Callable[..., Any]) -> list[_Param]:
    """The parameters of a typer command function, as its declarations give them."""
    import inspect

    return [_Param.from_typer(p.name, p.annotation, p.default)
            for p in inspect.signature(fn, eval_str=True).parameters.values()]


def static_params(module: Any) -> list[_Param]:
    """The parameters a command module lists in ``FAST_PARAMS`` (its declarations, read without typer)."""
    return [_Param(name, annotation, decls, default, minimum)
            for name, annotation, decls, default, minimum in module.FAST_PARAMS]


def parse(fn: Callable[..., Any], args: list[str]) -> dict[str, Any]:
    """The keyword arguments typer would call ``fn`` with for ``args``; _Unsupported where unsure."""
    return parse_params(typer_params(fn), args)


def parse_params(params: list[_Param], args: list[str]) -> dict[str, Any]:
    """The keyword arguments typer would pass for ``args`` to a command with ``params``; _Unsupported
    where unsure."""
    by_decl = {d: p for p in params if not p.is_argument for d in p.decls}
    positional = [p for p in params if p.is_argument]
    values: dict[str, Any] = {}
    words: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if not token.startswith("-"):
            words.append(token)
            continue
        name, eq, inline = token.partition("=")
        param = by_decl.get(name)
        if param is None or (param.is_flag and eq):
            raise _Unsupported(token)  # --help, an unknown option, `--` ...: typer's to handle
        if param.is_flag:
            value: Any = True
        else:
            if not eq:
                if i >= len(args) or args[i].startswith("-"):
                    raise _Unsupported(token)
                inline = args[i]
                i += 1
            value = param.value(inline)
        if param.is_list:
            values.setdefault(param.name, []).append(value)
        elif param.name in values:
            raise _Unsupported(token)  # given twice: typer's rule, typer's path
        else:
            values[param.name] = value
    for param in positional:
        if param.is_list:
            taken, words = words, []
        elif words:
            taken, words = [words[0]], words[1:]
        else:
            taken = []
        if not taken:
            if param.required:
                raise _Unsupported(param.name)
            continue
        converted = [param.value(w) for w in taken]
        values[param.name] = converted if param.is_list else converted[0]
    if words:
        raise _Unsupported(words[0])
    for param in params:
        if param.name not in values:
            if param.required:
                raise _Unsupported(param.name)
            default = param.default
            values[param.name] = list(default) if param.is_list else default
    return values


def call(argv: list[str], root: Callable[..., None]) -> int | None:
    """Run ``argv`` (``[--debug] COMMAND ...``) directly and return its exit code; None: run typer."""
    debug = False
    args = list(argv)
    if args and args[0] == "--debug":
        debug, args = True, args[1:]
    if not args or args[0] not in FAST_COMMANDS:
        return None
    import importlib

    from ._common import handle_errors, typer_control_flow

    module = importlib.import_module(f"{__package__}.{args[0]}")
    try:
        kwargs = parse_params(static_params(module), args[1:])
    except _Unsupported:
        return None
    root(debug=debug, version=False)
    try:
        handle_errors(module.run)(**kwargs)  # what typer calls: the command is handle_errors(its `run`)
    except typer_control_flow() as exc:  # only once something imported typer: an error, a prompt
        if isinstance(exc, sys.modules["typer"].Exit):
            return exc.exit_code
        print("Aborted!", file=sys.stderr)  # typer.Abort, as click's standalone mode reports it
        return 1
    return 0
