"""Keys and forms the published Timeloop/Sparseloop examples use (issue 11), each validated like the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparse_hw.errors import SpecError
from sparse_hw.spec import load_spec
from sparse_hw.spec.constraints import ConstraintDirective
from sparse_hw.spec.expressions import ExpressionError, Namespace, evaluate

PROBLEM = """
problem:
  version: 0.4
  shape:
    name: mm
    dimensions: [M, N, K]
    data_spaces:
    - {name: A, projection: [[[M]], [[K]]]}
    - {name: B, projection: [[[N]], [[K]]]}
    - {name: Z, projection: [[[M]], [[N]]], read_write: true}
  instance: {M: 16, N: 8, K: 4}
"""

NODES_ARCH = """
architecture:
  version: 0.4
  nodes:
  - !Container {name: system}
  - !Component {name: DRAM, class: DRAM, attributes: {width: 64, datawidth: 8}}
  - !Component {name: buffer, class: SRAM, attributes: {depth: 4096, width: 64, datawidth: 8}}
  - !Container
    name: PE
    spatial: {meshX: 8}
    constraints:
      spatial: {factors: [N=1, K=1], maximize_dims: [[M]], split: len(spec.problem.instance)}
  - !Parallel
    nodes:
    - !Component
      name: reg
      class: storage
      subclass: regfile
      attributes: {depth: 64, width: 8, datawidth: 8}
      constraints: {dataspace: {keep: [Z]}}
    - !Nothing {constraints: {dataspace: {keep: [A, B]}}}
  - !Component {name: mac, class: intmac, attributes: {width: 8}}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_nothing_constraints_maximize_dims_and_split_expression(tmp_path: Path) -> None:
    spec = load_spec([_write(tmp_path, "arch.yaml", NODES_ARCH), _write(tmp_path, "prob.yaml", PROBLEM)])
    by = {(d.target, d.type): d for d in spec.arch_constraints}
    spatial = by[("inter_PE_spatial", "spatial")]
    # maximize_dims fills the fan-out of 8 with M (16 left): M=8; len(instance) counts `densities` too
    assert spatial.factors == {"N": 1, "K": 1, "M": 8}
    assert spatial.maximize_dims is None and spatial.split == 4
    # the !Nothing branch takes A and B: the register beside it bypasses them
    assert set(by[("reg", "bypass")].bypass) == {"A", "B"}


def test_container_mapping_gets_the_dummy_levels_directives(tmp_path: Path) -> None:
    arch = NODES_ARCH.replace("maximize_dims: [[M]], ", "")
    mapping = """
mapping:
- {target: DRAM, type: temporal, factors: M=1 N=8 K=4, permutation: MNK}
- {target: buffer, type: temporal, factors: M=2 N=1 K=1, permutation: MNK}
- {target: PE, type: spatial, factors: M=8 N=1 K=1, permutation: MNK}
- {target: reg, type: temporal, factors: M=1 N=1 K=1, permutation: MNK}
"""
    files = [_write(tmp_path, "a.yaml", arch), _write(tmp_path, "p.yaml", PROBLEM)]
    spec = load_spec([*files, _write(tmp_path, "m.yaml", mapping)])
    by = {(d.target, d.type): d for d in spec.mapping.directives}
    assert ("inter_PE_spatial", "spatial") in by  # the container's name stands for its dummy level
    assert set(by[("inter_PE_spatial", "bypass")].bypass) == {"A", "B", "Z"}
    assert by[("inter_PE_spatial", "temporal")].factors == {"M": 1, "N": 1, "K": 1}
    assert set(by[("reg", "bypass")].bypass) == {"A", "B"}


def test_maximize_dims_on_a_constrained_dimension_is_refused(tmp_path: Path) -> None:
    arch = NODES_ARCH.replace("maximize_dims: [[M]]", "maximize_dims: [[N]]")
    with pytest.raises(SpecError) as err:
        load_spec([_write(tmp_path, "arch.yaml", arch), _write(tmp_path, "prob.yaml", PROBLEM)])
    assert "maximize_dims cannot maximize 'N'" in str(err.value)


