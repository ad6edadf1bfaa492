"""Issue 15 item 8: user text prints as typed (no Rich markup or emoji codes interpreted), and outputs
get the mode the user's umask asks for, not 0600/0700."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sparse_hw.io import atomic_dir, atomic_write
from tests.reliability.hostile_cli import assert_refused, run_cli


def test_markup_and_emoji_codes_in_a_path_print_verbatim(tmp_path: Path) -> None:
    folder = tmp_path / "a:x:[red]b[bold]:thumbs_up:"
    folder.mkdir()
    f = folder / "p.yaml"
    f.write_text("foo: 1\n")
    err = assert_refused(run_cli("check", f), names=f, says="unknown top-level key 'foo'")
    assert "\u274c" not in err and "\U0001f44d" not in err


def test_markup_in_names_from_the_input_prints_verbatim(tmp_path: Path) -> None:
    f = tmp_path / "problem.yaml"
    f.write_text(
        "problem:\n  shape:\n    name: '[bold]G:x:'\n    dimensions: [M]\n"
        "    data_spaces: [{name: A, projection: [[[M]]]},\n"
        "                  {name: Z, projection: [[[M]]], read_write: true}]\n"
        "  instance: {M: 4}\n"
    )
    proc = run_cli("check", f)
    assert proc.returncode == 0, proc.stderr
    assert "[bold]G:x:" in proc.stdout


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.txt", "x")
        with atomic_dir(tmp_path / "out") as tmp:
            (tmp / "f.txt").write_text("1")
        assert _mode(tmp_path / "a.txt") == 0o644
        assert _mode(tmp_path / "out") == 0o755
        os.umask(0o027)
        atomic_write(tmp_path / "b.txt", "x")
        assert _mode(tmp_path / "b.txt") == 0o640
    finally:
        os.umask(old)
