"""`backends.inputs.load_files` validates the files once when no problem needs fitting, and gives exactly
the spec of the two-step way (fit the problem files to the architecture's names, then load them).

The two-step way is `fit_problem_files` (which loads the other files to learn the names) and `load_spec` of
what it returns; `fits_as_is` lets `load_files` keep its first load instead (issue 15, item 14).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sparse_hw.backends import inputs
from sparse_hw.backends.inputs import load_files
from sparse_hw.spec import load_spec
from sparse_hw.spec.library import architecture_files
from sparse_hw.spec.problem_shape import fit_problem_files, fits_as_is
from sparse_hw.spec.summary import summarize
from tests.problems import CNN_LAYER_SHAPE
from tests.reference_cases import input_files

CASES = [
    "ref__gating__resnet18_fc__w1_i1__mapper",
    "ref__compression__alexnet_conv3__exercise_densities__mapper",
    "ref__dense__resnet18_conv4x__w1_i0.5__mapper",
    "ref__eyeriss_v2__mobilenet05_L07__w0.2_i0.5__mapper",
]


@pytest.fixture()
def cnn_layer(tmp_path: Path) -> Path:
    """A CNN-Layer problem (P/Q, no G): eyeriss_v2's constraints name E/F/G, so it must be fitted there."""
    path = tmp_path / "problem.yaml"
    path.write_text(CNN_LAYER_SHAPE + "  instance: {C: 4, M: 8, R: 3, S: 3, N: 1, P: 4, Q: 4}\n")
    return path


def _two_step(files: list[Path], work: Path):
    fitted = fit_problem_files(files, work)
    spec = load_spec(fitted)
    inputs._fill_tables(spec)
    return spec, fitted != files


def _facts(spec) -> dict:
    """What the engine and the mapper read of a spec, as plain data."""
    dump = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    out = {"summary": summarize(spec), "problem": spec.problem.model_dump(),
           "components": {k: v.model_dump() for k, v in spec.components.items()}}
    for key in ("arch_constraints", "mapspace_constraints"):
        out[key] = [d.model_dump() for d in dump[key]]
    for key in ("sparse_optimizations", "mapper", "ert", "art", "model"):
        out[key] = None if dump[key] is None else dump[key].model_dump()
    for key in ("variables", "globals", "mapspace_template"):
        out[key] = dump[key]
    return out


def _inputs(name: str, cnn_layer: Path) -> list[Path]:
    if name == "eyeriss_v2+cnn_layer":
        return [*architecture_files("eyeriss_v2"), cnn_layer]
    if name == "eyeriss_like+cnn_layer":
        return [*architecture_files("eyeriss_like"), cnn_layer]
    return input_files(name)


@pytest.mark.parametrize("name", [*CASES, "eyeriss_v2+cnn_layer", "eyeriss_like+cnn_layer"])
def test_the_same_spec_as_fitting_then_loading(name: str, cnn_layer: Path, tmp_path: Path) -> None:
    files = _inputs(name, cnn_layer)
    (tmp_path / "work").mkdir()
    expected, fitted = _two_step(files, tmp_path / "work")
    assert fitted == (name == "eyeriss_v2+cnn_layer")  # the v2 designs with a CNN-Layer problem need it
    got, want = _facts(load_files(files)), _facts(expected)
    if fitted:  # the fitted problem file is written into a different temporary folder
        for facts in (got, want):
            facts["summary"]["files"] = [Path(f).name for f in facts["summary"]["files"]]
    assert got == want
    if fitted:
        assert {"E", "F", "G"} <= set(got["problem"]["shape"]["dimensions"])


def test_one_validation_when_no_problem_needs_fitting(monkeypatch: pytest.MonkeyPatch) -> None:
    import sparse_hw.spec as spec_pkg

    calls: list[int] = []
    real = spec_pkg.load_spec

    def counting(paths, **kwargs):
        calls.append(len(paths))
        return real(paths, **kwargs)

    monkeypatch.setattr(spec_pkg, "load_spec", counting)
    files = input_files(CASES[0])
    load_files(files)
    assert calls == [len(files)]


@pytest.mark.parametrize(("arch", "as_is"), [("eyeriss_v2", False), ("eyeriss_like", True)])
def test_fits_as_is_asks_whether_a_problem_lacks_the_names(arch: str, as_is: bool, cnn_layer: Path) -> None:
    # eyeriss_v2 with the problem does not even validate unfitted (its formats name E/F/G), so the names
    # come from the architecture's files alone here: a CNN-Layer problem lacks E, F and G
    spec = load_spec(architecture_files(arch))
    assert fits_as_is([*architecture_files(arch), cnn_layer], spec) is as_is
