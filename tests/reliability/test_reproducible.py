"""The same inputs and seed give the same result files, byte for byte, wherever and however they run.

A tiny run (LeNet-5 on the 8x8 digits: a dense and an L1-pruned checkpoint, one architecture) goes
twice into two different folders; every file but the run's bookkeeping (manifests, timings.csv, the
stage stamps, the cache database) must be identical, checkpoints included, and no file may name the
folder it was written in. The second extract folder then hits the first run's cache on every layer,
and simulate gives the same files with one or two local workers and on a two-worker Dask LocalCluster.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sparse_hw.cli import app
from sparse_hw.report import columns as col

runner = CliRunner()

CONFIG = {
    "name": "tiny_repro",
    "seed": 0,
    "train": {"model": "lenet5", "data": "digits", "epochs": 1, "measure_latency": False},
    "checkpoints": [
        {"name": "dense"},
        {"name": "l1", "init_from": "dense", "methods": ["l1"], "sparsity": 0.7, "epochs": 0,
         "finetune_epochs": 0},
    ],
    "extract": {"calib_samples": 16},
    "simulate": {"archs": ["eyeriss_like"]},
    "report": {"baseline": "eyeriss_like"},
}
#: Bookkeeping of a run: times, cache flags, absolute paths and the stage-reuse keys live only here.
BOOKKEEPING_NAMES = {"manifest.json", "timings.csv"}
BOOKKEEPING_SUFFIXES = {".stamp", ".sqlite", ".sqlite-wal", ".sqlite-shm", ".lock"}


def _result_files(root: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_dir() or p.name in BOOKKEEPING_NAMES or any(p.name.endswith(s) for s in BOOKKEEPING_SUFFIXES):
            continue
        out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def _assert_same_files(a: Path, b: Path) -> dict[str, bytes]:
    fa, fb = _result_files(a), _result_files(b)
    assert sorted(fa) == sorted(fb)
    differ = [name for name in fa if fa[name] != fb[name]]
    assert not differ, differ
    return fa


def _run(root: Path) -> Path:
    path = root / "run.yaml"
    path.write_text(yaml.safe_dump(dict(CONFIG, out=str(root / "out"))))
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    return root / "out"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    return _run(tmp_path_factory.mktemp("first")), _run(tmp_path_factory.mktemp("second"))


def test_two_runs_give_byte_identical_result_files(two_runs: tuple[Path, Path]) -> None:
    a, b = two_runs
    files = _assert_same_files(a, b)
    for must in ("checkpoints/dense.pt", "checkpoints/l1.pt", "extract/l1/layers.csv", "extract/l1/layers.json",
                 "extract/l1/problems/000_conv1.yaml", "simulate/results.csv", "simulate/breakdown.csv",
                 "report/summary.csv", "report/layers.csv"):
        assert must in files, must
    # no result file (checkpoints included) names the folder it was written in
    for root in (a, b):
        for name, data in _result_files(root).items():
            assert str(root.parent).encode() not in data, name
    # the bookkeeping moved out of the results is still written, next to them
    results = pd.read_csv(a / "simulate" / "results.csv")
    assert not {"cache_hit", "job_seconds", "mapper_seconds"} & set(results.columns)
    timings = pd.read_csv(a / "simulate" / "timings.csv")
    assert list(timings.columns) == list(col.TIMING_COLUMNS) and len(timings) == len(results) == 10
    assert not timings["cache_hit"].any() and (timings["job_seconds"] > 0).all()
    for rel in ("report/summary.csv", "report/layers.csv"):
        assert "mapper_seconds" not in pd.read_csv(a / rel).columns, rel


def test_identical_rerun_hits_the_simulate_cache(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two_runs
    cache = a / ".sparse-hw-cache.sqlite"
    with sqlite3.connect(cache) as db:
        assert db.execute("select count(*) from sqlite_master").fetchone()[0] >= 1
    result = runner.invoke(app, ["simulate", str(b / "extract" / "l1"), "--arch", "eyeriss_like", "--jobs", "1",
                                 "--out", str(tmp_path / "sim"), "--cache", str(cache)])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "sim" / "timings.csv")["cache_hit"].all()
    assert (tmp_path / "sim" / "results.csv").read_bytes() == _subset(a / "simulate" / "results.csv", "l1")


def _subset(results_csv: Path, name: str) -> bytes:
    """The rows of checkpoint ``name`` of a run's results.csv, written the way simulate writes them."""
    table = pd.read_csv(results_csv, dtype={c: str for c in col.TEXT_COLUMNS}, keep_default_na=False)
    ids = pd.read_csv(results_csv.parent.parent / "extract" / name / "layers.csv", dtype=str)["checkpoint"]
    return table[table["checkpoint"].isin(set(ids))].to_csv(index=False).encode()


def _simulate(extract: Path, out: Path, *extra: str) -> None:
    result = runner.invoke(app, ["simulate", str(extract), "--arch", "eyeriss_like", "--out", str(out),
                                 "--cache", str(out.parent / f"{out.name}.sqlite"), *extra])
    assert result.exit_code == 0, result.output


def test_one_or_two_local_workers_give_the_same_files(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    extract = two_runs[0] / "extract" / "l1"
    _simulate(extract, tmp_path / "one", "--jobs", "1")
    _simulate(extract, tmp_path / "two", "--jobs", "2")
    files = _assert_same_files(tmp_path / "one", tmp_path / "two")
    assert len([n for n in files if n.startswith("mappings/")]) == 5


@pytest.mark.dask
def test_dask_local_cluster_gives_the_local_engines_files(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    extract = two_runs[0] / "extract" / "l1"
    _simulate(extract, tmp_path / "local", "--jobs", "1")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert len(cluster.workers) == 2
        _simulate(extract, tmp_path / "dask", "--engine", "dask", "--scheduler", cluster.scheduler_address)
        # the layer jobs really ran on the cluster's workers
        ran = {name: dict(tp.all_durations) for name, tp in cluster.scheduler.task_prefixes.items()}
        assert any("run_one" in name and d.get("compute", 0) > 0 for name, d in ran.items()), ran
    _assert_same_files(tmp_path / "local", tmp_path / "dask")
