"""The spec models (msgspec Structs, `sparse_hw.spec.base`): what they accept, how they refuse, and how
every failure of one file is reported together with its exact key path, line and fix."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from sparse_hw.errors import SpecError
from sparse_hw.spec import load_spec
from sparse_hw.spec.arch_nodes import ComponentNode, NodesArch, ParallelNode
from sparse_hw.spec.base import Invalid, validate_model
from sparse_hw.spec.constraints import MapperSettings
from sparse_hw.spec.problem import Problem
from sparse_hw.spec.tables import ERT
from tests.problems import CNN_LAYER_SHAPE

PROBLEM = CNN_LAYER_SHAPE + """\
  instance: {C: 4, M: 8, R: 3, S: 3, N: 1, P: 4, Q: 4}
"""


def _problems(model, raw) -> list:
    out: list = []
    assert validate_model(model, raw, file="f.yaml", base="x", problems=out) is None
    return out


def test_lax_numbers_are_read_as_timeloop_reads_them() -> None:
    m = MapperSettings.model_validate({"timeout": "15", "victory-condition": 100.0, "log-stats": "false"})
    assert (m.timeout, m.victory_condition, m.log_stats) == (15, 100, False)
    assert isinstance(m.victory_condition, int)


@pytest.mark.parametrize(("value", "text"), [
    (True, "true is a boolean, not a number"),
    (2.5, "valid integer (got 2.5)"),
    ("soon", "valid integer (got 'soon')"),
    (-5, "greater than or equal to 0 (got -5)"),
])  # fmt: skip
def test_a_bad_count_names_its_key_and_value(value, text) -> None:
    (p,) = _problems(MapperSettings, {"timeout": value})
    assert p.key_path == "x.timeout" and text in p.message and p.fix


@pytest.mark.parametrize("energy", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_energy_is_refused(energy) -> None:
    raw = {"version": 0.4, "tables": [{"name": "a.b", "actions": [{"name": "read", "energy": energy}]}]}
    (p,) = _problems(ERT, raw)
    assert p.key_path == "x.tables[0].actions[0].energy" and "finite number" in p.message


def test_every_failure_of_a_file_is_reported_with_its_own_path() -> None:
    raw = {"version": 0.4, "nodes": [
        {"kind": "!Foo", "name": "x"},
        {"kind": "!Component", "name": "a", "class": "DRAM", "spatial": {"meshX": 0}, "bogus": 1},
        {"kind": "!Parallel", "nodes": [{"kind": "!Component", "class": "SRAM"}]},
    ]}  # fmt: skip
    got = {p.key_path: p.message for p in _problems(NodesArch, raw)}
    assert set(got) == {"x.nodes[0].kind", "x.nodes[1].spatial.meshX", "x.nodes[1].bogus",
                        "x.nodes[2].nodes[0].name"}
    assert "'!Component'" in got["x.nodes[0].kind"] and "'!Foo'" in got["x.nodes[0].kind"]
    assert "greater than or equal to 1 (got 0)" in got["x.nodes[1].spatial.meshX"]
    assert "Did you mean" not in got["x.nodes[1].bogus"] and "class" in got["x.nodes[1].bogus"]


def test_a_mapping_of_models_names_the_failing_key(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PROBLEM.replace(
        "Q: 4}", "Q: 4, densities: {Weights: 0.5, Inputs: {distribution: hypergeometric, density: 1.5}}}"))
    with pytest.raises(SpecError) as info:
        load_spec([tmp_path / "p.yaml"])
    (p,) = info.value.problems
    assert p.key_path == "problem.instance.densities.Inputs.density" and "less than or equal to 1" in p.message


def test_a_size_past_64_bits_reaches_the_range_check(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PROBLEM.replace("M: 8", f"M: {10**29}"))
    with pytest.raises(SpecError, match="larger than 2,147,483,647") as info:
        load_spec([tmp_path / "p.yaml"])
    assert info.value.problems[0].file.endswith("p.yaml")


def test_digits_and_whole_floats_are_sizes_and_words_are_not(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(PROBLEM.replace("M: 8", "M: '8'").replace("C: 4", "C: 4.0"))
    spec = load_spec([tmp_path / "ok.yaml"])
    assert spec.problem.instance["M"] == 8 and spec.problem.instance["C"] == 4
    (tmp_path / "bad.yaml").write_text(PROBLEM.replace("M: 8", "M: eight"))
    with pytest.raises(SpecError, match=r"valid integer \(got 'eight'\)") as info:
        load_spec([tmp_path / "bad.yaml"])
    assert info.value.problems[0].key_path == "problem.instance.M"


def test_the_node_kind_is_the_yaml_tag() -> None:
    arch = NodesArch.model_validate({"nodes": [{"kind": "!Parallel", "nodes": [{"name": "a", "class": "SRAM"}]}]})
    (par,) = arch.nodes
    assert isinstance(par, ParallelNode) and par.kind == "!Parallel"
    assert isinstance(par.nodes[0], ComponentNode) and par.nodes[0].kind == "!Component"
    assert arch.model_dump()["nodes"][0]["kind"] == "!Parallel"


def test_models_copy_dump_and_pickle(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PROBLEM)
    problem = load_spec([tmp_path / "p.yaml"]).problem
    assert isinstance(problem, Problem) and problem.densities["Weights"].density == 1.0
    assert pickle.loads(pickle.dumps(problem)) == problem  # worker processes receive specs this way
    dumped = problem.model_dump(exclude={"version"})
    assert "version" not in dumped and dumped["shape"]["data_spaces"][0]["name"] == "Weights"
    bigger = problem.model_copy(update={"instance": {**problem.instance, "M": 16}})
    assert bigger.instance["M"] == 16 and problem.instance["M"] == 8
    with pytest.raises(AttributeError):
        problem.instance = {}  # frozen


def test_a_hook_failure_carries_every_record() -> None:
    with pytest.raises(Invalid) as info:
        MapperSettings.model_validate({"timeout": -1, "seed": True, "algorithm": "random-pruned"})
    kinds = {tuple(r["loc"]): r["type"] for r in info.value.errors()}
    assert kinds == {("timeout",): "greater_than_equal", ("seed",): "value_error"}


@pytest.mark.parametrize("text", [
    "mapspace_constraints:\n  targets: []\n  true: 1\n",
    "sparse_optimizations:\n  targets:\n  - name: buf\n    representation_format: {1: []}\n",
    "model:\n  2: x\n",
])  # fmt: skip
def test_a_key_that_is_no_text_is_refused_cleanly(tmp_path: Path, text: str) -> None:
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(SpecError, match="unknown key") as info:  # was a TypeError (exit 1) for these sections
        load_spec([tmp_path / "c.yaml"])
    assert info.value.problems[0].file.endswith("c.yaml")


def test_word_bits_past_the_metadata_width_stop_as_in_timeloop(tmp_path: Path) -> None:
    """`metadata-word-bits: 1e30` searched 10^30 widths for a divisor of the metadata storage width and never
    ended (found by mutating a published example); Timeloop refuses any width past the storage width."""
    import subprocess
    import sys

    from tests.reference_cases import copy_inputs

    files = copy_inputs("ref__compression__alexnet_conv3__w0.2_i0.5__model__fixmap", tmp_path)
    sparse = next(f for f in files if f.name == "sparse_opt.yaml")
    sparse.write_text(sparse.read_text().replace(
        "              - format: RLE\n                flattened-rankIDs: [ [P, M, N, Q] ]",
        "              - format: RLE\n                metadata-word-bits: " + str(10**30)
        + "\n                flattened-rankIDs: [ [P, M, N, Q] ]", 1))
    proc = subprocess.run([sys.executable, "-m", "sparse_hw", "model", *map(str, files)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "exceed its metadata storage width" in proc.stderr and "metadata_word_bits" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_mapping_key_that_is_no_text_names_the_mapping() -> None:
    (p,) = _problems(Problem, {"shape": {"dimensions": ["M"], "data_spaces": [{"name": "A", "projection": [[["M"]]]}]},
                               "instance": {"M": 4, 3: 2}})
    assert p.key_path == "x.instance" and p.message == "every key should be text (got 3)" and p.fix
