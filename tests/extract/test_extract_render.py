"""Problem YAML rendering: both dialects, grouped shapes, density spelling, provenance, read-back."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sparse_hw.errors import SpecError
from sparse_hw.extract import extract
from sparse_hw.extract.render import check_problem, problem_densities, problem_filename, render_problem
from sparse_hw.io import load_yaml_text
from sparse_hw.spec import load_spec
from tests.extract.helpers import lenet_checkpoint, make_record


def _problem(text: str) -> dict:
    return load_yaml_text(text)["problem"]


def _spec_problem(path: Path):
    return load_spec([path]).problem


def _facts(problem) -> dict:
    return {
        "dimensions": list(problem.shape.dimensions),
        "instance": dict(problem.instance),
        "projections": {
            ds.name: [[(t.dim, t.coefficient) for t in c] for c in ds.projection]
            for ds in problem.shape.data_spaces
        },
        "read_write": {ds.name: bool(ds.read_write) for ds in problem.shape.data_spaces},
        "densities": {k: (d.distribution, d.density) for k, d in problem.densities.items()},
    }


def test_v03_render_equals_the_reference_timeloop_problem(tmp_path: Path, reference_dir: Path) -> None:
    """resnet18_ds1x1 at w 0.3 / i 0.5 hypergeometric: the same problem Timeloop v3.0.3 was given."""
    record = make_record()
    path = tmp_path / "ds.yaml"
    path.write_text(render_problem(record, dialect="v0.3", header=["provenance line"]))
    ref = (
        reference_dir
        / "cases/ref__gating_hypergeo__resnet18_ds1x1__w0.3_i0.5__model__fixmap/inputs/problem.yaml"
    )
    ours, theirs = _facts(_spec_problem(path)), _facts(_spec_problem(ref))
    assert ours == theirs
    text = path.read_text()
    assert "data-spaces:" in text and "read-write: true" in text and "data_spaces" not in text
    assert "Outputs: 1.0" in text  # dense written as a plain number, never hypergeometric 1.0
    assert text.startswith("# provenance line\n")


def test_v04_render_has_the_shape_of_the_timeloopfe_reference(tmp_path: Path, reference_dir: Path) -> None:
    record = make_record(weight_density=0.2, density_model="fixed_structured", pattern="n:m")
    path = tmp_path / "ds.yaml"
    path.write_text(render_problem(record, dialect="v0.4"))
    ref = reference_dir / "v4_timeloopfe/spec/problems/resnet18_ds1x1__w0.2_i0.5.yaml"
    ours, theirs = _facts(_spec_problem(path)), _facts(_spec_problem(ref))
    for key in ("dimensions", "instance", "projections", "read_write"):
        assert ours[key] == theirs[key], key
    raw = _problem(path.read_text())
    assert raw["version"] == 0.4 and "data_spaces" in raw["shape"]
    assert raw["instance"]["densities"]["Weights"] == {"distribution": "fixed_structured", "density": 0.2}
    assert raw["instance"]["densities"]["Inputs"] == {"distribution": "hypergeometric", "density": 0.5}
    assert raw["instance"]["densities"]["Outputs"] == {"distribution": "fixed_structured", "density": 1.0}


@pytest.mark.parametrize("dialect", ["v0.3", "v0.4"])
def test_grouped_problem_reads_back(tmp_path: Path, dialect: str) -> None:
    record = make_record(
        op="depthwise",
        C=1,
        M=1,
        G=96,
        R=3,
        S=3,
        P=56,
        Q=56,
        stride_h=2,
        stride_w=2,
        pad_h=1,
        pad_w=1,
        params=864,
    )
    path = tmp_path / "dw.yaml"
    path.write_text(render_problem(record, dialect=dialect))
    facts = _facts(_spec_problem(path))
    assert facts["dimensions"] == ["C", "M", "R", "S", "N", "P", "Q", "G"]
    assert facts["instance"]["G"] == 96 and facts["instance"]["Hstride"] == 2
    assert facts["projections"]["Weights"] == [
        [("C", None)],
        [("M", None)],
        [("G", None)],
        [("R", None)],
        [("S", None)],
    ]
    assert facts["projections"]["Outputs"][1] == [("G", None)]
    assert check_problem(path, record) == ["yaml", "spec"]


def test_densities_are_never_hypergeometric_one_and_keep_full_precision() -> None:
    d = 0.1234567890123456789
    record = make_record(
        weight_density=1.0,
        input_density=d,
        output_density=1.0,
        density_model="fixed_structured",
        pattern="dense",
    )
    for dialect in ("v0.3", "v0.4"):
        dens = _problem(render_problem(record, dialect=dialect))["instance"]["densities"]
        assert dens["Inputs"] == {"distribution": "hypergeometric", "density": d}
        for t in ("Weights", "Outputs"):
            assert dens[t] in (1.0, {"distribution": "fixed_structured", "density": 1.0})
    v03 = _problem(
        render_problem(make_record(weight_density=0.5, density_model="fixed_structured"), dialect="v0.3")
    )
    assert (
        v03["instance"]["densities"]["Weights"] == 0.5
    )  # Timeloop v3.0.3 spells fixed-structured as a number


def test_padding_scales_densities_by_the_added_zeros(tmp_path: Path) -> None:
    record = make_record(C=131, params=131 * 256, prime_dims=(("C", 131),), padded=(("C", 135),))
    dens = problem_densities(record)
    assert math.isclose(dens["Weights"].density, 0.3 * 131 / 135, rel_tol=1e-15)
    assert math.isclose(dens["Inputs"].density, 0.5 * 131 / 135, rel_tol=1e-15)
    assert dens["Outputs"].density == 1.0  # Outputs do not depend on C
    text = render_problem(record, dialect="v0.4")
    assert _problem(text)["instance"]["C"] == 135
    path = tmp_path / "p.yaml"
    path.write_text(text)
    check_problem(path, record)
    dense = problem_densities(
        make_record(
            weight_density=1.0, density_model="fixed_structured", P=13, Q=13, padded=(("P", 14), ("Q", 14))
        )
    )
    assert dense["Outputs"].distribution == "fixed_structured" and dense["Outputs"].density == 169 / 196


def test_check_problem_catches_a_file_that_differs(tmp_path: Path) -> None:
    record = make_record()
    path = tmp_path / "p.yaml"
    path.write_text(render_problem(record, dialect="v0.3").replace("M: 256", "M: 255"))
    with pytest.raises(SpecError, match=r"instance.M = 255, expected 256"):
        check_problem(path, record)


def test_problem_filenames() -> None:
    assert problem_filename(make_record(order=3, layer="layer1.0.conv1")) == "003_layer1.0.conv1.yaml"
    assert problem_filename(make_record(order=120, layer="blocks/0:attn")) == "120_blocks_0_attn.yaml"


@pytest.mark.parametrize("dialect", ["v0.3", "v0.4"])
def test_every_extracted_problem_loads_through_the_spec_layer(tmp_path: Path, dialect: str) -> None:
    ckpt = lenet_checkpoint(tmp_path / "l.pt")
    result = extract(ckpt, out=tmp_path / "ex", calib_samples=16, dialect=dialect, pad=True)
    assert len(result.problems) == 5
    for record, path in zip(result.records, result.problems, strict=True):
        problem = _spec_problem(path)
        assert {d: problem.instance[d] for d in record.problem_dims if d in problem.instance} == {
            d: v for d, v in record.problem_dims.items() if d != "G"
        }
        assert problem.densities["Inputs"].density == problem_densities(record)["Inputs"].density
        text = path.read_text()
        assert f"layer {record.layer} " in text.splitlines()[0]
        assert result.checkpoint_id in text or "sha256" in text
    import json

    manifest = json.loads((result.out / "manifest.json").read_text())
    assert manifest["settings"]["roundtrip_checks"] == ["spec", "yaml"]
