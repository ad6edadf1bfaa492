"""`sparse-hw check` and `sparse-hw arch list|show`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sparse_hw.cli import app
from tests.reference_cases import input_files

runner = CliRunner()
DATA = Path(__file__).resolve().parent.parent / "data" / "spec"


def test_check_prints_levels_problem_mapping_and_sparse_optimizations() -> None:
    files = [str(f) for f in input_files("ref__gating__resnet18_conv4x__w0.5_i0.5__model__fixmap")]
    result = runner.invoke(app, ["check", *files], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    for text in (
        "DummyBuffer",
        "ifmap_spad",
        "14x12",
        "51,200 x 16b",
        "CNN-Layer",
        "C=256",
        "density 0.5",
        "mapping: ",
        "gating Weights on zero Inputs",
        "format Inputs: UOP(RSPCMNQ) > RLE(RSPCMNQ)",
        "1,554,059",
    ):
        assert text in out, text


def test_check_json() -> None:
    files = [
        str(DATA / n)
        for n in ("tiny_arch.yaml", "tiny_problem.yaml", "tiny_mapping.yaml", "tiny_sparse_opt.yaml")
    ]
    result = runner.invoke(app, ["check", "--json", *files])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [lv["name"] for lv in data["architecture"]["levels"]] == ["DRAM", "buffer", "reg", "mac"]
    assert data["architecture"]["levels"][2]["instances"] == 4
    assert data["problem"]["dimensions"] == {"M": 8, "N": 4, "K": 16}
    assert data["sparse_optimizations"]["reg"] == ["gating B on zero A"]


def test_check_with_builtin_arch_and_jinja() -> None:
    result = runner.invoke(
        app,
        [
            "check",
            "--arch",
            "eyeriss_like",
            str(
                DATA.parent.parent.parent.parent
                / "shared"
                / "reference"
                / "timeloop"
                / "designs"
                / "exercise_problem_alexnet_conv3.yaml"
            ),
        ],
    )
    assert result.exit_code == 0, result.output
    top = DATA.parent.parent.parent.parent / "shared" / "reference" / "timeloop" / "v4_timeloopfe" / "spec"
    result = runner.invoke(
        app,
        [
            "check",
            str(top / "top.yaml.jinja2"),
            "--jinja",
            "architecture=sparseloop/04.2.1-eyeriss-like-gating",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "inter_PE_spatial" in result.output


def test_check_bad_input_exits_2_with_every_problem() -> None:
    files = [str(DATA / n) for n in ("tiny_arch.yaml", "bad_several.yaml", "bad_mapping_target.yaml")]
    result = runner.invoke(app, ["check", *files])
    assert result.exit_code == 2
    out = result.output
    assert "problems found" in out
    for text in ("read-only", "less than or equal to 1", "K missing", "bufer"):
        assert text in out, text


def test_arch_list() -> None:
    result = runner.invoke(app, ["arch", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "168 PEs" in lines["eyeriss_like"] and "exploits: none" in lines["eyeriss_like"]
    assert "exploits: inputs" in lines["eyeriss_like_gating"]
    assert "exploits: inputs" in lines["eyeriss_like_compressed"]
    assert "192 PEs" in lines["eyeriss_v2"] and "exploits: weights+inputs" in lines["eyeriss_v2"]
    assert "1 PEs" in lines["eyeriss_v2_pe"] and "weights+inputs" in lines["eyeriss_v2_pe"]


def test_arch_show() -> None:
    result = runner.invoke(app, ["arch", "show", "eyeriss_v2"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for text in (
        "psum_glb",
        "x16 [8x2]",
        "iact_spad",
        "x192 [32x6]",
        "UOP(R) > RLE(C)",
        "skipping Weights on zero Inputs",
        "compute skipping",
    ):
        assert text in result.output, text
    bad = runner.invoke(app, ["arch", "show", "eyeriss_v3"])
    assert bad.exit_code == 2 and "unknown architecture" in bad.output
