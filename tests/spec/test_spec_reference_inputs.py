"""Every reference input set loads and round-trips (to_dict -> write -> load -> equal).

* every case under cases/*/inputs/ (v0.3), files in the order of the case's recorded command;
* every v4 spec: the timeloopfe spec/ tree rendered through its Jinja template for each
  architecture x problem, and each cases/*/inputs/input.yaml (what timeloopfe handed Timeloop);
* every design under designs/.
Parsing is cached by file content, so the ~400 cases (~10 files each) stay fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sparse_hw.spec import load_spec
from sparse_hw.spec.dump import to_yaml
from tests.reference_cases import REFERENCE, input_files, results

V4 = REFERENCE / "v4_timeloopfe"
DESIGNS = REFERENCE / "designs"
V4_ARCHS = ("sparseloop/04.2.1-eyeriss-like-gating", "sparseloop/04.2.3-eyeriss-like-onchip-compression")


def _roundtrip(spec, tmp_path: Path, dialect: str):
    folder = tmp_path / dialect
    files = spec.dump(folder, dialect)
    again = load_spec(files)
    return again


def test_every_reference_case_loads_and_round_trips(tmp_path: Path) -> None:
    """All cases: to_dict -> one YAML file -> load; every 25th case also through `Spec.dump` (one file per part)."""
    cases = list(results().case_id)
    assert len(cases) >= 400
    mismatches = []
    single = tmp_path / "case.yaml"
    for i, case in enumerate(cases):
        spec = load_spec(input_files(case))
        assert spec.architecture is not None and spec.problem is not None, case
        assert spec.mapping is not None or spec.mapper is not None, case
        single.write_text(to_yaml(spec.to_dict("v0.3")))
        again = load_spec([single]) if i % 25 else _roundtrip(spec, tmp_path / str(i), "v0.3")
        if again != spec:
            a, b = spec.semantic(), again.semantic()
            mismatches.append(f"{case}: {[k for k in a if a[k] != b[k]]}")
    assert not mismatches, "\n".join(mismatches[:20])


def test_model_cases_have_complete_mappings() -> None:
    df = results()
    for case in df.loc[df["mode"] == "model", "case_id"][::7]:
        spec = load_spec(input_files(case))
        flat = spec.architecture.flatten()
        assert spec.mapping is not None
        assert {d.target for d in spec.mapping.directives} <= set(flat.names())


@pytest.mark.parametrize("arch", V4_ARCHS)
def test_every_v4_spec_renders_loads_and_round_trips(arch: str, tmp_path: Path) -> None:
    problems = sorted((V4 / "spec" / "problems").glob("*.yaml"))
    assert problems
    for j, problem in enumerate(problems):
        spec = load_spec(
            [V4 / "spec" / "top.yaml.jinja2"],
            jinja_data={"architecture": arch, "problem": f"problems/{problem.name}"},
        )
        flat = spec.architecture.flatten()
        assert spec.architecture.dialect == "nodes"
        assert "inter_PE_spatial" in flat.names() and "inter_PE_column_spatial" in flat.names()
        assert spec.components and spec.mapper is not None
        for dialect in ("v0.4", "v0.3"):
            again = _roundtrip(spec, tmp_path / f"{j}", dialect)
            assert again == spec, (problem.name, dialect)


def test_v4_default_problem_renders() -> None:
    spec = load_spec([V4 / "spec" / "top.yaml.jinja2"], jinja_data={"architecture": V4_ARCHS[1]})
    # the compression folder has its own problem.yaml, picked by the template
    assert spec.problem.instance["C"] == 256


def test_every_v4_transpiled_case_loads_and_round_trips(tmp_path: Path) -> None:
    inputs = sorted(V4.glob("cases/*/inputs/input.yaml"))
    assert len(inputs) >= 26
    for j, path in enumerate(inputs):
        spec = load_spec([path])
        assert spec.architecture.version == "0.4" and spec.architecture.dialect == "tree"
        for dialect in ("v0.3", "v0.4"):
            again = _roundtrip(spec, tmp_path / f"{j}", dialect)
            assert again.semantic()["architecture"] is not None
            if dialect == "v0.3":
                assert again == spec, path


def test_v4_spec_flattens_exactly_like_the_transpiled_input() -> None:
    """Our v0.4 nodes flattening reproduces what timeloopfe handed Timeloop (every attribute)."""
    for arch, case_glob in (
        (V4_ARCHS[0], "v4__gating__alexnet_conv3__w0.5_i1__exmap"),
        (V4_ARCHS[1], "v4__compression__alexnet_conv3__w1_i0.5__mapper"),
    ):
        case = V4 / "cases" / case_glob / "inputs" / "input.yaml"
        problem = (
            "problems/alexnet_conv3__w1_i0.5.yaml"
            if "compression" in arch
            else "problems/alexnet_conv3__w0.5_i1.yaml"
        )
        ours = load_spec(
            [V4 / "spec" / "top.yaml.jinja2"], jinja_data={"architecture": arch, "problem": problem}
        )
        theirs = load_spec([case])
        a, b = ours.architecture.flatten(), theirs.architecture.flatten()
        assert [lv.name for lv in a.storage] == [lv.name for lv in b.storage]
        for x, y in zip(a.storage + [a.compute], b.storage + [b.compute]):
            assert (x.name, x.path, x.class_name, x.subclass, x.instances, x.mesh_x, x.mesh_y) == (
                y.name,
                y.path,
                y.class_name,
                y.subclass,
                y.instances,
                y.mesh_x,
                y.mesh_y,
            )
            assert x.attributes == y.attributes, x.name
        assert _constraint_set(ours.arch_constraints) == _constraint_set(theirs.arch_constraints)
        assert ours.sparse_optimizations == theirs.sparse_optimizations


def _constraint_set(items):
    """Constraints keyed by (target, type), keep/bypass as sets (timeloopfe writes sets in any order)."""
    out = {}
    for d in items:
        data = d.model_dump(exclude={"source"})
        for key in ("keep", "bypass"):
            data[key] = None if data[key] is None else frozenset(data[key])
        out[(d.target, d.type)] = data
    return out


@pytest.mark.parametrize("design", ["dense", "gating", "compression"])
def test_eyeriss_like_designs_load(design: str, tmp_path: Path) -> None:
    folder = DESIGNS / design
    ert = DESIGNS / (
        "accelergy_ert_compression_arch" if design == "compression" else "accelergy_ert_gating_arch"
    )
    files = [folder / "arch.yaml", *sorted((folder / "components").glob("*.yaml"))]
    if (folder / "sparse_opt.yaml").exists():
        files.append(folder / "sparse_opt.yaml")
    files += [
        ert / "ERT.yaml",
        ert / "ART.yaml",
        folder / "eyeriss_like_arch_constraints.yaml",
        folder / "eyeriss_like_map_constraints.yaml",
        DESIGNS / "mapper.yaml",
        DESIGNS / "exercise_problem_alexnet_conv3.yaml",
    ]
    if design != "compression":
        files.append(DESIGNS / "exercise_mapping_alexnet_conv3.yaml")
    spec = load_spec(files)
    flat = spec.architecture.flatten()
    assert flat.names() == ["psum_spad", "weights_spad", "ifmap_spad", "DummyBuffer", "shared_glb", "DRAM"]
    assert flat.level("ifmap_spad").instances == 168 and flat.level("ifmap_spad").mesh_x == 14
    assert flat.level("DummyBuffer").instances == 14
    assert set(spec.components) >= {"mac", "smartbuffer", "smartbuffer_metadata", "regfile_metadata"}
    assert spec.ert.component("eyeriss_168.PE[0..167].MACs") is not None
    assert _roundtrip(spec, tmp_path, "v0.3") == spec


def test_eyeriss_v2_designs_load(tmp_path: Path) -> None:
    pe = DESIGNS / "eyeriss_v2_pe"
    spec = load_spec(
        [
            pe / "artifact_problem_mobilenet05_L07_uniform.yaml",
            pe / "arch.yaml",
            pe / "sparse_opt.yaml",
            pe / "ERT.yaml",
            pe / "ART.yaml",
            pe / "artifact_mapping_mobilenet05_L07.yaml",
        ]
    )
    assert spec.problem.shape.name == "grouped-CONV"
    assert spec.problem.shape.dimensions == ["R", "S", "E", "F", "C", "M", "N", "G"]
    assert spec.problem.densities["Inputs"].distribution == "hypergeometric"
    assert spec.problem.densities["Outputs"].density == 1.0
    assert _roundtrip(spec, tmp_path / "pe", "v0.3") == spec
    full = DESIGNS / "eyeriss_v2"
    files = [
        full / "arch.yaml",
        full / "components" / "compound_components.yaml",
        full / "sparse_opt.yaml",
        full / "ERT.yaml",
        full / "ART.yaml",
        full / "arch_constraints.yaml",
        full / "map_constraints.yaml",
        full / "mapper.yaml",
        full / "accelergy_ert" / "ERT.yaml",
    ]
    # the Accelergy output folder repeats ERT.yaml: a key given in two files is refused
    with pytest.raises(Exception, match="given in both"):
        load_spec(files)
    spec = load_spec(files[:-1])
    flat = spec.architecture.flatten()
    assert flat.compute.instances == 192 and (flat.compute.mesh_x, flat.compute.mesh_y) == (32, 6)
    assert flat.level("psum_glb").instances == 16 and flat.level("psum_glb").mesh_x == 8
    assert spec.mapper.timeout == 20000
    assert _roundtrip(spec, tmp_path / "full", "v0.3") == spec
