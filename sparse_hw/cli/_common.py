"""What every CLI command shares: consoles, the --debug state and the error-to-exit-code mapping."""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import EXIT_CODE_INPUT, EXIT_CODE_INTERNAL, ConfigError, SparseHwError


class _LazyConsole:
    """A rich ``Console`` built on first use: importing rich costs start-up time (issue 15, item 14) that
    ``check --json``, ``map --json`` and every error-free run without a table never need."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._console: Any = None

    def _real(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._kwargs)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    # rich's Live/Progress use the console as a context manager (looked up on the type, not delegated)
    def __enter__(self) -> Any:
        return self._real().__enter__()

    def __exit__(self, *exc: object) -> None:
        self._real().__exit__(*exc)


# emoji=False: a ``:x:`` in a user's path must print as typed; user text is printed with markup=False
console: Any = _LazyConsole(emoji=False)
err_console: Any = _LazyConsole(stderr=True, emoji=False)

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    debug: bool = False


state = _State()


def configure_logging(debug: bool) -> None:
    """Only the CLI configures logging (library code just logs)."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _environment_errors_as_input(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``func``; a full disk, read-only folder, too-long name or symlink loop becomes a SparseHwError
    (exit 2, naming the path and a fix): the environment, not a bug."""
    from ._oserror import environment_error

    try:
        return func(*args, **kwargs)
    except Exception as exc:
        user = environment_error(exc)
        if user is None:
            raise
        raise user from exc


def handle_errors(func: F) -> F:
    """Map SparseHwError to exit code 2 with one clear message, anything else to exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return _environment_errors_as_input(func, *args, **kwargs)
        except typer_control_flow():
            raise
        except SparseHwError as exc:
            if state.debug:
                err_console.print(traceback.format_exc(), markup=False, highlight=False)
            err_console.print(f"error: {exc.render()}", markup=False, highlight=False, soft_wrap=True)
            raise _typer().Exit(getattr(exc, "exit_code", EXIT_CODE_INPUT)) from None
        except KeyboardInterrupt:
            err_console.print("interrupted", markup=False)
            raise _typer().Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - the top of the program
            if state.debug:
                err_console.print(traceback.format_exc(), markup=False, highlight=False)
            err_console.print(
                f"internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug in sparse-hw; rerun with --debug for the traceback.",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            raise _typer().Exit(EXIT_CODE_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def _typer() -> Any:
    """typer, imported when first needed: a plain `check`/`model`/`map` run (``_fast``) never needs it,
    and importing it costs ~30 ms of every start (issue 15, item 14)."""
    import typer

    return typer


def typer_control_flow() -> tuple[type[BaseException], ...]:
    """``(typer.Exit, typer.Abort)`` once typer is imported; nothing can have raised them before."""
    typer = sys.modules.get("typer")
    return (typer.Exit, typer.Abort) if typer is not None else ()


def echo(text: str) -> None:
    """``typer.echo(text)`` without importing typer, for the ``--json`` outputs: click's echo writes the
    text and a newline to stdout and flushes; it only alters text with ANSI codes (stripped off a terminal)
    or characters its encoding fixes touch, so such text still goes through typer's own echo."""
    if not text.isascii() or "\x1b" in text:
        _typer().echo(text)
        return
    out = sys.stdout
    if out is None:  # no stream attached (pythonw): click writes nothing
        return
    out.write(text + "\n")
    out.flush()


def jinja_value(text: str) -> object:
    """``true``/``false`` and numbers become Python values (timeloopfe's ``jinja_parse_data`` holds
    objects, so ``reg_enabled=false`` must be falsy); anything else stays the string given."""
    import re

    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if re.fullmatch(r"[+-]?\d+", low):
        return int(low)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)(e[+-]?\d+)?", low):
        return float(low)
    return text


def jinja_data(items: list[str]) -> dict[str, object]:
    """``--jinja KEY=VALUE`` options (`check`, `model`, `map`, `simulate`) as template variables."""
    data = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(
                f"--jinja {item!r} is not KEY=VALUE", fix="write e.g. --jinja architecture=sparseloop/x"
            )
        key, value = item.split("=", 1)
        if not key.strip().isidentifier():  # `--jinja =x` gave a variable no template can name
            raise ConfigError(f"--jinja {item!r}: {key.strip()!r} is not a variable name", key_path="--jinja",
                              fix="write KEY=VALUE with KEY a name of letters, digits and _ (e.g. --jinja depth=512)")
        data[key.strip()] = jinja_value(value)
    return data


def objective_metrics(objective: str | None) -> list[str] | None:
    """``--objective delay,energy`` (`map`, `simulate`, `sweep`) as metric names, blanks dropped; None when
    it names none (the architecture's own mapper settings then decide)."""
    metrics = [m.strip() for m in objective.split(",") if m.strip()] if objective else []
    return metrics or None
