"""`--out` never loses data: each command keeps every input and unrelated file, and refuses with exit 2.

The cases of issue 15, item 1: an --out that is or holds an input, an --out that is a file, an existing
folder that sparse-hw did not write (replaced only with --force), and a folder of ours into which the
user put a file of their own. A refusal names the path and the fix and writes nothing at all.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sparse_hw.cli import app
from sparse_hw.errors import ConfigError
from sparse_hw.io import atomic_dir, check_out_dir, check_out_file
from tests.reference_cases import input_files
from tests.reliability.tiny import snapshot, tiny_project

runner = CliRunner()
GATING = "ref__gating__resnet18_conv4x__w0.5_i0.5__model__fixmap"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """proj/gmp.pt, proj/ex (extract), proj/sim (simulate) and an unrelated proj/notes.md."""
    root = tmp_path_factory.mktemp("out_safety") / "proj"
    _, ex = tiny_project(root)
    (root / "notes.md").write_text("my notes\n")
    result = runner.invoke(app, ["simulate", str(ex), "--arch", "eyeriss_like", "--out", str(root / "sim"),
                                 "--jobs", "1"])
    assert result.exit_code == 0, result.output
    return root


def _refused(args: list[str], root: Path, *must_name: str) -> str:
    """Run a command that must be refused: exit 2, no traceback, path and fix named, nothing changed."""
    before = snapshot(root)
    result = runner.invoke(app, args)
    text = result.output
    assert result.exit_code == 2, text
    assert "Traceback" not in text and "internal error" not in text, text
    assert "Fix:" in text, text
    for name in must_name:
        assert name in text, (name, text)
    assert snapshot(root) == before  # nothing written, nothing deleted
    return text


def test_extract_into_the_folder_holding_the_checkpoint_is_refused(project: Path) -> None:
    # the case: `extract proj/gmp.pt --out proj` deleted the checkpoint and notes.md
    text = _refused(["extract", str(project / "gmp.pt"), "--out", str(project)], project.parent, str(project))
    assert "input" in text
    # --force does not make an input replaceable
    _refused(["extract", str(project / "gmp.pt"), "--out", str(project), "--force"], project.parent)


def test_extract_onto_a_file_is_refused(project: Path) -> None:
    for target in (project / "gmp.pt", project / "notes.md"):
        text = _refused(["extract", str(project / "gmp.pt"), "--out", str(target), "--force"], project, str(target))
        assert "file" in text


def test_simulate_into_its_extract_folder_is_refused(project: Path) -> None:
    # `simulate ex --out ex` deleted the extract folder; nothing (not even the cache) may be created
    _refused(["simulate", str(project / "ex"), "--arch", "eyeriss_like", "--out", str(project / "ex")],
             project.parent, str(project / "ex"))
    _refused(["simulate", str(project / "ex"), "--arch", "eyeriss_like", "--out", str(project)],
             project.parent, str(project))


def test_simulate_onto_a_file_or_over_its_own_cache_is_refused(project: Path) -> None:
    _refused(["simulate", str(project / "ex"), "--arch", "eyeriss_like", "--out", str(project / "notes.md")],
             project.parent, str(project / "notes.md"))
    # a --cache inside --out would be deleted (and was open) when the folder is replaced
    _refused(["simulate", str(project / "ex"), "--arch", "eyeriss_like", "--out", str(project / "sim"),
              "--cache", str(project / "sim" / "cache.sqlite")], project.parent, str(project / "sim"))


def test_report_into_its_input_or_onto_a_file_is_refused(project: Path) -> None:
    for out in (project / "sim", project, project / "ex", project / "notes.md"):
        _refused(["report", str(project / "sim"), "--extract", str(project / "ex"), "--out", str(out)],
                 project.parent, str(out))


def test_model_and_map_onto_an_input_are_refused(project: Path, tmp_path: Path) -> None:
    files = []
    for f in input_files(GATING):
        shutil.copy(f, tmp_path / f.name)
        files.append(str(tmp_path / f.name))
    for cmd in ("model", "map"):
        _refused([cmd, *files, "--out", files[0]], tmp_path, files[0])
        _refused([cmd, *files, "--out", str(tmp_path)], tmp_path, str(tmp_path))


def test_train_never_overwrites_an_input_a_folder_or_a_foreign_file(project: Path) -> None:
    base = ["train", "--model", "lenet5", "--data", "digits", "--epochs", "0", "--no-latency", "--quiet"]
    _refused([*base, "--out", str(project / "ex")], project.parent, str(project / "ex"))
    _refused([*base, "--out", str(project / "notes.md")], project.parent, str(project / "notes.md"), "--force")
    _refused([*base, "--init", str(project / "gmp.pt"), "--out", str(project / "gmp.pt"), "--force"],
             project.parent, str(project / "gmp.pt"))
    # a checkpoint sparse-hw wrote may be overwritten by the next training run; anything else needs --force
    from sparse_hw.cli.train import _is_our_checkpoint

    check_out_file(project / "gmp.pt", ours=_is_our_checkpoint)
    with pytest.raises(ConfigError, match="--force"):
        check_out_file(project / "sim" / "results.csv", ours=_is_our_checkpoint)


def test_a_foreign_folder_is_replaced_only_with_force(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    args = ["simulate", str(project / "ex"), "--arch", "eyeriss_like", "--out", str(out),
            "--cache", str(project / ".sparse-hw-cache.sqlite")]
    text = _refused(args, tmp_path, str(out), "--force")
    assert "not written by sparse-hw" in text
    result = runner.invoke(app, [*args, "--force"])
    assert result.exit_code == 0, result.output
    assert (out / "results.csv").is_file() and not (out / "thesis.tex").exists()


def test_our_own_output_is_replaced_but_a_users_file_in_it_is_not(project: Path, tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    shutil.copytree(project / "sim", sim)
    args = ["simulate", str(project / "ex"), "--arch", "eyeriss_like", "--out", str(sim),
            "--cache", str(project / ".sparse-hw-cache.sqlite")]
    result = runner.invoke(app, args)  # a rerun over sparse-hw's own folder just works
    assert result.exit_code == 0, result.output
    assert json.loads((sim / "manifest.json").read_text())["stage"] == "simulate"
    (sim / "my_notes.md").write_text("which layers to re-run\n")
    text = _refused(args, tmp_path, "my_notes.md", "--force")
    assert "did not write" in text


def test_extract_replaces_its_own_folder_and_keeps_the_checkpoint(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "ex"
    for _ in range(2):
        result = runner.invoke(app, ["extract", str(project / "gmp.pt"), "--out", str(out), "--calib-samples", "8"])
        assert result.exit_code == 0, result.output
    assert (out / "layers.csv").is_file() and (project / "gmp.pt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ex"]  # no temporary, backup or lock left


def test_the_checks_directly(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "a.txt")
    for bad in (tmp_path / "a.txt", tmp_path / "link", tmp_path / "a.txt" / "sub"):
        with pytest.raises(ConfigError, match="--out"):
            check_out_dir(bad, force=True)
    with pytest.raises(ConfigError, match="folder"):
        check_out_file(tmp_path, force=True)
    with pytest.raises(ConfigError, match="input"):
        check_out_file(tmp_path / "a.txt", inputs=[tmp_path / "link"], force=True)
    check_out_dir(tmp_path / "new")  # a new folder, or an empty one, is fine
    (tmp_path / "empty").mkdir()
    check_out_dir(tmp_path / "empty")
    # a failing block leaves the old folder and no temporary
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "empty") as tmp:
        (tmp / "half.csv").write_text("1,")
        raise RuntimeError("disk full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "empty", "link"]
    assert list((tmp_path / "empty").iterdir()) == []
