"""The wheel is a real install: built, unpacked outside the checkout, it finds its built-in data.

A wheel without ``arch/``, ``workloads/``, ``mappings/`` and ``examples/`` installs fine and then knows no
architecture. Here the wheel is built offline (hatchling from the test extra, no build isolation),
installed with ``pip --target`` into a temporary folder, and run from a working folder outside the
checkout, with the venv's site-packages only for the dependencies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.problems import CNN_LAYER_SHAPE

REPO = Path(__file__).resolve().parents[2]
DATA_FOLDERS = ("arch", "workloads", "mappings", "examples")

PROBLEM = CNN_LAYER_SHAPE + """\
  instance: {C: 4, M: 8, R: 3, S: 3, N: 1, P: 4, Q: 4}
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel, built from this checkout and installed (without dependencies) into a temporary target."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(root / "dist"), str(REPO)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (root / "dist").glob("sparse_hw-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for folder in DATA_FOLDERS:
        assert any(n.startswith(f"sparse_hw/_data/{folder}/") for n in names), folder
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    return target


def _run(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``sparse-hw ARGS`` from the installed copy, in a working folder outside the checkout."""
    env = dict(os.environ, PYTHONPATH=str(target), OMP_NUM_THREADS="1", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "sparse_hw", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_installed_wheel_resolves_its_own_data(installed: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(installed))
    code = ("import json, sparse_hw, sparse_hw.resources as r; "
            "print(json.dumps([sparse_hw.__file__, str(r.ARCH_DIR), str(r.WORKLOADS_DIR), str(r.EXAMPLES_DIR), "
            "str(r.MAPPINGS_DIR), str(r.RESULTS_DIR), r.list_examples()]))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    module, arch, workloads, examples, mappings, results, example_names = json.loads(proc.stdout)
    data = installed / "sparse_hw" / "_data"
    assert Path(module).is_relative_to(installed)
    for folder in (arch, workloads, examples, mappings):
        assert Path(folder).is_relative_to(data) and Path(folder).is_dir(), folder
    assert (Path(workloads) / "templates" / "problem_v04.yaml.j2").is_file()
    assert "pointnet2_gmp" in example_names
    # runs write under the working folder, never into the installed package
    assert results == "results"


def test_arch_list_and_map_work_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    listed = _run(installed, tmp_path, "arch", "list")
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    assert {"eyeriss_like", "eyeriss_v2"} <= set(names)

    shown = _run(installed, tmp_path, "arch", "show", "eyeriss_like")
    assert shown.returncode == 0, shown.stderr
    assert str(installed) in shown.stdout.replace("\n", "")

    problem = tmp_path / "problem.yaml"
    problem.write_text(PROBLEM)
    mapped = _run(installed, tmp_path, "map", "--arch", "eyeriss_like", "--seed", "0", "--json",
                  "--out", "mapped", str(problem))
    assert mapped.returncode == 0, mapped.stderr
    ev = json.loads(mapped.stdout)
    assert ev["energy_pj"] > 0 and ev["cycles"] >= 4 * 8 * 3 * 3 * 4 * 4 // 168
    assert (tmp_path / "mapped" / "map.yaml").is_file()
