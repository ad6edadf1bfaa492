"""Start-up stays light: the command line and its Timeloop-style commands import no heavy library.

``import sparse_hw.cli`` and a whole ``check``/``model``/``map`` process (on a small dense problem, as
``--json``) must not load torch, pandas, matplotlib, scipy or pydantic (nor rich, when nothing is drawn):
each costs start-up time these commands never use (issue 15, item 14; ``benchmarks/startup.py`` times
it). Each case runs in a fresh interpreter and reads ``sys.modules`` at the end. Also: what each command
skips besides (multiprocessing, the Timeloop backend, numpy for ``check``), that the spec layer refuses
bad inputs without pydantic, and that the benchmark's start-up probe still reaches its mark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.problems import CNN_LAYER_SHAPE

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "pandas", "matplotlib", "scipy", "sklearn", "torch_pruning", "dask")

PROBLEM = CNN_LAYER_SHAPE + """\
  instance: {C: 4, M: 8, R: 3, S: 3, N: 1, P: 4, Q: 4}
"""

# Runs the CLI in-process, then reports which of the watched modules got imported (on stderr, last line).
_PROBE = """
import json, sys
watched = json.loads(sys.argv[1]); argv = json.loads(sys.argv[2])
if argv:
    sys.argv = ["sparse-hw", *argv]
    from sparse_hw.cli import main
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
else:
    import sparse_hw.cli
    code = 0
print(json.dumps({"code": code, "loaded": [m for m in watched if m in sys.modules]}), file=sys.stderr)
"""


def _loaded(argv: list[str], watched: tuple[str, ...], cwd: Path) -> list[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(watched), json.dumps(argv)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), proc.stdout + proc.stderr
    return report["loaded"]


def test_importing_the_cli_loads_no_heavy_library(tmp_path: Path) -> None:
    assert _loaded([], (*HEAVY, "rich", "numpy", "jinja2"), tmp_path) == []


@pytest.mark.parametrize("command", [
    ["check", "--json", "problem.yaml"],
    ["map", "--json", "--arch", "eyeriss_like", "--seed", "0", "problem.yaml"],
    ["model", "--json", "--arch", "eyeriss_like", "problem.yaml", "mapped/map.yaml"],
])  # fmt: skip
def test_timeloop_style_commands_load_no_heavy_library(command: list[str], tmp_path: Path) -> None:
    (tmp_path / "problem.yaml").write_text(PROBLEM)
    if command[0] == "model":  # a mapping to evaluate: the one map finds
        assert _loaded(["map", "--arch", "eyeriss_like", "--out", "mapped", "problem.yaml"], (), tmp_path) == []
    assert _loaded(command, (*HEAVY, "rich", "pydantic"), tmp_path) == []


# What each command must not import either: multiprocessing only when the mapper runs jobs in parallel,
# the Timeloop backend only for --backend timeloop, numpy not for check (nothing there computes).
NOT_NEEDED = ("multiprocessing", "concurrent.futures.process", "sparse_hw.backends.timeloop",
              "sparse_hw.backends.timeloop_output")


@pytest.mark.parametrize("command, extra", [
    (["check", "--json", "problem.yaml"], ("numpy",)),
    (["map", "--json", "--arch", "eyeriss_like", "--seed", "0", "problem.yaml"], ()),
])  # fmt: skip
def test_commands_skip_modules_they_do_not_use(
    command: list[str], extra: tuple[str, ...], tmp_path: Path
) -> None:
    (tmp_path / "problem.yaml").write_text(PROBLEM)
    assert _loaded(command, (*NOT_NEEDED, *extra), tmp_path) == []


_BACKENDS = """
import json, sys
import sparse_hw.backends.analytical
before = [m for m in sys.modules if m.startswith("sparse_hw.backends.timeloop")]
from sparse_hw.backends import BACKENDS, TimeloopBackend, read_outputs
same = BACKENDS.get("timeloop") is TimeloopBackend
where = read_outputs.__module__
print(json.dumps({"before": before, "backends": BACKENDS.list(), "same": same, "read_outputs": where}))
"""


def test_backends_load_the_timeloop_backend_on_first_use(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", _BACKENDS], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got == {"before": [], "backends": ["builtin", "timeloop"], "same": True,
                   "read_outputs": "sparse_hw.backends.timeloop_output"}


# Spec models build their validators on first use (defer_build): the same bad files must give the same
# messages as with every validator built up front, as they were before.
_SPEC_ONLY = """
import json, sys
import sparse_hw.spec
from sparse_hw.errors import SpecError

out = []
for path in sys.argv[1:]:
    try:
        sparse_hw.spec.load_spec([path])
        out.append("ok")
    except SpecError as exc:
        out.append(exc.render())
print(json.dumps({"messages": out, "loaded": [m for m in ("pydantic", "importlib.metadata") if m in sys.modules]}))
"""
# Each a small edit of PROBLEM that the spec layer must refuse (and PROBLEM itself, which it must accept).
BAD_PROBLEMS = {
    "unknown_key": PROBLEM.replace("  instance:", "  instnce:"),
    "bad_type": PROBLEM.replace("C: 4,", "C: four,"),
    "bad_projection": PROBLEM.replace("[[[C]], [[M]]", "[[[C]], [[Z]]"),
    "bad_density": PROBLEM.replace("Q: 4}", "Q: 4, densities: {Weights: {distribution: hypergeometric, "
                                   "density: 1.7}}}"),
    "hyphen_twice": PROBLEM.replace("    data_spaces:", "    data-spaces: []\n    data_spaces:"),
    "valid": PROBLEM,
}


def test_the_spec_layer_validates_without_pydantic(tmp_path: Path) -> None:
    """The spec models are msgspec models: validating inputs (bad ones too) imports neither pydantic nor the
    ``importlib.metadata`` its plugin loader needs (~120 ms of each check/model/map process, issue 15), and
    every bad input still gets a message naming its file."""
    paths = []
    for name, text in BAD_PROBLEMS.items():
        (tmp_path / f"{name}.yaml").write_text(text)
        paths.append(str(tmp_path / f"{name}.yaml"))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", _SPEC_ONLY, *paths], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)
    assert run["loaded"] == []
    messages = dict(zip(BAD_PROBLEMS, run["messages"], strict=True))
    assert messages.pop("valid") == "ok"
    assert all(".yaml" in m for m in messages.values()), messages
    assert "instnce" in messages["unknown_key"] and "'four'" in messages["bad_type"]
    assert "Z" in messages["bad_projection"] and "less than or equal to 1" in messages["bad_density"]
    assert "given twice" in messages["hyphen_twice"]


def test_startup_probe_stops_at_the_first_yaml_read(tmp_path: Path) -> None:
    """benchmarks/startup.py's "start-up" ends where the command first opens a YAML file: the probe must
    reach that point (and so print nothing of the command's own output), else its figures mean nothing."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("startup_benchmark", REPO / "benchmarks" / "startup.py")
    startup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(startup)
    (tmp_path / "problem.yaml").write_text(PROBLEM)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", startup.PROBE, "check", "--json", "problem.yaml"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert startup.MARK in proc.stderr and proc.stdout == ""
