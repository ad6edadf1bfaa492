"""Issue 15 item 2: a Jinja template in any input cannot run code, read files outside the input
files' folders, or burn unbounded CPU and memory; legal templates (issue 11) still render."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from sparse_hw.errors import SpecError
from sparse_hw.spec import load_spec
from sparse_hw.spec.jinja import render
from tests.reliability.hostile_cli import assert_refused, run_cli

PROBLEM = """problem:
  shape:
    name: GEMM
    dimensions: [M, N]
    data_spaces:
      - {name: A, projection: [[[M]]]}
      - {name: Z, projection: [[[M]], [[N]]], read_write: true}
  instance: {M: 4, N: 2}
"""
SECRET = "TOP-SECRET-4711"


def _popen(marker: Path) -> str:
    return "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}"


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """``tmp/inputs/`` holds the inputs; ``tmp/secret.*`` lies outside that tree."""
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    (tmp_path / "secret.yaml").write_text("k: 4711\n")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    return inputs


@pytest.mark.parametrize(
    ("command", "name"),
    [("check", "top.yaml.jinja2"), ("check", "problem.yaml"), ("model", "problem.yaml"), ("map", "p.yml")],
)
def test_code_execution_payload_is_refused(tree: Path, command: str, name: str) -> None:
    marker = tree.parent / "PWNED"
    f = tree / name
    f.write_text(f'variables:\n  x: "{_popen(marker)}"\n' + PROBLEM)
    proc = run_cli(command, f)
    assert_refused(proc, names=f, says="sandbox forbids")
    assert not marker.exists()


def test_payload_in_an_included_file_is_refused(tree: Path) -> None:
    marker = tree.parent / "PWNED"
    (tree / "evil.yaml").write_text(f'problem:\n  x: "{_popen(marker)}"\n')
    top = tree / "top.yaml"
    top.write_text("problem: {{ include('evil.yaml', 'problem') }}\n")
    proc = run_cli("check", top)
    assert_refused(proc, names=tree / "evil.yaml", says="sandbox forbids")
    assert not marker.exists()


@pytest.mark.parametrize(
    "call",
    [
        "include_text('../secret.txt')",
        "include_text('{outside}/secret.txt')",
        "include('../secret.yaml', 'k')",
        "include_all('../*.yaml')",
        "find_path('../secret.txt')",
        "include_text('/etc/passwd')",
    ],
)
def test_reads_outside_the_input_tree_are_refused(tree: Path, call: str) -> None:
    top = tree / "top.yaml"
    top.write_text("variables:\n  x: {{ " + call.format(outside=tree.parent) + " }}\n" + PROBLEM)
    proc = run_cli("check", top)
    err = assert_refused(proc, names=top, says="outside the input files' folders")
    assert "4711" not in err and "root:" not in err


def test_symlink_inside_the_tree_cannot_lead_out(tree: Path) -> None:
    (tree / "link.txt").symlink_to(tree.parent / "secret.txt")
    top = tree / "top.yaml"
    top.write_text("variables:\n  x: {{ include_text('link.txt') }}\n" + PROBLEM)
    with pytest.raises(SpecError, match="outside the input files' folders") as info:
        load_spec([top])
    assert SECRET not in str(info.value)


def test_path_exists_outside_is_false_and_roots_can_be_widened(tree: Path, monkeypatch) -> None:
    top = tree / "top.yaml"
    top.write_text(
        "variables:\n  seen: {{ path_exists('../secret.txt') }}\n  k: {{ include('../secret.yaml', 'k') }}\n"
    )
    with pytest.raises(SpecError, match="outside"):
        render(top, None)
    assert render(top, None, roots=[tree.parent])["variables"] == {"seen": True, "k": 4711}
    monkeypatch.setenv("SPARSE_HW_INCLUDE_ROOTS", str(tree.parent))
    assert render(top, None)["variables"]["k"] == 4711
    monkeypatch.delenv("SPARSE_HW_INCLUDE_ROOTS")
    assert load_spec([top], include_roots=[tree.parent]).variables["k"] == 4711


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("{% for i in range(10**9) %}{% endfor %}", "Range too big"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
         "ran longer than"),
        ("{{ 'a' * 10**9 }}", "larger than the"),
        ("{{ 10 ** (10 ** 8) }}", "more than 65,536 bits"),
        ("{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
         "larger than the"),
        ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "renders to more than"),
        ("{{ 'x' | center(10**9) }}", "larger than the"),
        ("{{ '{:>9999999999}'.format(1) }}", "more memory"),
    ],
)
def test_render_cost_is_bounded(tree: Path, body: str, says: str) -> None:
    top = tree / "top.yaml"
    top.write_text(body + "\n" + PROBLEM)
    proc = run_cli("check", top, env={"SPARSE_HW_TEMPLATE_SECONDS": "1"})
    assert_refused(proc, names=top, says=says)


def test_memory_bound_is_lifted_after_a_render(tree: Path) -> None:
    before = resource.getrlimit(resource.RLIMIT_AS)
    top = tree / "top.yaml"
    top.write_text("{{ '{:>9999999999}'.format(1) }}\n")
    with pytest.raises(SpecError, match="more memory"):
        render(top, None)
    assert resource.getrlimit(resource.RLIMIT_AS) == before


def test_include_loop_is_refused(tree: Path) -> None:
    (tree / "a.yaml").write_text("problem: {{ include('b.yaml', 'problem') }}\n")
    (tree / "b.yaml").write_text("problem: {{ include('a.yaml', 'problem') }}\n")
    with pytest.raises(SpecError, match="loop"):
        load_spec([tree / "a.yaml"])


def test_jinja_in_any_file_and_in_included_files_is_rendered(tree: Path) -> None:
    """Issue 11: any input with Jinja is rendered whatever its name, included files are rendered too,
    and an include may reach the folder that holds all the inputs (a layer file's ``../base.yaml``)."""
    shapes = tree / "layer_shapes"
    for sub in ("net", "other"):
        (shapes / sub).mkdir(parents=True)
    (shapes / "base.yaml").write_text(PROBLEM.replace("{M: 4, N: 2}", "{M: {{ m }}, N: 2}"))
    (shapes / "net" / "layer.yaml").write_text("{{ include_text('../base.yaml') }}")
    (shapes / "other" / "vars.yaml").write_text("variables: {w: {{ m * 2 }}}\n")
    spec = load_spec([shapes / "net" / "layer.yaml", shapes / "other" / "vars.yaml"], jinja_data={"m": 8})
    assert spec.problem.dimension_bounds() == {"M": 8, "N": 2}
    assert spec.variables["w"] == 16
    # alone, the layer file's folder is the only root: its ../ is refused, unless allowed
    with pytest.raises(SpecError, match="outside"):
        load_spec([shapes / "net" / "layer.yaml"], jinja_data={"m": 8})
    design = tree / "design"
    design.mkdir()
    (design / "top.yaml.jinja2").write_text("problem: {{ include(problem, 'problem') }}\n")
    data = {"m": 6, "problem": "../layer_shapes/net/layer.yaml"}
    spec = load_spec([design / "top.yaml.jinja2"], jinja_data=data, include_roots=[shapes])
    assert spec.problem.dimension_bounds() == {"M": 6, "N": 2}


def test_jinja_file_tags_are_refused(tree: Path) -> None:
    (tree / "other.yaml").write_text(PROBLEM)
    top = tree / "top.yaml"
    for tag in ("{% include 'other.yaml' %}", "{% import 'other.yaml' as o %}", "{% extends '/etc/passwd' %}"):
        top.write_text(tag + "\n")
        with pytest.raises(SpecError, match="tags are not supported") as info:
            load_spec([top])
        assert info.value.problems[0].file == str(top)
