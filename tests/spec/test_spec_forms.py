"""Both dialects and spellings read the same: hyphens/underscores, factor and permutation forms, v0.4 nodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparse_hw.spec import load_spec
from sparse_hw.spec.directives import parse_factors, parse_permutation
from sparse_hw.spec.expressions import evaluate
from tests.reference_cases import REFERENCE

DESIGNS = REFERENCE / "designs"
DATA = Path(__file__).resolve().parent.parent / "data" / "spec"


def _underscored(text: str) -> str:
    for word in (
        "representation-format",
        "data-spaces",
        "flattened-rankIDs",
        "action-optimization",
        "condition-on",
        "compute-optimization",
        "payload-word-bits",
        "metadata-word-bits",
        "rank-application-order",
        "read-write",
        "optimization-metrics",
        "num-threads",
        "victory-condition",
        "search-size",
        "max-permutations-per-if-visit",
        "log-stats",
        "live-status",
        "random-pruned",
    ):
        text = text.replace(word, word.replace("-", "_"))
    return text


@pytest.mark.parametrize("design", ["gating", "compression"])
def test_underscore_spelling_equals_hyphen_spelling(design: str, tmp_path: Path) -> None:
    case = REFERENCE / "cases" / f"ref__{design}__alexnet_conv3__w0.5_i0.5__mapper" / "inputs"
    files = sorted(case.glob("*.yaml"))
    hyphen = load_spec(files)
    copies = []
    for f in files:
        target = tmp_path / f.name
        target.write_text(_underscored(f.read_text()))
        copies.append(target)
    under = load_spec(copies)
    assert under == hyphen
    assert under.sparse_optimizations.targets and under.mapper.num_threads == 2
    assert under.mapper.algorithm == "random_pruned"


def test_key_spelled_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        (DATA / "tiny_problem.yaml")
        .read_text()
        .replace("        read-write: true", "        read-write: true\n        read_write: true")
    )
    with pytest.raises(Exception, match="given twice"):
        load_spec([DATA / "tiny_arch.yaml", path])


@pytest.mark.parametrize(
    ("text", "factors", "residuals"),
    [
        ("C=1 M=8", {"C": 1, "M": 8}, {}),
        ("C1 M8", {"C": 1, "M": 8}, {}),
        ("C 4", {"C": 4}, {}),
        ("R=1,S=1,P=1", {"R": 1, "S": 1, "P": 1}, {}),
        (["N=1", "C=1"], {"N": 1, "C": 1}, {}),
        ("C=4,3 M=2", {"C": 4, "M": 2}, {"C": 3}),
        ("P=0 Q=1 # full P", {"P": 0, "Q": 1}, {}),
    ],
)
def test_factor_forms(text, factors, residuals) -> None:
    assert parse_factors(text) == (factors, residuals)


def test_factor_bounds_only_in_constraints() -> None:
    assert parse_factors("C>=4 M<=8", allow_bounds=True) == ({"C": (">=", 4), "M": ("<=", 8)}, {})
    with pytest.raises(ValueError, match="exact factors"):
        parse_factors("C>=4")
    with pytest.raises(ValueError, match="cannot read"):
        parse_factors("C=4 ; M=2")
    with pytest.raises(ValueError, match="twice"):
        parse_factors("C=4 C=2")


def test_permutation_forms() -> None:
    assert parse_permutation("RSP CMNQ") == list("RSPCMNQ")
    assert parse_permutation(["N", "C", "P"]) == ["N", "C", "P"]
    assert parse_permutation("QRSC_PNM", allow_separator=True) == list("QRSC_PNM")


def test_density_forms() -> None:
    text = (
        (DATA / "tiny_problem.yaml")
        .read_text()
        .replace(
            "B: {distribution: hypergeometric, density: 0.25}",
            "B: {distribution: banded, density: 0.25, band_width: 3}\n      Z: {distribution: fixed-structured, density: 1}",
        )
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.yaml"
        path.write_text(text)
        spec = load_spec([path])
    d = spec.problem.densities
    assert (d["A"].distribution, d["A"].density) == ("fixed_structured", 0.5)
    assert d["B"].distribution == "banded" and d["B"].params == {"band_width": 3}
    assert d["Z"].distribution == "fixed_structured" and d["Z"].density == 1.0
    assert spec.problem.instance == {"M": 8, "N": 4, "K": 16}
    assert spec.problem.tensor_size("A") == 8 * 16


def test_projection_with_coefficients() -> None:
    spec = load_spec([REFERENCE / "designs" / "exercise_problem_alexnet_conv3.yaml"])
    inputs = spec.problem.data_space("Inputs")
    assert [[(t.dim, t.coefficient) for t in c] for c in inputs.projection] == [
        [("N", None)],
        [("C", None)],
        [("R", "Wdilation"), ("P", "Wstride")],
        [("S", "Hdilation"), ("Q", "Hstride")],
    ]
    assert spec.problem.coefficient_values() == {"Wstride": 1, "Hstride": 1, "Wdilation": 1, "Hdilation": 1}
    assert spec.problem.tensor_size("Inputs") == 4 * 256 * 15 * 15


def test_expressions() -> None:
    assert evaluate("12800", {}) == 12800
    assert evaluate("45nm", {}) == "45nm"
    assert evaluate("must_specify", {}) == "must_specify"
    assert evaluate("depth * 2", {"depth": 8}) == 16
    assert evaluate("max(1, ceil(log2(depth)))", {"depth": 12}) == 4
    assert evaluate("1e-9", {}) == 1e-9
    with pytest.raises(ValueError, match="unknown name"):
        evaluate("dpeth * 2", {"depth": 8})
    with pytest.raises(ValueError, match="unsupported"):
        evaluate("__import__('os').system('true') * 2", {})


def test_v4_nodes_with_variables_parallel_and_container_fanout(tmp_path: Path) -> None:
    path = tmp_path / "arch.yaml"
    path.write_text("""
