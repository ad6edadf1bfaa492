"""What every CLI command shares: consoles, the --debug state and the error-to-exit-code mapping."""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from ..errors import EXIT_CODE_INPUT, EXIT_CODE_INTERNAL, SparseHwError

console = Console()
err_console = Console(stderr=True)

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


def handle_errors(func: F) -> F:
    """Map SparseHwError to exit code 2 with one clear message, anything else to exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except SparseHwError as exc:
            if state.debug:
                err_console.print(traceback.format_exc(), markup=False, highlight=False)
            err_console.print(f"error: {exc.render()}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(getattr(exc, "exit_code", EXIT_CODE_INPUT)) from None
        except KeyboardInterrupt:
            err_console.print("interrupted", markup=False)
            raise typer.Exit(130) from None
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
            raise typer.Exit(EXIT_CODE_INTERNAL) from None

    return wrapper  # type: ignore[return-value]
