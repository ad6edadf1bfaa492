"""`sparse-hw sweep`: a 2x2 grid on eyeriss_like over two tiny layers, its CSV, cache and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sparse_hw.archsweep import pareto_mask, parse_set
from sparse_hw.cli import app
from sparse_hw.errors import ConfigError
from sparse_hw.io import sha256_file
from sparse_hw.spec.library import architecture_files
from tests.problems import CNN_LAYER_SHAPE

runner = CliRunner()

_PROBLEM = CNN_LAYER_SHAPE + """\
  instance: {{C: {C}, M: {M}, R: {R}, S: {R}, N: 1, P: {P}, Q: {P},
    densities: {{Weights: {{distribution: hypergeometric, density: 0.5}}}}}}
"""
GRID = ["--set", "shared_glb.depth=2048,8192", "--set", "DummyBuffer.meshX=7,14"]
FAST = ["--budget-s", "0.3", "--jobs", "1"]


def _layers(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "conv3x3.yaml").write_text(_PROBLEM.format(C=4, M=8, R=3, P=6))
    (folder / "conv1x1.yaml").write_text(_PROBLEM.format(C=8, M=8, R=1, P=4))
    return [str(folder / "conv3x3.yaml"), str(folder / "conv1x1.yaml")]


def _sweep(args: list[str]):
    return runner.invoke(app, ["sweep", *args])


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory) -> tuple[Path, list[str], Path]:
    root = tmp_path_factory.mktemp("archsweep")
    layers = _layers(root / "layers")
    before = {str(f): sha256_file(f) for f in architecture_files("eyeriss_like")}
    cache = root / "cache.sqlite"
    result = _sweep(["eyeriss_like", *layers, *GRID, "--out", str(root / "out"), "--cache", str(cache), *FAST])
    assert result.exit_code == 0, result.output
    assert {str(f): sha256_file(f) for f in architecture_files("eyeriss_like")} == before  # never edited
    return root / "out", layers, cache


def test_csv_has_one_row_per_point_with_totals(grid_run) -> None:
    out, _, _ = grid_run
    table = pd.read_csv(out / "sweep.csv")
    assert list(table.columns) == ["point", "shared_glb.depth", "DummyBuffer.meshX", "status", "energy_pj", "cycles",
                                   "area_um2", "edp_pj_cycles", "pareto", "layers", "reestimated", "reason"]
    assert len(table) == 4 and set(table["status"]) == {"ok"}
    assert sorted(zip(table["shared_glb.depth"], table["DummyBuffer.meshX"])) == [(2048, 7), (2048, 14),
                                                                                 (8192, 7), (8192, 14)]
    assert set(table["reestimated"]) == {"shared_glb"}
    layers = pd.read_csv(out / "layers.csv")
    assert len(layers) == 8
    for _, row in table.iterrows():  # totals are sums over the point's layers; EDP their product
        mine = layers[layers["point"] == row["point"]]
        assert row["energy_pj"] == pytest.approx(mine["energy_pj"].sum())
        assert row["cycles"] == pytest.approx(mine["cycles"].sum())
        assert row["edp_pj_cycles"] == pytest.approx(row["energy_pj"] * row["cycles"])
    assert table["pareto"].any()
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "sweep" and manifest["settings"]["reestimated"] == ["shared_glb"]


def test_area_grows_with_glb_depth_and_fewer_pes_take_longer(grid_run) -> None:
    table = pd.read_csv(grid_run[0] / "sweep.csv").set_index(["shared_glb.depth", "DummyBuffer.meshX"])
    for mesh in (7, 14):
        assert table.loc[(8192, mesh), "area_um2"] > table.loc[(2048, mesh), "area_um2"]
    for depth in (2048, 8192):
        assert table.loc[(depth, 7), "cycles"] > table.loc[(depth, 14), "cycles"]


def test_each_point_has_its_own_files_with_the_changed_tables_dropped(grid_run) -> None:
    point = grid_run[0] / "points" / "p002"
    assert "data_storage_depth: 8192" in (point / "arch.yaml").read_text()
    assert "meshX: 7" in (point / "arch.yaml").read_text()
    ert, art = (point / "ERT.yaml").read_text(), (point / "ART.yaml").read_text()
    assert "shared_glb" not in ert and "shared_glb" not in art
    assert "weights_spad" in ert  # unchanged components keep their recorded entries


def test_rerun_is_served_from_the_cache_byte_identical(grid_run, tmp_path) -> None:
    out, layers, cache = grid_run
    again = tmp_path / "again"
    result = _sweep(["eyeriss_like", *layers, *GRID, "--out", str(again), "--cache", str(cache), *FAST])
    assert result.exit_code == 0, result.output
    manifest = json.loads((again / "manifest.json").read_text())
    assert manifest["settings"]["cache_hits"] == manifest["settings"]["jobs"] == 8
    for name in ("sweep.csv", "layers.csv"):
        assert (again / name).read_bytes() == (out / name).read_bytes()


def test_a_point_that_no_longer_maps_is_infeasible_not_fatal(grid_run, tmp_path) -> None:
    _, layers, cache = grid_run
    out = tmp_path / "out"
    result = _sweep(["eyeriss_like", layers[0], "--set", "weights_spad.depth=1,224", "--out", str(out),
                     "--cache", str(cache), *FAST])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "sweep.csv").set_index("point")
    assert table.loc["p000", "status"] == "infeasible" and "weights_spad" in table.loc["p000", "reason"]
    assert pd.isna(table.loc["p000", "energy_pj"]) and not table.loc["p000", "pareto"]
    assert table.loc["p001", "status"] == "ok" and table.loc["p001", "energy_pj"] > 0


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("shared_glb.depth=0,4096", "at least 1"),
        ("shared_glb.dept=4096", "no attributes 'dept'"),
        ("glb.depth=4096", "no component or container named 'glb'"),
        ("shared_glb.depth", "NAME.ATTR=v1,v2"),
        ("eyeriss_168.technology=fast", "technology"),
        ("shared_glb.read_bandwidth=0", "above 0"),
        ("shared_glb.depth=4096,4096", "repeats a value"),
    ],
)
def test_bad_settings_exit_2_and_write_nothing(tmp_path, setting: str, says: str) -> None:
    layers = _layers(tmp_path / "layers")
    out, cache = tmp_path / "out", tmp_path / "cache.sqlite"
    result = _sweep(["eyeriss_like", *layers, "--set", setting, "--out", str(out), "--cache", str(cache)])
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split())
    assert not out.exists() and not cache.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layers"]


def test_pareto_mask_and_set_syntax() -> None:
    assert pareto_mask([1, 2, 3, 1], [3, 2, 1, 4]) == [True, True, True, False]
    assert parse_set("PE.meshX=2, 4") == ("PE.meshX", ("2", "4"))
    with pytest.raises(ConfigError):
        parse_set("PE.meshX=2,,4")


def test_a_point_whose_architecture_cannot_be_priced_is_reported_and_the_rest_run(grid_run, tmp_path,
                                                                                    monkeypatch) -> None:
    from sparse_hw import archsweep

    _, layers, cache = grid_run
    monkeypatch.setattr(archsweep, "_precheck", lambda files: "no estimate" if "p001" in str(files[0]) else None)
    out = tmp_path / "out"
    result = _sweep(["eyeriss_like", layers[1], "--set", "shared_glb.depth=2048,8192", "--out", str(out),
                     "--cache", str(cache), *FAST])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "sweep.csv").set_index("point")
    assert list(table["status"]) == ["ok", "error"] and table.loc["p001", "reason"] == "no estimate"
    assert list(pd.read_csv(out / "layers.csv")["point"]) == ["p000"]


@pytest.mark.slow
@pytest.mark.dask
def test_dask_engine_gives_the_local_engines_csv(grid_run, tmp_path) -> None:
    pytest.importorskip("dask.distributed")
    out, layers, _ = grid_run
    again = tmp_path / "dask"
    result = _sweep(["eyeriss_like", *layers, *GRID, "--out", str(again), "--cache", str(tmp_path / "c.sqlite"),
                     "--engine", "dask", *FAST[:2], "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads((again / "manifest.json").read_text())["settings"]["cache_hits"] == 0
    assert (again / "sweep.csv").read_bytes() == (out / "sweep.csv").read_bytes()
