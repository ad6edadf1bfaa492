"""``sparse-hw estimate FILES --out DIR --accelergy 0.3 [--precision N]``: the emulation on the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference"
DESIGN = (SHARED / "examples" / "ex_778460f" / "workspace" / "baseline_designs" / "example_designs"
          / "eyeriss_like_onchip_compression")
needs_shared = pytest.mark.skipif(not DESIGN.is_dir(), reason="needs ../shared/reference")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sparse_hw", "estimate", *args], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=120, check=False)


def _files() -> list[str]:
    return [str(DESIGN / "arch" / "arch.yaml"), *map(str, sorted((DESIGN / "components").glob("*.yaml")))]


def _glb(out: Path) -> dict[str, float]:
    tables = yaml.safe_load((out / "ERT.yaml").read_text())["ERT"]["tables"]
    table = next(t for t in tables if t["name"].endswith("shared_glb"))
    return {a["name"]: a["energy"] for a in table["actions"]}


@needs_shared
def test_accelergy_03_on_the_command_line(tmp_path):
    proc = _cli(*_files(), "--out", str(tmp_path / "o3"), "--accelergy", "0.3", "--precision", "5")
    assert proc.returncode == 0, proc.stderr
    # Accelergy 0.3 read log(12800) as ceil(log2) = 14 bits: the recorded 0.03749 pJ (ref-output ERT)
    assert _glb(tmp_path / "o3")["address_generation"] == 0.03749
    settings = json.loads((tmp_path / "o3" / "manifest.json").read_text())["settings"]
    assert settings["accelergy"] == "0.3" and settings["precision"] == 5
    proc = _cli(*_files(), "--out", str(tmp_path / "o4"))
    assert proc.returncode == 0, proc.stderr
    assert _glb(tmp_path / "o4")["address_generation"] == pytest.approx(0.025328, abs=1e-6)  # today's natural log


@needs_shared
def test_precision_rounds_every_figure(tmp_path):
    proc = _cli(*_files(), "--out", str(tmp_path / "o"), "--precision", "2")
    assert proc.returncode == 0, proc.stderr
    energies = _glb(tmp_path / "o")
    assert energies["read"] == 49.17 and all(round(e, 2) == e for e in energies.values())


@pytest.mark.parametrize("args, words", [
    (("--accelergy", "0.2"), "--accelergy '0.2'"),
    (("--accelergy", "0.3", "--precision", "-1"), "--precision -1 is negative"),
    (("--precision", "-1"), "--precision -1 is negative"),
    (("--estimator", "accelergy", "--accelergy", "0.3"), "builtin estimator"),
])  # fmt: skip
def test_bad_emulation_values_exit_2(tmp_path, args, words):
    arch = tmp_path / "arch.yaml"
    arch.write_text("architecture: {version: 0.3, subtree: [{name: s, local: []}]}\n")
    proc = _cli(str(arch), "--out", str(tmp_path / "o"), *args)
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr
    assert not (tmp_path / "o").exists()
