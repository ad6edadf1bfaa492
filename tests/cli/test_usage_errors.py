"""typer's own usage errors (unknown option, a value it refuses, a missing argument, an unknown command)
keep typer's message and exit code 2, and name where the fix is, like every other sparse-hw error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "sparse_hw", *args], capture_output=True, text=True, timeout=120,
                          env=env, stdin=subprocess.DEVNULL, check=False)


@pytest.mark.parametrize(("args", "says", "command"), [
    (("map", "--no-such-option", "x.yaml"), "No such option: --no-such-option", "sparse-hw map"),
    (("train", "--model", "lenet5", "--epochs", "abc", "--out", "m.pt"), "integer", "sparse-hw train"),
    (("check",), "Missing argument", "sparse-hw check"),
    (("no-such-command",), "No such command", "sparse-hw"),
])
def test_usage_error_names_the_fix(args, says, command):
    proc = _cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr
    assert f"Fix: see `{command} --help`" in proc.stderr


def test_help_version_and_no_arguments_keep_typers_behaviour():
    assert _cli("--version").returncode == 0
    helped = _cli("map", "--help")
    assert helped.returncode == 0 and "--objective" in helped.stdout and "Fix:" not in helped.stderr
    bare = _cli()  # no_args_is_help: the help, exit 2, no fix line (the help is the fix)
    assert bare.returncode == 2 and "Usage" in bare.stdout + bare.stderr and "Fix:" not in bare.stderr