variables: {version: 0.4, word: 8, glb_depth: word * 256}
architecture:
  version: 0.4
  nodes:
  - !Container {name: chip, attributes: {technology: "45nm"}}
  - !Component {name: DRAM, class: DRAM, attributes: {width: 64, datawidth: word}}
  - !Component {name: glb, class: SRAM, attributes: {depth: glb_depth, width: word * 8, datawidth: word}}
  - !Container
    name: PE
    spatial: {meshX: 4, meshY: 2}
    constraints: {spatial: {factors: [N=1], permutation: [M, N]}}
  - !Parallel
    nodes:
    - !Component {name: wbuf, class: regfile, attributes: {depth: 16, width: word, datawidth: word},
                  constraints: {dataspace: {keep: [B]}}}
    - !Component {name: abuf, class: regfile, attributes: {depth: 16, width: word, datawidth: word},
                  constraints: {dataspace: {keep: [A, Z]}}}
  - !Component {name: mac, class: intmac, attributes: {multiplier_width: word}}
""")
    spec = load_spec([path, DATA / "tiny_problem.yaml"])
    flat = spec.architecture.flatten()
    assert flat.names() == ["abuf", "wbuf", "inter_PE_spatial", "glb", "DRAM"]
    glb = flat.level("glb")
    assert (
        glb.attributes["depth"] == 2048 and glb.attributes["width"] == 64 and glb.capacity_words() == 2048 * 8
    )
    assert glb.attributes["technology"] == "45nm" and glb.attributes["n_banks"] == 2  # timeloopfe default
    dummy = flat.level("inter_PE_spatial")
    assert (dummy.instances, dummy.class_name, dummy.attributes["technology"]) == (1, "dummy_storage", -1)
    wbuf = flat.level("wbuf")
    assert (wbuf.instances, wbuf.mesh_x, wbuf.mesh_y) == (8, 4, 2)
    assert wbuf.path == "chip_top_level.wbuf[1..8]"
    cons = {(d.target, d.type): d for d in spec.arch_constraints}
    assert cons[("inter_PE_spatial", "spatial")].factors == {"N": 1}
    assert cons[("inter_PE_spatial", "temporal")].factors == {"M": 1, "N": 1, "K": 1}
    assert set(cons[("inter_PE_spatial", "bypass")].bypass) == {"A", "B", "Z"}
    # a !Parallel branch bypasses what its siblings keep
    assert set(cons[("wbuf", "bypass")].bypass) == {"A", "Z"}
    assert set(cons[("abuf", "bypass")].bypass) == {"B"}


def test_v4_component_fanout_is_carried_by_the_level_above(tmp_path: Path) -> None:
    path = tmp_path / "arch.yaml"
    path.write_text("""
