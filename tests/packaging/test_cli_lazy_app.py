"""``sparse_hw.cli`` builds its full command group (``app``) only when asked for it.

A one-command process (``sparse-hw check ...``) registers just that command's module, so importing
the CLI must not import the other command modules (issue 15, item 14); ``from sparse_hw.cli import
app`` still gives every command, as the tests and ``--help`` need.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs argv through the CLI's entry point (or only imports it), then reports the loaded sparse_hw.cli modules.
_PROBE = """
import json, sys
argv = json.loads(sys.argv[1])
import sparse_hw.cli
if argv:
    sys.argv = ["sparse-hw", *argv]
    try:
        sparse_hw.cli.main()
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("sparse_hw.cli."))), file=sys.stderr)
"""


def _cli_modules(argv: list[str]) -> list[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv)],
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stderr.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_command_module() -> None:
    assert [m for m in _cli_modules([]) if not m.split(".")[-1].startswith("_")] == []


@pytest.mark.parametrize("command", ["check", "model", "map"])
def test_one_command_imports_only_its_own_module(command: str) -> None:
    commands = [m for m in _cli_modules([command, "--help"]) if not m.split(".")[-1].startswith("_")]
    assert commands == [f"sparse_hw.cli.{command}"]


def test_app_still_holds_every_command() -> None:
    from sparse_hw import cli

    names = {c.name for c in cli.app.registered_commands} | {g.name for g in cli.app.registered_groups}
    assert {"check", "model", "map", "run", "report", "arch", "sweep"} <= names
    assert cli.app is cli.app  # built once
    with pytest.raises(AttributeError):
        cli.no_such_attribute  # noqa: B018 - the module's __getattr__ must refuse other names
