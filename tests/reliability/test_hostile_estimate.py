"""Meaningless estimator inputs are refused cleanly (issue 15): `sparse-hw estimate`, and `model` where the
ERT/ART are estimated because the inputs lack them.

Each case edits a copy of a recorded reference run's architecture (../shared/reference/timeloop) and runs
the command: it must exit 2 with no traceback, name the file and the key, give a fix and write nothing.
A technology outside the estimator's scaling table (7-130 nm) is refused, never extrapolated. Also here:
spec errors echo the key as the file spells it (``data-spaces``, ``class``), and a duplicate YAML key
gets a fix naming both lines.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sparse_hw.cli import app
from sparse_hw.estimate import tables
from tests.reference_cases import input_files

CASE = "ref__gating__resnet18_conv4x__w0.5_i0.5__model__fixmap"
A = "arch.yaml"
ESTIMATE_FILES = ("arch.yaml", "mac.yaml", "regfile_metadata.yaml", "smartbuffer.yaml", "smartbuffer_metadata.yaml")
GLB = "block_size: 4\n            n_banks: 1\n"  # shared_glb's attributes (DRAM has block_size: 4 then datawidth)

#: name -> (old text in arch.yaml, new text, the key the error must name)
BAD = {
    "technology-negative": ("technology: 45nm", "technology: -3nm", "technology"),
    "technology-word": ("technology: 45nm", "technology: banana", "technology"),
    "technology-below-table": ("technology: 45nm", "technology: 5nm", "technology"),
    "technology-above-table": ("technology: 45nm", "technology: 250nm", "technology"),
    "technology-zero": ("technology: 45nm", "technology: 0nm", "technology"),
    "ports-nan": (GLB, GLB + "            n_rdwr_ports: .nan\n", "n_rdwr_ports"),
    "ports-inf": (GLB, GLB + "            n_rdwr_ports: .inf\n", "n_rdwr_ports"),
    "ports-negative": (GLB, GLB + "            n_rdwr_ports: -2\n", "n_rdwr_ports"),
    "ports-zero": (GLB, GLB + "            n_rdwr_ports: 0\n", "n_rdwr_ports"),
    "ports-fraction": (GLB, GLB + "            n_rdwr_ports: 1.5\n", "n_rdwr_ports"),
    "ports-text": (GLB, GLB + "            n_rdwr_ports: two\n", "n_rdwr_ports"),
    "banks-fraction": (GLB, "block_size: 4\n            n_banks: 2.5\n", "n_banks"),
    "depth-fraction": ("data_storage_depth: 12800", "data_storage_depth: 12800.5", "data_storage_depth"),
    "depth-nan": ("data_storage_depth: 12800", "data_storage_depth: .nan", "data_storage_depth"),
    "block-size-fraction": (GLB, "block_size: 2.5\n            n_banks: 1\n", "block_size"),
    "width-negative": ("data_storage_width: 64", "data_storage_width: -64", "data_storage_width"),
    "datawidth-inf": ("meshX: 14\n                datawidth: 16\n", "meshX: 14\n                datawidth: .inf\n",
                      "datawidth"),
    "mesh-fraction": ("meshX: 14\n\n            - name: weights_spad", "meshX: 1.5\n\n            - name: weights_spad",
                      "meshX"),
}


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("hostile_estimate") / "inputs"
    dest.mkdir()
    for f in input_files(CASE):
        shutil.copy(f, dest / f.name)
    return dest


def _copy(original: Path, tmp_path: Path, old: str | None = None, new: str = "", name: str = A) -> Path:
    folder = tmp_path / "case"
    shutil.copytree(original, folder)
    if old is not None:
        text = (folder / name).read_text()
        assert old in text, (name, old)
        (folder / name).write_text(text.replace(old, new, 1))
    return folder


def _invoke(argv: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def _refused(code: int, output: str, file: str, key: str) -> None:
    assert "Traceback" not in output and "internal error" not in output, output[-3000:]
    assert code == 2, output[-3000:]
    assert file in output and key in output, output[-3000:]
    assert "Fix:" in output, output[-3000:]


def _estimate_argv(folder: Path) -> list[str]:
    return ["estimate", *[str(folder / n) for n in ESTIMATE_FILES], "--out", str(folder / "out")]


@pytest.mark.parametrize("name", list(BAD))
def test_estimate_refuses_meaningless_attribute(original: Path, tmp_path: Path, name: str) -> None:
    old, new, key = BAD[name]
    folder = _copy(original, tmp_path, old, new)
    before = snapshot(folder)
    code, output = _invoke(_estimate_argv(folder))
    _refused(code, output, A, key)
    assert snapshot(folder) == before  # no --out, nothing else touched


def test_technology_fix_states_the_supported_range(original: Path, tmp_path: Path) -> None:
    folder = _copy(original, tmp_path, "technology: 45nm", "technology: banana")
    code, output = _invoke(_estimate_argv(folder))
    assert code == 2 and "'banana'" in output
    assert "like 45nm, between 7 and 130 nm" in " ".join(output.split())


def test_supported_range_is_the_scaling_tables(original: Path) -> None:
    with open(tables.DATA / "tech_scaling.csv", newline="") as fh:
        nodes = [float(r["node_nm"]) for r in csv.DictReader(fh)]
    assert tables.SUPPORTED_NODES == (min(nodes), max(nodes))


@pytest.mark.parametrize("tech", ["7nm", "130nm", "32nm"])
def test_technology_inside_the_table_is_priced_and_scaled(original: Path, tmp_path: Path, tech: str) -> None:
    folder = _copy(original, tmp_path, "technology: 45nm", f"technology: {tech}")
    code, output = _invoke(_estimate_argv(folder))
    assert code == 0, output[-3000:]
    summary = (folder / "out" / "estimate_summary.yaml").read_text()
    assert f"45nm->{tech}" in summary  # the scaling is named in the provenance, not silent


def _assert_autofill_refused(folder: Path, says: str) -> None:
    """`model` with ERT/ART removed estimates them; the refusal comes before anything is written."""
    (folder / "ERT.yaml").unlink()
    (folder / "ART.yaml").unlink()
    files = [str(folder / f.name) for f in input_files(CASE) if f.name not in ("ERT.yaml", "ART.yaml")]
    before = snapshot(folder)
    code, output = _invoke(["model", *files, "--out", str(folder / "out")])
    _refused(code, output, A, says)
    assert snapshot(folder) == before


def test_model_autofill_refuses_bad_technology(original: Path, tmp_path: Path) -> None:
    """`model` without ERT/ART estimates them; the same refusal applies, before anything is written."""
    _assert_autofill_refused(_copy(original, tmp_path, "technology: 45nm", "technology: -3nm"), "technology")


def test_model_autofill_refuses_nan_ports(original: Path, tmp_path: Path) -> None:
    folder = _copy(original, tmp_path, GLB, GLB + "            n_rdwr_ports: .nan\n")
    _assert_autofill_refused(folder, "n_rdwr_ports")


# ------------------------------------------------------------------ spec errors in the user's spelling
def test_error_echoes_hyphenated_v03_key(original: Path, tmp_path: Path) -> None:
    folder = _copy(original, tmp_path, "    data-spaces:\n", "    data-spaces: 5\n    zz:\n", name="problem.yaml")
    code, output = _invoke(["check", str(folder / "problem.yaml")])
    assert code == 2, output
    assert "problem.shape.data-spaces'" in output  # the key path of the wrong type
    assert "Known keys: name, dimensions, coefficients, data-spaces" in " ".join(output.split())
    assert "data_spaces" not in output


def test_error_names_class_not_class_name(original: Path, tmp_path: Path) -> None:
    folder = _copy(original, tmp_path, "class: intmultiplier", "class: [1, 2]", name="mac.yaml")
    code, output = _invoke(["check", str(folder / A), str(folder / "mac.yaml")])
    assert code == 2, output
    assert "subcomponents[0].class'" in output and "class_name" not in output
    line = next(i for i, t in enumerate((folder / "mac.yaml").read_text().splitlines(), 1) if "class: [1, 2]" in t)
    assert f"mac.yaml:{line}" in output  # the line of the key itself, not of its mapping


def test_duplicate_key_fix_names_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("problem:\n  instance:\n    C: 3\n    M: 4\n    C: 5\n")
    code, output = _invoke(["check", str(path)])
    text = " ".join(output.split())
    assert code == 2 and "dup.yaml:5" in text
    assert "key 'C' appears twice in this mapping (lines 3 and 5); keep one" in text