def test_split_expression_that_cannot_evaluate_names_the_key(tmp_path: Path) -> None:
    arch = NODES_ARCH.replace("len(spec.problem.instance)", "len(spec.problem.shapes)")
    with pytest.raises(SpecError) as err:
        load_spec([_write(tmp_path, "arch.yaml", arch), _write(tmp_path, "prob.yaml", PROBLEM)])
    assert "split" in str(err.value) and "has no field 'shapes'" in str(err.value)


def test_expressions_reach_spec_fields_only() -> None:
    names = {"spec": Namespace("spec", problem=Namespace("spec.problem", instance={"M": 3, "N": 2}))}
    assert evaluate("len(spec.problem.instance)", names) == 2
    assert evaluate("spec.problem.instance['M'] * 2", names) == 6
    for bad in ("spec.__class__", "spec.problem.instance.keys()", "spec.problem.instance.__len__"):
        with pytest.raises(ExpressionError):
            evaluate(bad, names)
    assert evaluate("a.b", {}) == "a.b"  # a dotted word with no spec behind it stays a string


def test_inequality_factor_constraints_parse_to_bounds() -> None:
    d = ConstraintDirective.model_validate({"target": "x", "type": "temporal", "factors": "K=1 M<=8 N>=2 C=0"})
    assert d.factors == {"K": 1, "M": ("<=", 8), "N": (">=", 2), "C": 0}
    assert d.factor_bounds({"K": 4, "M": 16, "N": 8, "C": 5}) == {
        "K": (1, 1),
        "M": (1, 8),
        "N": (2, 8),
        "C": (5, 5),
    }


V03_MAC_FIRST = """
architecture:
  version: 0.3
  subtree:
  - name: system
    local:
    - {name: DRAM, class: DRAM, attributes: {width: 64, word-bits: 8}}
    subtree:
    - name: PE[0..3]
      local:
      - {name: mac, class: intmac, attributes: {datawidth: 8}}
      - {name: reg, class: reg_storage, attributes: {depth: 1, width: 8, word-bits: 8}}
"""


def test_v03_mac_before_the_registers_is_still_innermost(tmp_path: Path) -> None:
    # Topology::ParseTreeSpecs makes the arithmetic level 0 wherever it sits in `local`
    spec = load_spec([_write(tmp_path, "arch.yaml", V03_MAC_FIRST)])
    flat = spec.architecture.flatten()
    assert flat.compute.name == "mac" and flat.names() == ["reg", "DRAM"]
    assert flat.compute.instances == 4


def test_split_at_or_above_the_dimension_count_is_accepted(tmp_path: Path) -> None:
    mapping = """
mapping:
- {target: DRAM, type: temporal, factors: M=4 N=8 K=4, permutation: MNK}
- {target: DRAM, type: spatial, factors: M=4 N=1 K=1, permutation: MNK, split: 9}
- {target: reg, type: temporal, factors: M=1 N=1 K=1, permutation: MNK}
"""
    files = [_write(tmp_path, "a.yaml", V03_MAC_FIRST), _write(tmp_path, "p.yaml", PROBLEM)]
    spec = load_spec([*files, _write(tmp_path, "m.yaml", mapping)])
    assert spec.mapping.directives[1].split == 9
    with pytest.raises(SpecError) as err:
        load_spec([*files, _write(tmp_path, "n.yaml", mapping.replace("split: 9", "split: -1"))])
    assert "split -1 is negative" in str(err.value)


def test_stream_is_read_and_an_empty_mapping_gives_way(tmp_path: Path) -> None:
    mapping = """
mapping:
- {target: DRAM, type: datatype, keep: [A, B, Z], bypass: [], stream: [A, B, Z]}
- {target: reg, type: datatype, keep: [Z], bypass: [A, B], stream: []}
- {target: DRAM, type: temporal, factors: M16 N8 K4, permutation: MNK}
- {target: reg, type: temporal, factors: M1 N1 K1, permutation: MNK}
"""
    processed = _write(tmp_path, "processed.yaml", "mapping: []\narchitecture_constraints: {targets: []}\n")
    spec = load_spec(
        [_write(tmp_path, "a.yaml", V03_MAC_FIRST), _write(tmp_path, "p.yaml", PROBLEM), processed,
         _write(tmp_path, "m.yaml", mapping)]
    )
    assert spec.mapping.directives[0].stream == ["A", "B", "Z"]
    assert spec.mapping.directives[1].keep == ["Z"]
    with pytest.raises(SpecError) as err:
        load_spec([_write(tmp_path, "a.yaml", V03_MAC_FIRST), _write(tmp_path, "p.yaml", PROBLEM),
                   _write(tmp_path, "n.yaml", mapping.replace("stream: []", "stream: [Q]"))])
    assert "stream names unknown data space(s) Q" in str(err.value)


