"""A command-line process ends without the interpreter's teardown, and tunes the collector (`cli._process`).

What a user sees must not change: the same stdout, stderr and exit code as a normal ``sys.exit``, the
``atexit`` handlers run, and a process that is not the command line itself (a caller of ``main``, a
profiler) keeps the normal exit.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sparse_hw.cli import _process
from tests.problems import CNN_LAYER_SHAPE

REPO = Path(__file__).resolve().parents[2]

# ``python -m sparse_hw`` as runpy runs it, after registering an atexit handler that reports what it sees
_AS_MAIN = """
import atexit, gc, os, runpy, sys
atexit.register(lambda: print("atexit ran, gc threshold", gc.get_threshold()[0], file=sys.stderr))
sys.argv = ["sparse-hw", *sys.argv[1:]]
runpy.run_module("sparse_hw", run_name="__main__", alter_sys=True)
"""
# the same command line through ``main()`` in a program of its own: SystemExit, the normal exit
_AS_CALLER = """
import atexit, gc, sys
atexit.register(lambda: print("atexit ran, gc threshold", gc.get_threshold()[0], file=sys.stderr))
sys.argv = ["sparse-hw", *sys.argv[1:]]
from sparse_hw.cli import main
try:
    main()
except SystemExit as exc:
    print("SystemExit", exc.code, file=sys.stderr)
    raise
"""

# how many objects the collector has frozen when the process ends
_FROZEN = """
import atexit, gc, runpy, sys
atexit.register(lambda: print("frozen", gc.get_freeze_count(), file=sys.stderr))
sys.argv = ["sparse-hw", *sys.argv[1:]]
runpy.run_module("sparse_hw", run_name="__main__", alter_sys=True)
"""


def _run(code: str, argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture()
def problem(tmp_path: Path) -> Path:
    path = tmp_path / "problem.yaml"
    path.write_text(CNN_LAYER_SHAPE + "  instance: {C: 4, M: 8, R: 3, S: 3, N: 1, P: 4, Q: 4}\n")
    return path


def _same_but_time(text: str) -> str:
    return re.sub(r'"mapper_seconds": [0-9.e+-]+', '"mapper_seconds": X', text)


def test_map_output_and_exit_match_the_normal_exit(problem: Path) -> None:
    argv = ["map", "--json", "--seed", "0", "--arch", "eyeriss_like", problem.name]
    fast = _run(_AS_MAIN, argv, problem.parent)
    normal = _run(_AS_CALLER, argv, problem.parent)
    assert fast.returncode == normal.returncode == 0, fast.stderr + normal.stderr
    assert _same_but_time(fast.stdout) == _same_but_time(normal.stdout)
    assert json.loads(fast.stdout)["cycles"] > 0
    # the fast exit ran the atexit handlers, in a process whose collector start() tuned
    assert fast.stderr.strip().splitlines()[-1] == f"atexit ran, gc threshold {_process.GC_THRESHOLD0}"
    # a caller of main() keeps its own collector settings and gets SystemExit
    assert "SystemExit 0" in normal.stderr
    assert normal.stderr.strip().splitlines()[-1] == "atexit ran, gc threshold 700"


def test_an_input_error_exits_2_with_the_same_message(problem: Path) -> None:
    argv = ["map", "--json", "--arch", "eyeriss_like", "missing.yaml"]
    fast = _run(_AS_MAIN, argv, problem.parent)
    normal = _run(_AS_CALLER, argv, problem.parent)
    assert fast.returncode == normal.returncode == 2
    assert fast.stdout == normal.stdout == ""
    first = fast.stderr.splitlines()[0]
    assert first.startswith("error: missing.yaml") and normal.stderr.splitlines()[0] == first
    # it ended during its start-up (reading the inputs), before `started` set the threshold for the work
    assert fast.stderr.strip().endswith(f"atexit ran, gc threshold {_process.STARTUP_GC_THRESHOLD0}")


def test_a_command_through_typer_runs_with_the_settings_for_the_work(problem: Path) -> None:
    # `arch list` is no fast-path command: its start-up ends before typer runs it
    fast = _run(_AS_MAIN, ["arch", "list"], problem.parent)
    assert fast.returncode == 0, fast.stderr
    assert fast.stderr.strip().splitlines()[-1] == f"atexit ran, gc threshold {_process.GC_THRESHOLD0}"


def test_a_profiler_still_gets_its_output(problem: Path, tmp_path: Path) -> None:
    # python -m cProfile writes its file after the command returns: the process must not end before
    out = tmp_path / "run.prof"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "sparse_hw", "check", "--json", problem.name]
    proc = subprocess.run(argv, cwd=problem.parent, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


def test_this_test_process_is_not_the_command_line() -> None:
    assert not _process.is_cli_main() and not _process.is_cli_process()
    import gc

    before = gc.get_threshold(), gc.get_freeze_count()
    _process.start()
    _process.started()  # neither tunes, nor freezes, a process that merely calls the CLI's code
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
    with pytest.raises(SystemExit) as exc:
        _process.finish(3)
    assert exc.value.code == 3


def test_the_start_up_is_frozen_before_the_search(problem: Path) -> None:
    argv = ["map", "--json", "--seed", "0", "--arch", "eyeriss_like", problem.name]
    done = _run(_FROZEN, argv, problem.parent)
    assert done.returncode == 0, done.stderr
    frozen = int(done.stderr.split()[-1])
    assert frozen > 10_000  # modules, classes, validators, the spec: kept out of the search's collections
    failed = _run(_FROZEN, ["map", "--json", "--arch", "eyeriss_like", "missing.yaml"], problem.parent)
    assert failed.returncode == 2 and failed.stderr.split()[-2:] == ["frozen", "0"]
