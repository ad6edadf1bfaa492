"""A template named by a relative path still finds what it includes through ``cwd()``.

timeloop-accelergy-exercises' ``top.yaml.jinja2`` builds ``cwd() ~ '/' ~ architecture ~ '/arch.yaml'``;
``cwd()`` used to return the template's folder as given (relative), so the include was joined onto that
relative folder a second time and refused as outside the input folders.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sparse_hw.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
TOP = REPO.parent / "shared/reference/examples/ex_2d55108/workspace/example_designs/example_designs/top.yaml.jinja2"


@pytest.mark.skipif(not TOP.exists(), reason="../shared/reference/examples missing")
@pytest.mark.parametrize("where", ["repo", "template folder's parent"])
def test_relative_template_path_includes_through_cwd(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    start = REPO if where == "repo" else TOP.parent.parent
    monkeypatch.chdir(start)
    rel = Path(os.path.relpath(TOP, start))
    assert not rel.is_absolute()
    spec = load_spec([rel], jinja_data={"architecture": "simple_weight_stationary"})
    assert spec.problem is not None
    names = {n.name for n in spec.architecture.leaves()} if hasattr(spec.architecture, "leaves") else None
    assert names is None or len(names) >= 2


def test_relative_template_path_with_own_include(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same rule without ../shared: a two-level design folder named relatively from a sibling."""
    design = tmp_path / "designs" / "top"
    (design / "parts").mkdir(parents=True)
    (design / "parts" / "problem.yaml").write_text(
        "problem:\n  version: 0.4\n  shape:\n    name: dot\n    dimensions: [K]\n"
        "    data_spaces:\n    - {name: A, projection: [[[K]]]}\n    - {name: Z, projection: [], read_write: true}\n"
        "  instance: {K: 4}\n"
    )
    (design / "top.yaml.jinja2").write_text("{{ include(cwd() ~ '/parts/problem.yaml') }}\n")
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = load_spec([Path("../designs/top/top.yaml.jinja2")])
    assert spec.problem.instance["K"] == 4
