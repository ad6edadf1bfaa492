"""`model` and `map` take ``--jinja KEY=VALUE`` as `check` does (issue 11's "Jinja top" command)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sparse_hw.cli import app

runner = CliRunner()
DESIGNS = (
    Path(__file__).resolve().parent.parent.parent.parent
    / "shared/reference/examples/ex_2d55108/workspace/example_designs/example_designs"
)
RUN = "eyeriss_like/ref_outputs/default_problem"


@pytest.fixture
def in_designs():
    if not DESIGNS.is_dir():
        pytest.fail(f"reference examples missing at {DESIGNS}")
    before = Path.cwd()
    os.chdir(DESIGNS)
    try:
        yield DESIGNS
    finally:
        os.chdir(before)


def test_model_renders_the_top_template_with_jinja_variables(in_designs: Path) -> None:
    args = ["model", "--json", "top.yaml.jinja2", f"{RUN}/timeloop-mapper.map.yaml",
            f"{RUN}/timeloop-mapper.ERT.yaml", f"{RUN}/timeloop-mapper.ART.yaml",
            "--jinja", "architecture=eyeriss_like", "--jinja", "problem=_include/default_problem.yaml"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    recorded = (in_designs / RUN / "timeloop-mapper.stats.txt").read_text()
    assert f"Cycles: {json.loads(result.output)['cycles']}\n" in recorded


@pytest.mark.parametrize("command", ["model", "map"])
def test_template_without_its_variable_or_a_bad_pair_exits_2(in_designs: Path, command: str) -> None:
    files = ["top.yaml.jinja2", f"{RUN}/timeloop-mapper.ERT.yaml"]
    missing = runner.invoke(app, [command, *files])
    assert missing.exit_code == 2 and "architecture" in missing.output
    bad = runner.invoke(app, [command, *files, "--jinja", "architecture"])
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output


SMALL = """
architecture:
  version: 0.3
  subtree:
  - name: system
    local:
    - {name: DRAM, class: DRAM, attributes: {width: 64, word-bits: 8}}
    subtree:
    - name: PE[0..{{ (pes | int) - 1 }}]
      local:
      - {name: reg, class: regfile, attributes: {depth: 64, width: 8, word-bits: 8}}
      - {name: mac, class: intmac, attributes: {datawidth: 8}}
problem:
  shape:
    name: mm
    dimensions: [M, N, K]
    data-spaces:
    - {name: A, projection: [[[M]], [[K]]]}
    - {name: B, projection: [[[N]], [[K]]]}
    - {name: Z, projection: [[[M]], [[N]]], read-write: true}
  instance: {M: 8, N: 4, K: 4}
ERT:
  version: 0.3
  tables:
  - {name: system.DRAM, actions: [{name: read, energy: 100}, {name: write, energy: 100}, {name: update, energy: 100}]}
  - {name: system.PE.reg, actions: [{name: read, energy: 1}, {name: write, energy: 1}, {name: update, energy: 1}]}
  - {name: system.PE.mac, actions: [{name: compute, energy: 2}]}
"""


def test_map_passes_jinja_variables_to_the_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sparse_hw.backends import analytical

    top = tmp_path / "top.yaml"  # Jinja in a file named .yaml is rendered too
    top.write_text(SMALL)
    seen = {}

    class Stop(Exception):
        pass

    def fake_map_spec(spec, **kwargs):  # the search itself is the mapper's business: stop before it
        seen["pes"] = spec.architecture.flatten().compute.instances
        raise Stop

    monkeypatch.setattr(analytical, "map_spec", fake_map_spec)
    result = runner.invoke(app, ["map", str(top), "--jinja", "pes=4"])
    assert "Stop" in result.output  # handle_errors reports the stub's exception as an internal error
    assert seen == {"pes": 4}


def test_jinja_values_become_booleans_and_numbers() -> None:
    from sparse_hw.cli._common import jinja_data

    data = jinja_data(["a=false", "b=True", "c=8", "d=1e-9", "e=eyeriss_like", "f=inf", "g=x=y"])
    assert data == {"a": False, "b": True, "c": 8, "d": 1e-9, "e": "eyeriss_like", "f": "inf", "g": "x=y"}


def test_simulate_jobs_carry_jinja_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sparse_hw.backends import analytical
    from sparse_hw.sweep import LayerJob

    arch, prob = SMALL.split("problem:", 1)
    (tmp_path / "arch.yaml").write_text(arch)
    (tmp_path / "prob.yaml").write_text("problem:" + prob)
    seen = {}

    def fake_map_spec(spec, **kwargs):
        seen["pes"] = spec.architecture.flatten().compute.instances
        raise RuntimeError("stop")

    monkeypatch.setattr(analytical, "map_spec", fake_map_spec)
    job = LayerJob(model="m", checkpoint="c", layer="l", order=0, problem_file=str(tmp_path / "prob.yaml"),
                   arch="a", arch_files=(str(tmp_path / "arch.yaml"),), backend="builtin",
                   settings=(("jinja", (("pes", 2),)),))
    with pytest.raises(RuntimeError, match="stop"):
        analytical.run_layer_job(job)
    assert seen == {"pes": 2}
