"""A tiny seeded search writes every output, the same bytes on a rerun, and resumes after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.search._tiny import tiny_config, write_config

OUTPUTS = ("trials.csv", "front.csv", "front.png", "layers.png", "summary.md")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, shared_cache):
    from sparse_hw.search import search

    runs = []
    for name in ("a", "b"):
        tmp = tmp_path_factory.mktemp(f"search-{name}")
        cfg = write_config(tmp / "search.yaml", tiny_config(tmp, cache=str(shared_cache)))
        runs.append(search(cfg))
    return runs


def test_tiny_search_writes_every_output(two_runs):
    out = two_runs[0]
    for name in OUTPUTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 3 and trials["number"].is_unique
    assert list(trials["label"][:2]) == ["uniform-0.5", "global-0.7"]  # baselines first
    assert set(trials["exploits.eyeriss_v2"]) == {"weights+inputs"}
    assert {"sparsity.conv1", "weight_density.fc3", "input_density.conv2", "cycles.eyeriss_v2"} <= set(trials)
    assert trials.loc[0, "sparsity.conv2"] == pytest.approx(0.5, abs=1e-3)  # the uniform baseline, measured
    assert trials.loc[1, "global_tilt"] == 0.0  # the global baseline is plain global magnitude
    tilt = next(line for line in (out / "summary.md").read_text().splitlines() if line.startswith("Tilt of global"))
    assert all(f"{n} " in tilt for n in ("conv1", "conv2", "fc1", "fc2", "fc3"))  # measured on every layer
    front = pd.read_csv(out / "front.csv")
    assert len(front) >= 1 and set(front["number"]) <= set(trials["number"])
    # the front is non-dominated: more energy only for more accuracy
    ordered = front.sort_values("energy_pj")
    assert ordered["accuracy"].is_monotonic_increasing
    for ckpt in front["checkpoint"]:
        assert (out / ckpt).is_file()
    results = pd.read_csv(out / "front" / "simulate" / "results.csv")
    assert set(results["arch"]) == {"eyeriss_v2"} and (results["energy_pj"] > 0).all()
    # every baseline is trained in full too (those off the front under baselines/) and simulated with the
    # front, so that summary.md compares the two at equal training as well as by the proxy
    for n in trials[trials["label"].str.match(r"(uniform|global)-")]["number"]:
        folder = "front" if n in set(front["number"]) else "baselines"
        assert (out / folder / f"{n:05d}" / "model.pt").is_file(), n
    assert len(set(results["checkpoint"])) == len(set(front["number"]) | {0, 1})
    summary = (out / "summary.md").read_text()
    assert "by the proxy accuracy" in summary
    assert "at equal training (the front and every baseline fine-tuned 0 epochs, simulated exactly)" in summary


def test_front_checkpoints_feed_report(two_runs, tmp_path):
    from sparse_hw.pipeline import report as report_stage

    out = two_runs[0]
    report = report_stage([out / "front" / "simulate"], out=tmp_path / "report")
    assert any(Path(tmp_path / "report").iterdir())
    assert report is not None


def test_rerun_with_the_same_seed_is_byte_identical(two_runs):
    a, b = two_runs
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _states(storage_url: str) -> list:
    import optuna

    (summary,) = optuna.get_all_study_summaries(storage_url)
    return optuna.load_study(study_name=summary.study_name, storage=storage_url).get_trials()


def test_resume_after_kill_9_loses_and_duplicates_nothing(tmp_path, shared_cache):
    from optuna.trial import TrialState

    from sparse_hw.search import search

    cfg_data = tiny_config(tmp_path, budget={"trials": 4}, cache=str(shared_cache), final={"train": False})
    cfg = write_config(tmp_path / "search.yaml", cfg_data)
    proc = subprocess.Popen([sys.executable, "-m", "sparse_hw", "search", str(cfg)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    started = tmp_path / "out" / "trials" / "00001"
    deadline = time.monotonic() + 300
    while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert started.exists(), "the search never reached its second trial"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    url = f"sqlite:///{(tmp_path / 'out' / 'study.db').resolve()}"
    killed = [t for t in _states(url) if t.state == TrialState.RUNNING]
    assert [t.number for t in killed] == [1]

    search(cfg)
    trials = _states(url)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 4
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [1]
    retried = [t for t in complete if t.user_attrs.get("sparse_hw:retry_of") == 1]
    assert len(retried) == 1 and retried[0].params == killed[0].params
    labels = [t.user_attrs["sparse_hw:label"] for t in complete]
    assert labels.count("uniform-0.5") == 1 and labels.count("global-0.7") == 1
    table = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert len(table) == 4 and table["number"].is_unique
