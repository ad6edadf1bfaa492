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

import typer

from .. import __version__
from ._common import configure_logging, state

app = typer.Typer(
    name="sparse-hw",
    help="What does this pruned network actually cost on a sparse accelerator?",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sparse-hw {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    state.debug = debug
    configure_logging(debug)


# One module per command (group), registered in the order `--help` lists them.
_COMMAND_MODULES = ("run", "train", "extract", "simulate", "report", "check", "arch", "model", "map")

for _name in _COMMAND_MODULES:
    if importlib.util.find_spec(f"{__name__}.{_name}") is not None:
        importlib.import_module(f"{__name__}.{_name}").register(app)


def main() -> None:
    """Console-script entry point."""
    sys.exit(app(prog_name="sparse-hw", standalone_mode=True))
