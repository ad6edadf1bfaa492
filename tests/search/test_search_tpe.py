"""A tiny seeded search with ``sampler: tpe``: baselines seeded first, then sampled trials recorded once
each, inside the space, and the same bytes on a rerun with the same seed."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.search._tiny import tiny_config, write_config

BUDGET = 5  # two baselines, three sampled by TPE


@pytest.fixture(scope="module")
def tpe_runs(tmp_path_factory, shared_cache):
    from sparse_hw.search import search

    runs = []
    for name in ("a", "b"):
        tmp = tmp_path_factory.mktemp(f"tpe-{name}")
        cfg = tiny_config(tmp, sampler="tpe", budget={"trials": BUDGET}, cache=str(shared_cache),
                          final={"train": False})
        runs.append(search(write_config(tmp / "search.yaml", cfg)))
    return runs


def test_tpe_sampler_is_the_one_configured(tmp_path):
    import optuna

    from sparse_hw.search.config import load_search_config
    from sparse_hw.search.study import sampler

    cfg = load_search_config(write_config(tmp_path / "s.yaml", tiny_config(tmp_path, sampler="tpe")))
    assert isinstance(sampler(cfg), optuna.samplers.TPESampler)


def test_tpe_search_records_baselines_then_sampled_trials(tpe_runs):
    trials = pd.read_csv(tpe_runs[0] / "trials.csv")
    assert len(trials) == BUDGET and list(trials["number"]) == list(range(BUDGET))
    assert list(trials["label"][:2]) == ["uniform-0.5", "global-0.7"]
    sampled = trials.iloc[2:]
    assert set(sampled["label"]) == {"search"}
    # sampled per-layer sparsity lies inside the configured ranges and differs from trial to trial
    assert sampled["sparsity.conv1"].between(0.0, 0.9 + 1e-3).all()
    assert sampled["sparsity.fc1"].between(0.0, 0.95 + 1e-3).all()
    assert sampled["sparsity.fc1"].round(4).nunique() == len(sampled)
    assert (trials["energy_pj.eyeriss_v2"] > 0).all() and trials["accuracy"].between(0, 1).all()


def test_tpe_rerun_with_the_same_seed_is_byte_identical(tpe_runs):
    a, b = tpe_runs
    for name in ("trials.csv", "front.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
