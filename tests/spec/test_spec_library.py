"""The built-in architectures equal the reference designs they come from (levels, sparse opts, ERT/ART)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparse_hw.spec import load_spec
from sparse_hw.spec.library import (
    architecture_files,
    exploited_tensors,
    list_architectures,
    load_architecture,
)
from tests.reference_cases import REFERENCE

DESIGNS = REFERENCE / "designs"
# attributes our v0.4 flattening adds (timeloopfe's defaults and bookkeeping); they change nothing Timeloop models
V4_ADDED = {
    "meshX",
    "meshY",
    "power_gated_at",
    "has_power_gating",
    "n_banks",
    "cluster_size",
    "reduction_supported",
    "multiple_buffering",
    "min_utilization",
    "allow_overbooking",
}


def _reference(name: str) -> list[Path]:
    if name.startswith("eyeriss_like"):
        design = {
            "eyeriss_like": "dense",
            "eyeriss_like_gating": "gating",
            "eyeriss_like_compressed": "compression",
        }[name]
        ert = DESIGNS / (
            "accelergy_ert_compression_arch" if design == "compression" else "accelergy_ert_gating_arch"
        )
        files = [DESIGNS / design / "arch.yaml", *sorted((DESIGNS / design / "components").glob("*.yaml"))]
        if (DESIGNS / design / "sparse_opt.yaml").exists():
            files.append(DESIGNS / design / "sparse_opt.yaml")
        return files + [
            ert / "ERT.yaml",
            ert / "ART.yaml",
            DESIGNS / design / "eyeriss_like_arch_constraints.yaml",
            DESIGNS / design / "eyeriss_like_map_constraints.yaml",
            DESIGNS / "mapper.yaml",
        ]
    if name == "eyeriss_v2_pe":
        pe = DESIGNS / "eyeriss_v2_pe"
        return [pe / "arch.yaml", pe / "sparse_opt.yaml", pe / "ERT.yaml", pe / "ART.yaml"]
    full = DESIGNS / "eyeriss_v2"
    return [
        full / "arch.yaml",
        full / "components" / "compound_components.yaml",
        full / "sparse_opt.yaml",
        full / "ERT.yaml",
        full / "ART.yaml",
        full / "arch_constraints.yaml",
        full / "map_constraints.yaml",
        full / "mapper.yaml",
    ]


NAMES = ["eyeriss_like", "eyeriss_like_gating", "eyeriss_like_compressed", "eyeriss_v2_pe", "eyeriss_v2"]


@pytest.mark.parametrize("name", NAMES)
def test_builtin_equals_reference_design(name: str, tmp_path: Path) -> None:
    ours = load_architecture(name)
    files = _reference(name)
    if name == "eyeriss_v2":
        files = _with_documented_v2_changes(files, tmp_path)
    ref = load_spec(files)
    a, b = ours.architecture.flatten(), ref.architecture.flatten()
    assert a.names() == b.names()
    for x, y in zip(a.storage + [a.compute], b.storage + [b.compute]):
        assert (x.name, x.class_name, x.subclass, x.instances, x.mesh_x, x.mesh_y) == (
            y.name,
            y.class_name,
            y.subclass,
            y.instances,
            y.mesh_x,
            y.mesh_y,
        )
        for key, value in y.attributes.items():
            if key in ("meshX", "meshY"):
                continue
            assert x.attributes.get(key) == value, (x.name, key)
        assert set(x.attributes) - set(y.attributes) <= V4_ADDED, x.name
        if x is not a.compute:
            assert x.capacity_words() == y.capacity_words() and x.word_bits == y.word_bits
            assert x.metadata_capacity_bits() == y.metadata_capacity_bits()
        # ERT / ART: the same entries reach each level
        assert ours.ert.component(x.path) == ref.ert.component(y.path)
        assert ours.art.component(x.path) == ref.art.component(y.path)
    targets = lambda spec: None if spec.sparse_optimizations is None else spec.sparse_optimizations.targets
    assert targets(ours) == targets(ref)
    if name != "eyeriss_v2_pe":
        assert ours.semantic()["arch_constraints"] == ref.semantic()["arch_constraints"]
        assert ours.semantic()["mapspace_constraints"] == ref.semantic()["mapspace_constraints"]
        assert ours.mapper.model_dump(exclude={"version"}) == ref.mapper.model_dump(exclude={"version"})
    assert set(ours.components) >= set(ref.components)


def _with_documented_v2_changes(files: list[Path], tmp: Path) -> list[Path]:
    """The reference design's files with the two changes arch/eyeriss_v2/README.md documents: 0-bit outer
    UOP ranks flatten every dimension; the spatial factors of M and C across clusters and of S across PE rows
    are free."""
    out = []
    for f in files:
        text = f.read_text()
        if f.name == "sparse_opt.yaml":
            old = "- format: UOP\n              payload-word-bits:  0\n"
            assert text.count(old) == 22
            text = text.replace(old, old + "              flattened-rankIDs: [[R, S, E, F, C, M, N, G]]\n")
        elif f.name == "arch_constraints.yaml":
            assert text.count(" M=8 C=2\n") == 1 and text.count(" G=1 S=0\n") == 1
            text = text.replace(" M=8 C=2\n", "\n").replace(" G=1 S=0\n", " G=1\n")
        else:
            out.append(f)
            continue
        target = tmp / f.name
        target.write_text(text)
        out.append(target)
    return out


def test_builtin_with_reference_problem_and_mapping_equals_reference_case() -> None:
    case = REFERENCE / "cases" / "ref__gating__resnet18_conv4x__w0.5_i0.5__model__fixmap" / "inputs"
    ours = load_spec(
        [*architecture_files("eyeriss_like_gating"), case / "problem.yaml", case / "mapping.yaml"]
    )
    ref = load_spec(sorted(case.glob("*.yaml")))
    assert ours.mapping == ref.mapping and ours.problem == ref.problem
    assert [lv.capacity_words() for lv in ours.architecture.flatten().storage] == [
        lv.capacity_words() for lv in ref.architecture.flatten().storage
    ]


def test_list_architectures() -> None:
    infos = {a.name: a for a in list_architectures()}
    assert set(NAMES) <= set(infos)
    assert infos["eyeriss_like"].pes == 168 and infos["eyeriss_like"].exploits == ()
    assert infos["eyeriss_like_gating"].exploits == ("inputs",)
    assert infos["eyeriss_like_compressed"].exploits == ("inputs",)
    assert infos["eyeriss_v2_pe"].pes == 1 and infos["eyeriss_v2_pe"].exploits == ("weights", "inputs")
    assert infos["eyeriss_v2"].pes == 192 and infos["eyeriss_v2"].exploits == ("weights", "inputs")
    for info in infos.values():
        assert info.description, info.name
        assert (info.folder / "README.md").is_file()


def test_architecture_files_order_and_unknown_name() -> None:
    files = [f.name for f in architecture_files("eyeriss_like_compressed")]
    assert files[0] == "arch.yaml" and files[-1] == "mapper.yaml"
    assert files.index("sparse_opt.yaml") < files.index("ERT.yaml") < files.index("constraints.yaml")
    with pytest.raises(Exception, match="unknown architecture 'eyeriss_lik'.*Did you mean"):
        architecture_files("eyeriss_lik")


def test_exploited_tensors_of_reference_cases() -> None:
    case = (
        REFERENCE
        / "cases"
        / "ref__eyeriss_v2_pe__mobilenet05_L07__artifact_uniform__model__artifactmap"
        / "inputs"
    )
    assert exploited_tensors(load_spec(sorted(case.glob("*.yaml")))) == ["Weights", "Inputs"]


def test_mappings_folder_loads_with_its_architectures() -> None:
    mappings = Path(__file__).resolve().parent.parent.parent / "mappings"
    cases = REFERENCE / "cases"
    combos = [
        (
            "eyeriss_like",
            DESIGNS / "exercise_problem_alexnet_conv3.yaml",
            "eyeriss_like/alexnet_conv3_exercise.yaml",
        ),
        (
            "eyeriss_like_compressed",
            cases / "ref__compression__resnet18_conv4x__w1_i1__mapper/inputs/problem.yaml",
            "eyeriss_like_compressed/resnet18_conv4x_timeloop_best.yaml",
        ),
        (
            "eyeriss_v2_pe",
            DESIGNS / "eyeriss_v2_pe/artifact_problem_mobilenet05_L07_uniform.yaml",
            "eyeriss_v2_pe/mobilenet05_L07_artifact.yaml",
        ),
        (
            "eyeriss_v2",
            cases / "ref__eyeriss_v2__mobilenet05_L07__w1_i1__mapper/inputs/problem.yaml",
            "eyeriss_v2/mobilenet05_L07_timeloop_best.yaml",
        ),
    ]
    for arch, problem, mapping in combos:
        spec = load_spec([*architecture_files(arch), problem, mappings / mapping])
        assert spec.mapping is not None and spec.problem is not None, arch
        assert {d.target for d in spec.mapping.directives} <= set(spec.architecture.flatten().names())
    for folder in ("eyeriss_like", "eyeriss_v2", "eyeriss_v2_pe"):
        assert load_spec([mappings / folder / "mapper.yaml"]).mapper.optimization_metrics == [
            "delay",
            "energy",
        ]
