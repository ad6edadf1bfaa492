"""Our mapper finds the sparse tensor core's 2:4 speed-up: mappings as good as the MICRO'22 artifact's recorded ones.

The STC's 2x comes from spatial factors larger than the MAC array (K32 on 16 columns), which spatial skipping
compresses back onto the array; a mapspace bounded by the dense fan-out only finds the dense array's cycles.
The searches stop after a fixed number of candidates, so the results do not depend on the machine's speed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sparse_hw.backends.analytical import map_spec
from sparse_hw.spec import load_spec
from sparse_hw.spec.library import architecture_files

SETUP = Path("examples/artifact/workspace/2022.micro.artifact/evaluation_setups/fig15_stc_related_setup")
CASE = SETUP / "ref_outputs/resnet50_selected/WD-0.5/M128-K1152-N1024-IAD0.44-WD0.5/STC-RF2x-24-bandwidth"
CONSTRAINTS = SETUP / "architecture_templates/HW_systems/configurations/dataflow/FlexibleGH-Ms-constraints.yaml"
#: Candidates per search: the exhaustive walks below end well before it (delay lower bound).
CANDIDATES = 20_000


@pytest.fixture
def stc_case(reference_dir) -> Path:
    folder = reference_dir.parent / CASE
    if not folder.is_dir():
        pytest.fail(f"reference case missing at {folder}")
    return folder


def _artifact_constraints(reference_dir: Path, folder: Path) -> Path:
    """The design point's dataflow constraints, with LRF's N<=128 as the artifact's sweep sets it for the 2x RF."""
    text = (reference_dir.parent / CONSTRAINTS).read_text()
    text, n = re.subn(r"N<=64\b", "N<=128", text)
    assert n == 1
    path = folder / "constraints.yaml"
    path.write_text(text)
    return path


def _search(files: list[Path]):
    result, _ = map_spec(load_spec(files), overrides={"max_candidates": CANDIDATES, "budget_s": None})
    return result


def _edp(ev) -> float:
    return float(ev.energy_pj) * float(ev.cycles)


def test_mapper_matches_the_recorded_stc_mapping(reference_dir, stc_case, tmp_path) -> None:
    from sparse_hw.model.evaluate import Engine

    files = [stc_case / n for n in ("aggregated_input.yaml", "ERT.yaml", "ART.yaml")]
    files.append(_artifact_constraints(reference_dir, tmp_path))
    spec = load_spec([*files, stc_case / "map.yaml"])
    engine = Engine.from_spec(spec)
    recorded = engine.evaluation(engine.compile_mapping(spec.mapping), 0)
    ev = _search(files).evaluation
    # the recorded mapping runs K32 on 16 MAC columns: 73 728 cycles, half the dense array's 147 456
    assert int(recorded.cycles) == 73_728
    assert int(ev.cycles) <= int(recorded.cycles)
    assert _edp(ev) <= _edp(recorded) * (1 + 1e-9)


def _layer(folder: Path, weights_density: float | None) -> Path:
    """M128-K1152-N1024 of the artifact as a CNN layer (K -> C, N -> Q), 2:4 weights or dense."""
    dims = {"G": 1, "C": 1152, "M": 128, "R": 1, "S": 1, "N": 1, "P": 1, "Q": 1024}
    instance: dict = dict(dims)
    if weights_density is not None:
        instance["densities"] = {"Weights": {"density": weights_density, "distribution": "fixed_structured"}}
    doc = {"problem": {"version": 0.4, "shape": {
        "name": "CNN_Layer", "dimensions": list(dims),
        "data_spaces": [
            {"name": "Weights", "projection": [[["G"]], [["C"]], [["M"]], [["R"]], [["S"]]]},
            {"name": "Inputs", "projection": [[["G"]], [["N"]], [["C"]], [["R"], ["P"]], [["S"], ["Q"]]]},
            {"name": "Outputs", "projection": [[["G"]], [["N"]], [["M"]], [["Q"]], [["P"]]], "read_write": True}]},
        "instance": instance}}
    path = folder / f"layer-{weights_density}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_builtin_stc_halves_the_cycles_of_a_2_4_layer(tmp_path) -> None:
    arch = architecture_files("sparse_tensor_core")
    dense = _search([*arch, _layer(tmp_path, None)])
    sparse = _search([*arch, _layer(tmp_path, 0.5)])
    assert int(dense.evaluation.cycles) == 147_456  # 128 x 1152 x 1024 MACs on 1024 MACs
    assert float(sparse.evaluation.cycles) / float(dense.evaluation.cycles) == pytest.approx(0.5)
    assert float(sparse.evaluation.energy_pj) < float(dense.evaluation.energy_pj)