architecture:
  version: 0.4
  nodes:
  - !Container {name: chip}
  - !Component {name: DRAM, class: DRAM, attributes: {width: 64, datawidth: 16}}
  - !Component {name: buf, class: SRAM, attributes: {depth: 0, width: 16, datawidth: 16}, spatial: {meshX: 14},
                constraints: {spatial: {factors: [K=1]}}}
  - !Component {name: spad, class: regfile, attributes: {depth: 4, width: 16, datawidth: 16}, spatial: {meshY: 12}}
  - !Component {name: mac, class: compute, attributes: {datawidth: 16}}
""")
    spec = load_spec([path, DATA / "tiny_problem.yaml"])
    flat = spec.architecture.flatten()
    assert flat.names() == ["spad", "buf", "DRAM"]
    assert (flat.level("buf").instances, flat.level("spad").instances) == (14, 168)
    assert (flat.level("spad").mesh_x, flat.level("spad").mesh_y) == (14, 12)
    spatial = [d for d in spec.arch_constraints if d.type == "spatial"]
    assert [(d.target, d.factors) for d in spatial] == [("DRAM", {"K": 1})]


def test_compound_components_merge_across_files() -> None:
    comps = sorted((DESIGNS / "dense" / "components").glob("*.yaml"))
    spec = load_spec(comps)
    assert set(spec.components) == {"mac", "regfile_metadata", "smartbuffer", "smartbuffer_metadata"}
    mac = spec.components["mac"]
    assert [s.name for s in mac.subcomponents] == ["multiplier", "adder"]
    assert (
        mac.actions[0].name == "mac_random"
        and mac.actions[0].subcomponents[0].actions[0].name == "multiply_random"
    )


def test_ert_and_art_match_levels_by_last_path_element() -> None:
    ert_dir = DESIGNS / "accelergy_ert_gating_arch"
    spec = load_spec([DESIGNS / "dense" / "arch.yaml", ert_dir / "ERT.yaml", ert_dir / "ART.yaml"])
    flat = spec.architecture.flatten()
    weights = flat.level("weights_spad")
    entry = spec.ert.component(weights.path)
    assert entry is not None and entry.name == "eyeriss_168.PE[0..167].weights_spad"
    assert spec.ert.component("inter_PE_spatial[1..14]") is None
    assert spec.art.component("DummyBuffer").area == 0.0
    total = sum(spec.art.component(lv.path).area * lv.instances for lv in flat.storage + [flat.compute])
    assert total == pytest.approx(1_554_059, abs=1)  # the reference README's area
    dram = spec.ert.component("DRAM")
    assert dram.energy("read") == 512.0


def test_timeloopfe_constraint_macros(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "constraints:\n  version: 0.4\n  targets:\n"
        "  - {target: buffer, type: dataspace, keep_only: [A]}\n"
        "  - {target: buffer, type: temporal, factors_only: [K=4]}\n"
    )
    spec = load_spec([DATA / "tiny_arch.yaml", DATA / "tiny_problem.yaml", path])
    cons = {(d.target, d.type): d for d in spec.arch_constraints}
    assert cons[("buffer", "bypass")].keep == ["A"] and cons[("buffer", "bypass")].bypass == ["B", "Z"]
    assert cons[("buffer", "temporal")].factors == {"K": 4, "M": 1, "N": 1}
