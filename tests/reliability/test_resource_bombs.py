"""Issue 15 items 5/6: inputs built to exhaust memory or hang (alias bombs, /dev/zero, FIFOs, symlink
loops, deep nesting, huge files) are refused with exit 2 naming the file, before any work starts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sparse_hw.errors import SpecError
from sparse_hw.io import load_yaml, load_yaml_text
from sparse_hw.spec import load_spec
from tests.reliability.hostile_cli import assert_refused, run_cli


def _alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_in_a_run_config(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("name: bomb\n" + _alias_bomb() + "train: {bomb: *a8}\n")
    assert_refused(run_cli("run", cfg), names=cfg, says="alias bomb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"]


def test_alias_bomb_in_a_spec_input(tmp_path: Path) -> None:
    f = tmp_path / "problem.yaml"
    f.write_text("variables:\n" + "".join("  " + line + "\n" for line in _alias_bomb().splitlines()))
    assert_refused(run_cli("check", f), names=f, says="alias bomb")


def test_merge_key_bomb_is_measured_too() -> None:
    text = "a0: &a0 {x: 1, y: 2}\n"
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        text += f"a{i}: &a{i} {{<<: {prev}, k: [{', '.join([prev] * 9)}]}}\n"
    with pytest.raises(SpecError, match="alias bomb"):
        load_yaml_text(text, "merge.yaml")


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(SpecError, match="contains it"):
        load_yaml_text("a: &a [1, *a]\n", "rec.yaml")


def test_ordinary_aliases_still_load(tmp_path: Path) -> None:
    f = tmp_path / "ok.yaml"
    f.write_text("base: &b {x: 1, y: [1, 2]}\nuse: {<<: *b, z: 3}\nagain: *b\n")
    assert load_yaml(f) == {"base": {"x": 1, "y": [1, 2]}, "use": {"x": 1, "y": [1, 2], "z": 3},
                            "again": {"x": 1, "y": [1, 2]}}


@pytest.mark.parametrize("text", ["[" * 500 + "]" * 500, "".join(" " * i + "k:\n" for i in range(300))])
def test_deep_nesting_is_refused(tmp_path: Path, text: str) -> None:
    f = tmp_path / "deep.yaml"
    f.write_text(text)
    assert_refused(run_cli("check", f), names=f, says="deeper than")
    with pytest.raises(SpecError, match="deeper than"):
        load_yaml(f)  # the pure-Python loader too


def test_dev_zero_is_refused() -> None:
    assert_refused(run_cli("check", "/dev/zero", timeout=60), names="/dev/zero", says="not a regular file")


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "in.yaml"
    os.mkfifo(fifo)
    assert_refused(run_cli("check", fifo, timeout=60), names=fifo, says="FIFO")
    cfg = tmp_path / "run.fifo"
    os.mkfifo(cfg)
    assert_refused(run_cli("run", cfg, timeout=60), names=cfg, says="FIFO")


def test_symlink_loop_is_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.symlink_to(b)
    b.symlink_to(a)
    assert_refused(run_cli("check", a), names=a, says="symbolic link loop")


def test_oversize_input_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "big.yaml"
    row = "  - [1, 2, 3, 4, 5, 6, 7, 8]\n"
    f.write_text("variables:\n  v:\n" + row * (2 * (1 << 20) // len(row)))
    proc = run_cli("check", f, env={"SPARSE_HW_MAX_INPUT_MB": "1"})
    assert_refused(proc, names=f, says="larger than the 1 MB input limit")


def test_library_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not a regular file") as info:
        load_spec([Path("/dev/zero")])
    assert info.value.problems[0].file == "/dev/zero"
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpecError, match="file not found"):
        load_yaml(missing)
