"""One test per class of bad input: each raises SpecError naming the file, key path and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparse_hw.errors import SpecError
from sparse_hw.spec import load_spec

DATA = Path(__file__).resolve().parent.parent / "data" / "spec"
ARCH = DATA / "tiny_arch.yaml"
PROBLEM = DATA / "tiny_problem.yaml"
MAPPING = DATA / "tiny_mapping.yaml"
SPARSE = DATA / "tiny_sparse_opt.yaml"


def test_the_tiny_fixture_is_valid() -> None:
    spec = load_spec([ARCH, PROBLEM, MAPPING, SPARSE])
    flat = spec.architecture.flatten()
    assert flat.names() == ["reg", "buffer", "DRAM"]
    assert flat.level("reg").instances == 4 and flat.compute.name == "mac"
    assert spec.problem.densities["A"].distribution == "fixed_structured"
    assert spec.problem.densities["Z"].density == 1.0
    # `datatype` -> bypass, `C1 M8` factors, `MK N` permutation, residual `K=4,4`
    kinds = [d.type for d in spec.mapping.directives]
    assert kinds[0] == "bypass"
    assert spec.mapping.directives[1].factors == {"M": 1, "N": 1, "K": 1}
    assert spec.mapping.directives[3].permutation == ["M", "K", "N"]
    assert spec.mapping.directives[4].factors["K"] == 4 and spec.mapping.directives[4].residuals == {"K": 4}
    assert spec.sparse_target("buffer").representation_format[0].ranks[0].format == "UOP"


def test_malformed_yaml_names_the_line() -> None:
    with pytest.raises(SpecError, match=r"bad_yaml\.yaml:5: malformed YAML") as info:
        load_spec([ARCH, DATA / "bad_yaml.yaml"])
    assert info.value.problems[0].line == 5


def test_wrong_type() -> None:
    with pytest.raises(SpecError, match=r"problem\.instance\.M'.*valid integer.*'eight'.*whole number"):
        load_spec([ARCH, DATA / "bad_wrong_type.yaml"])


def test_density_outside_0_1() -> None:
    with pytest.raises(
        SpecError, match=r"problem\.instance\.densities\.A\.density'.*less than or equal to 1.*1\.5"
    ):
        load_spec([ARCH, DATA / "bad_density.yaml"])


def test_density_negative() -> None:
    with pytest.raises(SpecError, match=r"densities.*greater than or equal to 0"):
        _load_text(PROBLEM.read_text().replace("A: 0.5", "A: -0.1"))


def test_dimension_missing_from_instance() -> None:
    with pytest.raises(
        SpecError, match=r"dimension\(s\) K missing from the instance.*give every dimension a size"
    ):
        load_spec([ARCH, DATA / "bad_missing_dimension.yaml"])


def test_mapping_factor_product_differs_from_dimension() -> None:
    with pytest.raises(
        SpecError, match=r"factors of K multiply to 12 over all levels but the problem has K=16"
    ):
        load_spec([ARCH, PROBLEM, DATA / "bad_factor_product.yaml"])


def test_mapping_target_not_in_architecture() -> None:
    with pytest.raises(
        SpecError,
        match=r"mapping\[2\]\.target'.*'bufer' is not a storage level.*Did you mean "
        r"'buffer'.*use one of: DRAM, buffer, reg",
    ) as info:
        load_spec([ARCH, PROBLEM, DATA / "bad_mapping_target.yaml"])
    assert len(info.value.problems) == 2


def test_unknown_key_lists_known_keys() -> None:
    with pytest.raises(
        SpecError,
        match=r"unknown key 'condition-onn'\. Did you mean 'condition-on'\? "
        r"Known keys: target, condition-on",  # the file's hyphenated spelling, as the user wrote it
    ):
        load_spec([ARCH, PROBLEM, DATA / "bad_unknown_key.yaml"])


def test_unknown_top_level_key() -> None:
    with pytest.raises(
        SpecError,
        match=r"unknown top-level key 'mappings'\. Did you mean 'mapping'\?.*Known keys: "
        r"architecture, problem",
    ):
        _load_text("mappings: []\n")


def test_unknown_sparse_optimization_target() -> None:
    with pytest.raises(
        SpecError,
        match=r"sparse optimization target 'regs' is not a level of the architecture\. "
        r"Did you mean 'reg'\?",
    ):
        load_spec([ARCH, PROBLEM, DATA / "bad_sparse_target.yaml"])


def test_capacity_that_can_never_fit() -> None:
    with pytest.raises(
        SpecError,
        match=r"level 'reg' holds 1 words but must hold at least one element of each data "
        r"space it keeps \(A, B\); no mapping can fit",
    ):
        load_spec([ARCH, PROBLEM, DATA / "bad_capacity.yaml"])


def test_outermost_level_too_small_for_the_tensors(tmp_path: Path) -> None:
    arch = ARCH.read_text().replace(
        "attributes: {width: 64, datawidth: 16}", "attributes: {width: 64, datawidth: 16, depth: 10}"
    )
    path = tmp_path / "arch.yaml"
    path.write_text(arch)
    with pytest.raises(
        SpecError, match=r"level 'DRAM' holds 40 words but must hold at least the whole tensors"
    ):
        load_spec([path, PROBLEM])


def test_several_problems_are_reported_at_once() -> None:
    with pytest.raises(SpecError, match=r"^[0-9]+ problems found") as info:
        load_spec(
            [
                ARCH,
                DATA / "bad_several.yaml",
                DATA / "bad_mapping_target.yaml",
                DATA / "bad_sparse_target.yaml",
            ]
        )
    text = str(info.value)
    for part in (
        "unknown key 'read-only'",
        "less than or equal to 1",
        "K missing from the instance",
        "bad_several.yaml",
    ):
        assert part in text, part
    assert len(info.value.problems) >= 3


def test_cross_file_problems_are_reported_together() -> None:
    with pytest.raises(SpecError) as info:
        load_spec([ARCH, PROBLEM, DATA / "bad_mapping_target.yaml", DATA / "bad_sparse_target.yaml"])
    messages = [p.message for p in info.value.problems]
    assert any("bufer" in m for m in messages) and any("regs" in m for m in messages)
    assert all(p.file for p in info.value.problems) and all(p.fix for p in info.value.problems)


def test_key_given_in_two_files_names_both() -> None:
    with pytest.raises(
        SpecError, match=r"key 'problem' is given in both .*tiny_problem\.yaml and .*bad_density"
    ):
        load_spec([ARCH, PROBLEM, DATA / "bad_density.yaml"])


def test_missing_file() -> None:
    with pytest.raises(SpecError, match=r"nope\.yaml.*file not found"):
        load_spec([DATA / "nope.yaml"])


def test_unknown_dimension_in_mapping_and_constraints(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "architecture_constraints:\n  targets:\n    - {target: buffer, type: temporal, factors: X=2}\n"
        "    - {target: nowhere, type: bypass, keep: [A, Q]}\n"
    )
    with pytest.raises(SpecError) as info:
        load_spec([ARCH, PROBLEM, path])
    text = str(info.value)
    assert (
        "unknown dimension(s) X" in text and "'nowhere' is not a level" in text and "data space(s) Q" in text
    )


def test_mesh_must_divide_instances(tmp_path: Path) -> None:
    path = tmp_path / "arch.yaml"
    path.write_text(ARCH.read_text().replace("meshX: 4}", "meshX: 3}"))
    with pytest.raises(
        SpecError, match=r"local\[0\]\.attributes\.meshX'.*meshX 3 does not divide the 4 instances"
    ):
        load_spec([path])


def test_jinja_variable_missing() -> None:
    top = DATA.parent.parent.parent.parent / "shared" / "reference" / "timeloop" / "v4_timeloopfe" / "spec"
    with pytest.raises(SpecError, match=r"'architecture' is undefined.*jinja_data"):
        load_spec([top / "top.yaml.jinja2"])


def test_bad_expression_in_v4_attributes(tmp_path: Path) -> None:
    path = tmp_path / "arch.yaml"
    path.write_text(
        "architecture:\n  version: 0.4\n  nodes:\n  - !Container {name: top}\n"
        "  - !Component {name: DRAM, class: DRAM, attributes: {width: 64, datawidth: wordbits * 2}}\n"
        "  - !Component {name: mac, class: intmac, attributes: {}}\n"
    )
    with pytest.raises(
        SpecError, match=r"cannot evaluate attribute datawidth: 'wordbits \* 2': unknown name 'wordbits'"
    ):
        load_spec([path])


def _load_text(text: str):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "extra.yaml"
        path.write_text(text)
        return load_spec([ARCH, path])


def test_architecture_attribute_of_wrong_type(tmp_path: Path) -> None:
    path = tmp_path / "arch.yaml"
    path.write_text(
        ARCH.read_text().replace("attributes: {depth: 64, width: 16", "attributes: {depth: lots, width: 16")
    )
    with pytest.raises(
        SpecError,
        match=r"architecture\.subtree\[0\]\.local\[1\]\.attributes\.depth'.*attribute depth "
        r"is 'lots', not a number",
    ):
        load_spec([path])
