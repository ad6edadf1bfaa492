"""Two workers share one PostgreSQL study: every trial recorded exactly once, and the same front as one
worker running the same seed and trial list.

`.ci/run` starts a PostgreSQL server and exports SPARSE_HW_TEST_POSTGRES_URL; without it (a local run
with no server) the test is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pandas as pd
import pytest

from tests.search._tiny import tiny_config, write_config

URL = os.environ.get("SPARSE_HW_TEST_POSTGRES_URL")

LEVELS = [(0.2, 0.5, 0.5, 0.6, 0.3, "l1", 0.0), (0.5, 0.8, 0.9, 0.9, 0.5, "l1", 0.0),
          (0.3, 0.6, 0.6, 0.7, 0.3, "global", 0.5), (0.7, 0.6, 0.3, 0.2, 0.1, "l1", 0.0)]


def _trial_list() -> list[dict]:
    layers = ("conv1", "conv2", "fc1", "fc2", "fc3")
    return [{**{f"sparsity.{n}": s for n, s in zip(layers, lv[:5])}, "method": lv[5], "global_tilt": lv[6]}
            for lv in LEVELS]


@pytest.mark.skipif(URL is None, reason="SPARSE_HW_TEST_POSTGRES_URL is not set: no PostgreSQL server to share "
                    "(.ci/run starts one)")
def test_two_workers_on_postgres_match_one_worker(tmp_path, shared_cache):
    import optuna
    from optuna.trial import TrialState

    from sparse_hw.search import search

    name = f"pg-{uuid.uuid4().hex[:8]}"
    common = {"name": name, "trials": _trial_list(), "baselines": {"uniform": [], "global": []},
              "budget": {"trials": len(LEVELS)}, "cache": str(shared_cache), "final": {"train": False}}
    workers = []
    for w in ("w1", "w2"):
        cfg = write_config(tmp_path / f"{w}.yaml", tiny_config(tmp_path / w, **common))
        workers.append(subprocess.Popen([sys.executable, "-m", "sparse_hw", "search", str(cfg), "--storage", URL,
                                         "--worker"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True))
    logs = [p.communicate(timeout=500)[0] for p in workers]
    assert [p.returncode for p in workers] == [0, 0], "\n---\n".join(log[-4000:] for log in logs)

    study = optuna.load_study(study_name=f"sparse-hw-{name}-lenet5-digits-energy", storage=URL)
    complete = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    assert sorted(t.user_attrs["sparse_hw:label"] for t in complete) == [f"fixed-{i}" for i in range(len(LEVELS))]
    assert sorted(t.number for t in complete) == list(range(len(LEVELS)))
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in study.get_trials())  # none left running
    # each trial ran in exactly one of the workers (their trial folders split the numbers between them)
    ran = [int(p.name) for w in ("w1", "w2") for p in (tmp_path / w / "out" / "trials").glob("*")]
    assert sorted(ran) == list(range(len(LEVELS)))

    single = search(write_config(tmp_path / "single.yaml", tiny_config(tmp_path / "single", **common)))
    for w in ("w1", "w2"):
        out = tmp_path / w / "out"
        for csv in ("trials.csv", "front.csv"):
            assert pd.read_csv(out / csv).equals(pd.read_csv(single / csv)), (w, csv)
            assert (out / csv).read_bytes() == (single / csv).read_bytes()
