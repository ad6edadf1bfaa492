"""``sparse_hw.cli._fast``: a plain ``check``/``model``/``map`` command line is called without typer's
parser, with exactly the values typer would pass; anything it is not sure of is left to typer.

Each accepted command line is parsed both ways (typer with a spy in place of the command, and ``_fast``)
and the keyword arguments must be equal; each refused one must fall back (and then gets typer's own
message). End to end, the direct call and typer's path give the same output and exit code.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sparse_hw.cli import _fast, _new_app, _root, app
from tests.problems import CNN_LAYER_SHAPE

PROBLEM = CNN_LAYER_SHAPE + """\
  instance: {C: 4, M: 8, R: 3, S: 3, N: 1, P: 4, Q: 4}
"""


def _function(command: str):
    return _fast.command_function(importlib.import_module(f"sparse_hw.cli.{command}"), command)


def _typer_kwargs(command: str, args: list[str]) -> dict:
    """The keyword arguments typer calls ``command``'s function with (a spy stands in for it)."""
    got: dict = {}
    fn = _function(command)

    @functools.wraps(fn)
    def spy(**kwargs):
        got.update(kwargs)

    group = _new_app()
    group.command(command)(spy)
    result = CliRunner().invoke(group, [command, *args])
    assert result.exit_code == 0, result.output
    return got


@pytest.mark.parametrize("command, args", [
    ("check", ["a.yaml"]),
    ("check", ["--json", "a.yaml", "b.yaml", "--arch", "eyeriss_like"]),
    ("check", ["--jinja", "x=1", "a.yaml", "--jinja=y=two"]),
    ("model", ["--arch", "eyeriss_like", "--out", "o", "--force", "a.yaml", "m.yaml"]),
    ("map", ["--arch=eyeriss_like", "--seed", "0", "--json", "a.yaml"]),
    ("map", ["--objective", "delay,energy", "--budget-s", "2.5", "--jobs", "0", "--mode", "random", "--pad",
             "--out", "o", "a.yaml"]),
    ("map", ["a.yaml", "--seed", "007", "--budget-s", "3", "--objective", ""]),
])  # fmt: skip
def test_accepted_command_lines_get_what_typer_passes(command: str, args: list[str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fast = _fast.parse(_function(command), args)
    typer_kwargs = _typer_kwargs(command, args)
    assert fast == typer_kwargs
    assert {k: type(v) for k, v in fast.items()} == {k: type(v) for k, v in typer_kwargs.items()}
    assert all(isinstance(v, Path) for v in fast["files"])


@pytest.mark.parametrize("command, args", [
    ("check", ["--help"]),
    ("check", ["-h", "a.yaml"]),
    ("check", []),  # the files are required: typer's message
    ("check", ["--bogus", "a.yaml"]),
    ("check", ["--json=1", "a.yaml"]),
    ("check", ["--", "a.yaml"]),
    ("check", ["-"]),
    ("check", ["--arch", "x", "--arch", "y", "a.yaml"]),
    ("check", ["--arch", "--json", "a.yaml"]),
    ("map", ["--jobs", "-1", "a.yaml"]),
    ("map", ["--jobs", "1.5", "a.yaml"]),
    ("map", ["--seed", "abc", "a.yaml"]),
    ("map", ["--seed", "+1", "a.yaml"]),
    ("map", ["--budget-s", "1e3", "a.yaml"]),
    ("map", ["--budget-s", "nan", "a.yaml"]),
    ("map", ["a.yaml", "--out"]),
    ("map", ["--out", "", "a.yaml"]),
])  # fmt: skip
def test_anything_unsure_is_left_to_typer(command: str, args: list[str]) -> None:
    with pytest.raises(_fast._Unsupported):
        _fast.parse(_function(command), args)
    assert _fast.call([command, *args], _root) is None


def test_other_commands_and_root_options_go_through_typer() -> None:
    for argv in (["--version"], ["--help"], ["arch", "list"], ["simulate", "x"], [], ["--debug"]):
        assert _fast.call(argv, _root) is None


@pytest.mark.parametrize("bad", [False, True])
def test_direct_call_prints_and_exits_as_typer_does(bad: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "problem.yaml").write_text(PROBLEM.replace("  instance:", "  instnce:") if bad else PROBLEM)
    argv = ["check", "--json", "problem.yaml"]
    via_typer = CliRunner().invoke(app, argv)
    code = _fast.call(argv, _root)
    out, err = capsys.readouterr()
    assert code == via_typer.exit_code == (2 if bad else 0)
    if bad:
        assert "instnce" in err and err.strip() in via_typer.output
    else:
        assert json.loads(out) == json.loads(via_typer.output)


@pytest.mark.parametrize("command", _fast.FAST_COMMANDS)
def test_fast_params_are_the_typer_declarations(command: str) -> None:
    # the direct call reads FAST_PARAMS instead of importing typer: they must parse exactly as declared
    module = importlib.import_module(f"sparse_hw.cli.{command}")
    declared = [p.key() for p in _fast.typer_params(_function(command))]
    assert [p.key() for p in _fast.static_params(module)] == declared
    assert [name for name, *_ in module.FAST_PARAMS] == list(inspect.signature(module.run).parameters)


def test_a_direct_call_imports_no_typer(tmp_path: Path) -> None:
    (tmp_path / "problem.yaml").write_text(PROBLEM)
    probe = ("import sys; sys.argv = ['sparse-hw', 'check', '--json', 'problem.yaml']\n"
             "from sparse_hw.cli import main\n"
             "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
             "print('typer' in sys.modules, code, file=sys.stderr)\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.stderr.strip().splitlines()[-1] == "False 0", proc.stderr
    assert json.loads(proc.stdout)["problem"]["dimensions"]["C"] == 4
