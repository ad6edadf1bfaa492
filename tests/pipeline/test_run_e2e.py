"""The whole pipeline from one configuration: train -> extract -> simulate -> report, then again from cache.

LeNet-5 on the 8x8 digits (seconds to train), a dense and an L1-pruned checkpoint, mapped on the dense
Eyeriss-like baseline and on the full Eyeriss v2. The checks are about the product's promises: the
files and columns a paper needs, weight sparsity invisible to a design that exploits only inputs,
visible on one that exploits weights, totals that are sums, and a second run that reuses everything.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sparse_hw.cli import app

runner = CliRunner()

CONFIG = {
    "name": "lenet_e2e",
    "seed": 0,
    "train": {"model": "lenet5", "data": "digits", "epochs": 2, "measure_latency": False},
    "checkpoints": [
        {"name": "dense"},
        {"name": "l1_70", "init_from": "dense", "methods": ["l1"], "sparsity": 0.7, "epochs": 0,
         "finetune_epochs": 1},
    ],
    "extract": {"calib_samples": 64},
    "simulate": {"archs": ["eyeriss_like", "eyeriss_v2"]},
    "report": {"baseline": "eyeriss_like"},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    cfg = dict(CONFIG, out=str(root / "out"))
    path = root / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    return root


def test_every_stage_writes_its_files(run_dir: Path) -> None:
    out = run_dir / "out"
    for rel in ("checkpoints/dense.pt", "checkpoints/l1_70.pt", "extract/dense/layers.csv",
                "extract/l1_70/problems/000_conv1.yaml", "simulate/results.csv", "simulate/breakdown.csv",
                "report/summary.csv", "report/layers.csv", "report/energy_breakdown.csv", "manifest.json"):
        assert (out / rel).is_file(), rel
    mappings = list((out / "simulate" / "mappings").glob("*.yaml"))
    assert len(mappings) == 2 * 5 * 2  # checkpoints x layers x archs
    assert list((out / "report" / "figures").glob("*.png"))


def test_every_table_has_its_columns_and_no_holes(run_dir: Path) -> None:
    from sparse_hw.report import columns as col

    out = run_dir / "out"
    expect = {
        "extract/l1_70/layers.csv": col.LAYER_COLUMNS,
        "simulate/results.csv": col.LAYER_COLUMNS + col.RESULT_COLUMNS,
        "simulate/breakdown.csv": col.REQUIRED_BREAKDOWN_COLUMNS,
        "report/summary.csv": col.SUMMARY_COLUMNS,
        "report/layers.csv": col.LAYER_REPORT_COLUMNS,
        "report/energy_breakdown.csv": col.ENERGY_BREAKDOWN_COLUMNS,
        "report/weight_hist.csv": col.WEIGHT_HIST_COLUMNS,
    }
    for rel, names in expect.items():
        table = pd.read_csv(out / rel)
        missing = [c for c in names if c not in table.columns]
        assert not missing, (rel, missing)
        assert len(table) > 0, rel
    results = pd.read_csv(out / "simulate" / "results.csv")
    assert len(results) == 2 * 5 * 2
    numeric = ["energy_pj", "cycles", "area_um2", "utilization", "macs", "weight_density", "input_density",
               "output_density", "accuracy"]
    assert not results[numeric].isna().any().any()
    assert set(results["backend"]) == {"builtin"} and set(results["mapper_seed"]) == {0}
    # the energy breakdown of each layer adds up to its energy
    breakdown = pd.read_csv(out / "simulate" / "breakdown.csv")
    energy = breakdown[breakdown["metric"] == col.ENERGY_METRIC]
    sums = energy.groupby(["checkpoint", "arch", "layer"])["value"].sum()
    for _, row in results.iterrows():
        assert sums.loc[(row["checkpoint"], row["arch"], row["layer"])] == pytest.approx(row["energy_pj"], rel=1e-6)


def test_report_shows_what_each_design_exploits(run_dir: Path) -> None:
    summary = pd.read_csv(run_dir / "out" / "report" / "summary.csv")
    assert set(summary["arch_exploits"]) == {"none", "weights+inputs"}
    by = summary.set_index(["checkpoint_label", "arch"])
    dense_like = by.loc[("dense", "eyeriss_like")]
    pruned_like = by.loc[("l1 70%", "eyeriss_like")]
    # the dense baseline cannot see weight zeros: same cost for the pruned model
    assert pruned_like["energy_pj"] == pytest.approx(dense_like["energy_pj"], rel=1e-9)
    # Eyeriss v2 exploits weights: 70% fewer weights make it cheaper
    assert by.loc[("l1 70%", "eyeriss_v2"), "energy_pj"] < 0.9 * by.loc[("dense", "eyeriss_v2"), "energy_pj"]
    assert by.loc[("l1 70%", "eyeriss_v2"), "weight_density"] == pytest.approx(0.3, abs=0.01)
    assert by.loc[("dense", "eyeriss_like"), "energy_ratio_to_baseline"] == pytest.approx(1.0)


def test_network_totals_are_sums_and_ratios_come_after_summing(run_dir: Path) -> None:
    layers = pd.read_csv(run_dir / "out" / "report" / "layers.csv")
    summary = pd.read_csv(run_dir / "out" / "report" / "summary.csv")
    sums = layers.groupby(["checkpoint", "arch"])[["energy_pj", "cycles"]].sum()
    for _, row in summary.iterrows():
        assert row["energy_pj"] == pytest.approx(sums.loc[(row["checkpoint"], row["arch"]), "energy_pj"], rel=1e-9)
        assert row["cycles"] == sums.loc[(row["checkpoint"], row["arch"]), "cycles"]
    s = summary.set_index(["checkpoint", "arch"])
    for ck in summary["checkpoint"].unique():
        ratio = s.loc[(ck, "eyeriss_v2"), "energy_pj"] / s.loc[(ck, "eyeriss_like"), "energy_pj"]
        assert s.loc[(ck, "eyeriss_v2"), "energy_ratio_to_baseline"] == pytest.approx(ratio, rel=1e-9)


def test_second_run_reuses_every_stage_and_gives_identical_tables(run_dir: Path) -> None:
    out = run_dir / "out"
    before = {p: (out / p).read_bytes() for p in ("report/summary.csv", "report/layers.csv")}
    ckpt_mtime = (out / "checkpoints" / "dense.pt").stat().st_mtime
    result = runner.invoke(app, ["run", str(run_dir / "run.yaml")])
    assert result.exit_code == 0, result.output
    assert "unchanged, reusing" in result.output
    assert (out / "checkpoints" / "dense.pt").stat().st_mtime == ckpt_mtime
    timings = pd.read_csv(out / "simulate" / "timings.csv")
    assert timings["cache_hit"].all() and len(timings) == 2 * 5 * 2
    for p, data in before.items():
        assert (out / p).read_bytes() == data, p


def test_bad_run_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    cfg = dict(CONFIG, out=str(tmp_path / "out"))
    cfg["simulate"] = {"archs": ["eyeriss_like"], "budget_s": -1}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 2, result.output
    assert "simulate.budget_s" in result.output and "bad.yaml" in result.output
    assert not (tmp_path / "out").exists()


def test_bad_checkpoint_plans_are_all_reported_with_file_and_key(tmp_path: Path) -> None:
    from sparse_hw.errors import ConfigError
    from sparse_hw.runconfig import load_run_config

    cfg = dict(CONFIG, out=str(tmp_path / "out"))
    cfg["checkpoints"] = [{"name": "a", "methods": ["gmpp"], "sparsity": 0.5},
                          {"name": "b", "methods": ["l1"], "sparsity": 1.5}]
    path = tmp_path / "plans.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"2 problems found") as info:
        load_run_config(path)
    text = info.value.render()
    assert "plans.yaml, key 'checkpoints[a].methods': unknown pruning method 'gmpp'; did you mean 'gmp'?" in text
    assert "checkpoints[b].sparsity" in text


def _cached_rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(str(db), timeout=5) as con:
            return int(con.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_simulate_killed_with_sigkill_resumes_from_the_cache(run_dir: Path, tmp_path: Path) -> None:
    extract = [str(run_dir / "out" / "extract" / n) for n in ("dense", "l1_70")]
    db = tmp_path / "cache.sqlite"
    args = [sys.executable, "-m", "sparse_hw", "simulate", *extract, "--arch", "eyeriss_like", "--arch",
            "eyeriss_like_compressed", "--out", str(tmp_path / "sim"), "--cache", str(db)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while _cached_rows(db) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    done_before = _cached_rows(db)
    assert done_before >= 1
    assert not (tmp_path / "sim" / "results.csv").exists() or done_before == 20
    result = runner.invoke(app, ["simulate", *extract, "--arch", "eyeriss_like", "--arch", "eyeriss_like_compressed",
                                 "--out", str(tmp_path / "sim"), "--cache", str(db)])
    assert result.exit_code == 0, result.output
    resumed = pd.read_csv(tmp_path / "sim" / "results.csv")
    assert int(pd.read_csv(tmp_path / "sim" / "timings.csv")["cache_hit"].sum()) >= done_before
    # the interrupted-and-resumed sweep equals one from scratch
    fresh = runner.invoke(app, ["simulate", *extract, "--arch", "eyeriss_like", "--arch", "eyeriss_like_compressed",
                                "--out", str(tmp_path / "fresh"), "--cache", str(tmp_path / "fresh.sqlite")])
    assert fresh.exit_code == 0, fresh.output
    clean = pd.read_csv(tmp_path / "fresh" / "results.csv")
    cols = ["layer", "arch", "energy_pj", "cycles"]
    pd.testing.assert_frame_equal(resumed[cols], clean[cols])


@pytest.mark.dask
def test_dask_engine_gives_the_same_results(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    extract = [str(run_dir / "out" / "extract" / "l1_70")]
    common = [*extract, "--arch", "eyeriss_like"]
    a = runner.invoke(app, ["simulate", *common, "--out", str(tmp_path / "a"), "--cache", str(tmp_path / "a.db")])
    b = runner.invoke(app, ["simulate", *common, "--engine", "dask", "--jobs", "2", "--out", str(tmp_path / "b"),
                            "--cache", str(tmp_path / "b.db")])
    assert a.exit_code == 0 and b.exit_code == 0, (a.output, b.output)
    cols = ["layer", "arch", "energy_pj", "cycles"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a" / "results.csv")[cols],
                                  pd.read_csv(tmp_path / "b" / "results.csv")[cols])
    shutil.rmtree(tmp_path / "a")