COMPONENTS = """
compound_components:
  version: 0.4
  classes:
  - name: buf
    attributes: {depth: 8}
    subcomponents:
    - {name: storage, class: SRAM, attributes: {depth: depth}, area_scale: 2}
    actions:
    - name: read
      subcomponents:
      - name: storage
        actions: [{name: read, energy_scale: 0.5}]
"""


def test_energy_scale_and_area_scale(tmp_path: Path) -> None:
    spec = load_spec([_write(tmp_path, "c.yaml", COMPONENTS)])
    cls = spec.components["buf"]
    assert cls.subcomponents[0].scale() == 2
    assert cls.actions[0].subcomponents[0].actions[0].scale() == 0.5
    clash = COMPONENTS.replace("energy_scale: 0.5", "energy_scale: 0.5, action_share: 2")
    with pytest.raises(SpecError) as err:
        load_spec([_write(tmp_path, "d.yaml", clash)])
    assert "give different scales" in str(err.value) and "energy_scale" in str(err.value)


def test_real_data_density_needs_its_file(tmp_path: Path) -> None:
    dens = "    densities:\n      A: {distribution: real-data, data_file_path: /masks/a.txt}\n"
    spec = load_spec([_write(tmp_path, "p.yaml", PROBLEM)])
    assert spec.problem.real_data_densities() == []
    sizes = "  instance:\n    M: 16\n    N: 8\n    K: 4\n"
    text = PROBLEM.replace("  instance: {M: 16, N: 8, K: 4}\n", sizes + dens)
    spec = load_spec([_write(tmp_path, "q.yaml", text)])
    assert spec.problem.real_data_densities() == ["A"]
    assert spec.problem.densities["A"].data_file_path == "/masks/a.txt"
    with pytest.raises(SpecError) as err:
        load_spec([_write(tmp_path, "r.yaml", text.replace(", data_file_path: /masks/a.txt", ""))])
    assert "needs `data_file_path`" in str(err.value)


def test_position_skipping_loads(tmp_path: Path) -> None:
    sparse = """
sparse_optimizations:
  targets:
  - name: reg
    action_optimization:
    - {type: position-skipping, options: [{target: A, condition_on: [B]}]}
"""
    files = [_write(tmp_path, "a.yaml", V03_MAC_FIRST), _write(tmp_path, "p.yaml", PROBLEM)]
    spec = load_spec([*files, _write(tmp_path, "s.yaml", sparse)])
    assert spec.sparse_optimizations.targets[0].action_optimization[0].type == "position_skipping"


@pytest.mark.parametrize("dialect", ["v0.3", "v0.4"])
def test_new_forms_round_trip_through_dump(tmp_path: Path, dialect: str) -> None:
    files = [_write(tmp_path, "arch.yaml", NODES_ARCH), _write(tmp_path, "prob.yaml", PROBLEM)]
    files.append(_write(tmp_path, "c.yaml", COMPONENTS))
    spec = load_spec(files)
    again = load_spec(spec.dump(tmp_path / dialect, dialect))
    assert again == spec
    cls = again.components["buf"]
    assert cls.subcomponents[0].area_scale == 2 and cls.actions[0].subcomponents[0].actions[0].energy_scale == 0.5


def test_attribute_expressions_see_the_problem(tmp_path: Path) -> None:
    arch = NODES_ARCH.replace("{depth: 64, width: 8", "{depth: len(spec.problem.instance) * 16, width: 8")
    spec = load_spec([_write(tmp_path, "arch.yaml", arch), _write(tmp_path, "prob.yaml", PROBLEM)])
    reg = next(lv for lv in spec.architecture.flatten().storage if lv.name == "reg")
    assert reg.attributes["depth"] == 64  # M, N, K and densities
    with pytest.raises(SpecError) as err:  # without a problem there is no spec.problem to read
        load_spec([_write(tmp_path, "alone.yaml", arch)])
    assert "depth" in str(err.value)
