"""A density of 0 is legal: with skipping conditioned on that operand no compute reaches the compute level.

Timeloop's compute analysis (compute-gs-analyzer.cpp) divides an operand's density by the probability that
the other operand's condition is nonempty; at density 0 that is 0/0 (a ZeroDivisionError here, exit 1, found
by mutating the MICRO'22 artifact's inputs). The counts are continuous in the density: 0 computes at 0."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conformance.examples import case

CASE = "artifact/fig12/uniform_only/L25"  # Eyeriss v2 PE, skipping on Inputs and Weights (SI-SW)


def _run(tmp_path: Path, density: str, command: str = "model") -> dict:
    c = case(CASE)
    root = tmp_path / density
    shutil.copytree(c.folder, root, symlinks=True)
    problem = root / "workload/mobilenet0.5-sparse/uniform/L25.yaml"
    text = problem.read_text()
    edited = re.sub(r"(Inputs:[^\n]*\n(\s+distribution: \S+\n)?\s+density:\s*)[0-9.]+", rf"\g<1>{density}", text,
                    count=1)
    assert edited != text
    problem.write_text(edited)
    files = [str(root / f) for f in c.files if command == "model" or f != c.files[-1]]  # map: no mapping
    extra = ["--seed", "0", "--budget-s", "5"] if command == "map" else []  # any mapping computes nothing
    # warnings as errors: a 0/0 in the engine or the mapper's bounds would be a NaN in the results
    proc = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "sparse_hw", command, "--json",
                           *extra, *files], cwd=root, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_zero_density_operand_leaves_no_compute(tmp_path: Path) -> None:
    if not case(CASE).folder.is_dir():
        pytest.skip("the published examples are not in ../shared")
    assert case(CASE).files[-1].startswith("mappings/")
    zero, tiny = _run(tmp_path, "0"), _run(tmp_path, "0.0001")
    assert zero["actual_computes"] == 0 and zero["gated_computes"] == 0
    assert any("density 0 for Inputs" in n for n in zero["notes"])  # Timeloop gives NaN here: said so
    assert not any("density 0" in n for n in tiny["notes"])
    assert 0 < tiny["actual_computes"] < 0.001 * zero["algorithmic_computes"]
    assert 0 < zero["energy_pj"] < tiny["energy_pj"]


def test_the_mapper_searches_a_zero_density_operand(tmp_path: Path) -> None:
    if not case(CASE).folder.is_dir():
        pytest.skip("the published examples are not in ../shared")
    found = _run(tmp_path, "0", "map")
    assert found["actual_computes"] == 0 and found["energy_pj"] >= 0 and found["cycles"] >= 1


def test_a_zero_density_under_spatial_skipping_is_finite(tmp_path: Path) -> None:
    """The sparse-tensor-core example skips spatially on A: at density 0 its reduced expansion was divided by
    an expansion already reduced to 0 (ZeroDivisionError)."""
    import math
    import warnings

    from sparse_hw.model.evaluate import Engine
    from sparse_hw.spec import load_spec
    from tests.conformance.examples import cases

    c = next((c for c in cases() if c.id.endswith("baseline_designs/sparse_tensor_core_like")), None)
    if c is None or not c.folder.is_dir():
        pytest.skip("the published examples are not in ../shared")
    root = tmp_path / "stc"
    shutil.copytree(c.folder, root, symlinks=True)
    files = [root / f for f in c.files] + ([root / c.mapping] if c.mapping else [])
    files += [root / f for f in c.ert] if c.ert and not c.ert_in_files else []
    problem = root / "prob" / "prob.yaml"
    problem.write_text(re.sub(r"(density:\s*)[0-9.]+", r"\g<1>0", problem.read_text(), count=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        spec = load_spec(files, jinja_data=c.jinja or None)
        engine = Engine.from_spec(spec)
        ev = engine.evaluation(engine.compile_mapping(spec.mapping), 0)
    assert math.isfinite(ev.energy_pj) and ev.actual_computes == 0 and ev.cycles > 0
    assert any("density 0" in n for n in ev.notes)
