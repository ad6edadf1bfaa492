"""Single-mutation bad inputs that used to slip through (issue 15, "Must show"): each is refused with
the file, the key and a fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sparse_hw.errors import SpecError
from sparse_hw.spec import load_spec

DATA = Path(__file__).resolve().parent.parent / "data" / "spec"
ARCH, PROBLEM, MAPPING = DATA / "tiny_arch.yaml", DATA / "tiny_problem.yaml", DATA / "tiny_mapping.yaml"


def _problem(e: SpecError, file: Path) -> list:
    return [p for p in e.problems if p.file == str(file)]


@pytest.mark.parametrize("content", ["", "# nothing but a comment\n", "---\n"])
def test_empty_file_is_refused(tmp_path: Path, content: str) -> None:
    empty = tmp_path / "problem.yaml"
    empty.write_text(content)
    with pytest.raises(SpecError, match="the file is empty") as info:
        load_spec([ARCH, empty])
    (p,) = _problem(info.value, empty)
    assert p.fix


@pytest.mark.parametrize(("version", "ok"), [("9.9", False), ("1.0", False), ("'0.4'", True), ("0.3", True)])
def test_unknown_version_is_refused(tmp_path: Path, version: str, ok: bool) -> None:
    arch = tmp_path / "arch.yaml"
    text = ARCH.read_text()
    assert "version: 0.3" in text
    arch.write_text(text.replace("version: 0.3", f"version: {version}", 1))
    if ok:
        load_spec([arch, PROBLEM])
        return
    with pytest.raises(SpecError, match="unsupported version") as info:
        load_spec([arch, PROBLEM])
    (p,) = _problem(info.value, arch)
    assert p.key_path == "architecture.version" and p.line and p.fix


def test_huge_dimension_names_the_problem_file(tmp_path: Path) -> None:
    problem = tmp_path / "problem.yaml"
    text = PROBLEM.read_text()
    assert "M: 8" in text
    problem.write_text(text.replace("M: 8", "M: 100000000000000000000000000000", 1))
    for files in ([ARCH, problem], [ARCH, problem, MAPPING]):
        with pytest.raises(SpecError, match="largest size Timeloop can represent") as info:
            load_spec(files)
        (p,) = [p for p in _problem(info.value, problem) if "largest size" in p.message]
        assert p.key_path and p.key_path.startswith("problem")


def test_reference_inputs_keep_loading(tmp_path: Path) -> None:
    """The mutations' checks leave the unmutated files alone."""
    shutil.copy(ARCH, tmp_path / "arch.yaml")
    spec = load_spec([tmp_path / "arch.yaml", PROBLEM, MAPPING])
    assert spec.problem is not None and spec.mapping is not None


def test_zero_word_width_is_refused(tmp_path: Path) -> None:
    arch = tmp_path / "arch.yaml"
    old, new = "{depth: 64, width: 16, datawidth: 16}", "{depth: 64, width: 16, datawidth: 0}"
    arch.write_text(ARCH.read_text().replace(old, new))
    assert arch.read_text() != ARCH.read_text()
    with pytest.raises(SpecError, match="attribute datawidth is 0") as info:
        load_spec([arch, PROBLEM])
    (p,) = _problem(info.value, arch)
    assert p.key_path.endswith("attributes.datawidth")
