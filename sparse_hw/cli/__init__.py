"""The ``sparse-hw`` command line: a thin shell over :mod:`sparse_hw.pipeline`.

Every command lives in its own module here and registers itself on ``app``; ``SparseHwError``
exits with code 2 and one message, other errors with code 1 (traceback with ``--debug``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

# One OpenMP thread unless the user says otherwise: torch's many small ops (and numpy's) lose more to
# thread hand-off than they gain on the 2-core machines this tool targets (see TrainConfig.threads).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# pydantic (the run, train and search configurations) looks for plugins through every installed
# distribution's entry points on its first model (~15 ms); the command line uses none. PYDANTIC_DISABLE_PLUGINS= (empty) keeps them.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from typing import TYPE_CHECKING

from .. import __version__
from ._common import configure_logging, state

if TYPE_CHECKING:
    import typer  # imported where a command line goes through typer: `_fast` calls check/model/map without


def _new_app() -> typer.Typer:
    """The ``sparse-hw`` group with its root options, no commands yet."""
    import typer

    group = typer.Typer(
        name="sparse-hw",
        help="What does this pruned network actually cost on a sparse accelerator?",
        no_args_is_help=True,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        pretty_exceptions_enable=False,
    )
    group.callback()(_root_options(typer))
    return group


def _version(value: bool) -> None:
    if value:
        import typer

        typer.echo(f"sparse-hw {__version__}")
        raise typer.Exit()


def _root_options(typer):  # the typer module (imported by the caller)
    """`_root` with the root options declared for typer (``--debug``, ``--version``)."""

    def root(
        debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        _root(debug=debug, version=version)

    return root


def _root(debug: bool = False, version: bool = False) -> None:
    """What the root options do before any command (``--version`` exits in its callback, before this)."""
    state.debug = debug
    configure_logging(debug)


# One module per command (group), registered in the order `--help` lists them.
_COMMAND_MODULES = ("run", "train", "extract", "simulate", "report", "check", "arch", "model", "map", "estimate",
                    "search", "sweep")


def _register(group: typer.Typer, names: tuple[str, ...]) -> typer.Typer:
    for name in names:
        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            importlib.import_module(f"{__name__}.{name}").register(group)
    return group


_full_app: typer.Typer | None = None


def __getattr__(name: str) -> typer.Typer:
    """``app``, every command (what tests and ``--help`` see), built on first use: a one-command
    process (``_app_for``) need not import and register the other command modules (issue 15, item 14)."""
    global _full_app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _full_app is None:
        _full_app = _register(_new_app(), _COMMAND_MODULES)
    return _full_app


def _app_for(argv: list[str]) -> typer.Typer:
    """Only the command that ``argv`` names, when it names one: typer builds (and inspects) every
    registered command on each call, which a one-command process need not pay for (issue 15, item 14).
    The root options come first (``sparse-hw --debug check ...``); anything else gets the full group."""
    name = next((a for a in argv if not a.startswith("-")), None)
    if name in _COMMAND_MODULES:
        return _register(_new_app(), (name,))
    return __getattr__("app")


def main() -> None:
    """Console-script entry point: a plain ``check``/``model``/``map`` command line is called directly
    (``_fast``: typer's per-call parameter adapters cost more than the command's own work on a small
    input, issue 15, item 14); everything else, help and every usage error included, goes through typer."""
    from ._fast import call
    from ._process import finish, start, started

    start()
    code = call(sys.argv[1:], _root)
    if code is not None:
        finish(code)  # sys.exit(code), less the interpreter's teardown in a plain CLI process (`_process`)
    started()  # typer's commands (train, simulate, ...) run with the collector's settings for the work
    sys.exit(_typer_main(_app_for(sys.argv[1:])))


def _typer_main(app: typer.Typer) -> int:
    """typer's own run (its messages and exit codes), except that a usage error -- an unknown option, a
    value typer refuses, a missing argument -- also says where the fix is, as every sparse-hw error does
    (issue 15: "the file and key named, and a fix"); typer's panel names only the problem."""
    import typer
    from typer.core import HAS_RICH

    # click's exception classes, as this typer has them (recent typers carry their own copy of click)
    usage_error, click_exception = (next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)
                                    for name in ("UsageError", "ClickException"))
    try:
        rv = app(prog_name="sparse-hw", standalone_mode=False)
    except click_exception as exc:
        if HAS_RICH and app.rich_markup_mode is not None:  # what typer's standalone mode prints
            from typer import rich_utils

            rich_utils.rich_format_error(exc)
        else:
            exc.show()
        ctx = getattr(exc, "ctx", None)
        if isinstance(exc, usage_error) and exc.__class__.__name__ != "NoArgsIsHelpError":
            path = ctx.command_path if ctx is not None else "sparse-hw"
            print(f"Fix: see `{path} --help` for the options and arguments it takes and the values they accept",
                  file=sys.stderr)
        return exc.exit_code
    except typer.Abort:
        print("Aborted!", file=sys.stderr)
        return 1
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
