"""`sparse-hw model` and `sparse-hw map` on the reference's own input files, and their bad-input paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sparse_hw.backends.timeloop_stats import parse_stats_file
from sparse_hw.cli import app
from tests.reference_cases import copy_inputs, input_files, results

runner = CliRunner()
GATING = "ref__gating__resnet18_conv4x__w0.5_i0.5__model__fixmap"


def _ref(case: str):
    return results().set_index("case_id").loc[case]


def test_model_json_matches_reference_and_out_writes_parseable_stats(tmp_path: Path) -> None:
    files = [str(f) for f in input_files(GATING)]
    out = tmp_path / "model"
    result = runner.invoke(app, ["model", "--json", "--out", str(out), *files])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    ref = _ref(GATING)
    assert data["cycles"] == int(ref["cycles"])
    assert data["energy_pj"] == pytest.approx(float(ref["energy_pJ"]), rel=1e-4)
    for name in ("evaluation.json", "stats.txt", "map.yaml"):
        assert (out / name).is_file(), name
    # the stats file reads back through the Timeloop parser with the same totals
    stats = parse_stats_file(out / "stats.txt")
    assert stats.energy_pj == pytest.approx(data["energy_pj"], rel=1e-6)
    # the written mapping evaluates to the same numbers
    arch_files = [f for f in files if "map" not in Path(f).name]
    again = runner.invoke(app, ["model", "--json", *arch_files, str(out / "map.yaml")])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["energy_pj"] == pytest.approx(data["energy_pj"], rel=1e-9)


def _problem_file(files: list[Path]) -> Path:
    for f in files:
        if "problem" in f.name:
            return f
    raise AssertionError(files)


def test_density_outside_unit_interval_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    files = copy_inputs(GATING, tmp_path / "in")
    prob = _problem_file(files)
    text = prob.read_text()
    doc = yaml.safe_load(text)
    doc["problem"]["instance"]["densities"]["Inputs"] = 1.5
    prob.write_text(yaml.safe_dump(doc))
    out = tmp_path / "out"
    result = runner.invoke(app, ["model", "--out", str(out), *map(str, files)])
    assert result.exit_code == 2, result.output
    assert "density" in result.output and prob.name in result.output
    assert not out.exists()


def test_malformed_yaml_exits_2(tmp_path: Path) -> None:
    files = copy_inputs(GATING, tmp_path / "in")
    prob = _problem_file(files)
    prob.write_text("problem:\n  shape: [unclosed\n")
    result = runner.invoke(app, ["model", *map(str, files)])
    assert result.exit_code == 2, result.output
    assert prob.name in result.output


def test_unknown_level_in_mapping_exits_2(tmp_path: Path) -> None:
    files = copy_inputs(GATING, tmp_path / "in")
    mapping = next(f for f in files if "map" in f.name)
    text = mapping.read_text().replace("shared_glb", "shared_glbX", 1)
    mapping.write_text(text)
    result = runner.invoke(app, ["model", *map(str, files)])
    assert result.exit_code == 2, result.output
    assert "shared_glbX" in result.output


def test_map_finds_a_mapping_no_worse_than_the_reference_and_is_seed_stable(tmp_path: Path) -> None:
    case = "ref__dense__alexnet_conv3__w1_i1__mapper"
    if case not in set(results()["case_id"]):
        pytest.skip("case not in this reference")
    files = [str(f) for f in input_files(case)]
    a = runner.invoke(app, ["map", "--json", "--seed", "3", "--out", str(tmp_path / "a"), *files])
    assert a.exit_code == 0, a.output
    da = json.loads(a.output)
    ref = _ref(case)
    assert da["cycles"] <= int(ref["cycles"])
    b = runner.invoke(app, ["map", "--json", "--seed", "3", "--jobs", "2", *files])
    assert b.exit_code == 0, b.output
    db = json.loads(b.output)
    assert (da["cycles"], da["energy_pj"]) == (db["cycles"], db["energy_pj"])
    assert (tmp_path / "a" / "map.yaml").is_file()


def test_map_nothing_fits_names_the_constraint(tmp_path: Path) -> None:
    files = copy_inputs("ref__dense__alexnet_conv3__w1_i1__mapper", tmp_path / "in")
    arch = next(f for f in files if f.name.startswith("arch"))
    text = arch.read_text()
    # shrink the global buffer to one word: no tile of the layer fits
    assert "data_storage_depth: 12800" in text, "reference arch changed"
    arch.write_text(text.replace("data_storage_depth: 12800", "data_storage_depth: 1"))
    out = tmp_path / "out"
    result = runner.invoke(app, ["map", "--out", str(out), *map(str, files)])
    assert result.exit_code == 2, result.output
    assert "shared_glb" in result.output
    assert not out.exists()
