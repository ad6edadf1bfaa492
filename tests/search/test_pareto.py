"""The one Pareto computation (sparse_hw.pareto), as the sweep and the search use it."""

from __future__ import annotations

import pandas as pd
import pytest

from sparse_hw.pareto import pareto_mask


def test_pareto_mask_minimizes_every_objective():
    assert pareto_mask([1, 2, 3, 1], [3, 2, 1, 4]) == [True, True, True, False]
    assert pareto_mask([1, 1, 2], [1, 1, 1], [5, 4, 0]) == [False, True, True]


def test_identical_points_kept_or_listed_once():
    assert pareto_mask([1, 1, 2], [0, 0, 0]) == [True, True, False]
    assert pareto_mask([1, 1, 2], [0, 0, 0], keep_ties=False) == [True, False, False]


def test_search_front_keeps_accuracy_rising_with_energy_and_one_of_each_tie():
    from sparse_hw.search.outputs import pareto

    table = pd.DataFrame({"number": [0, 1, 2, 3, 4, 5], "accuracy": [0.9, 0.8, 0.95, 0.8, 0.9, 0.7],
                          "energy_pj.a": [5.0, 3.0, 9.0, 3.0, 6.0, 4.0]})
    front = pareto(table, "energy_pj.a")
    assert list(front["number"]) == [1, 0, 2]  # 3 ties with 1 (listed once), 4 and 5 are dominated


def test_savings_against_the_baselines_at_equal_accuracy():
    from sparse_hw.search.outputs import baseline_savings, family_cost, savings_sentence

    table = pd.DataFrame({
        "number": [0, 1, 2, 3, 4, 5, 6],
        "label": ["uniform-0.5", "uniform-0.7", "global-0.8", "global-0.9", "search", "search", "fixed-0"],
        "accuracy": [0.940, 0.920, 0.942, 0.900, 0.935, 0.990, 0.50],
        "energy_pj.a": [10.0, 8.0, 5.0, 3.0, 4.0, 20.0, 1.0],
    })
    uniform = table[table["label"].str.startswith("uniform-")]
    assert family_cost(uniform, "energy_pj.a", 0.93) == pytest.approx(9.0)  # halfway from 92 % to 94 %
    assert family_cost(uniform, "energy_pj.a", 0.95) is None and family_cost(uniform, "energy_pj.a", 0.9) is None
    rows = {r["kind"]: r for r in baseline_savings(table, "a", "energy_pj.a")}
    # trial 4 at 93.5 %: uniform at 93.0 % costs 9.0 -> 55.6 % less; global at 93.0 % costs
    # 3 + (0.03 / 0.042) * 2 = 4.43 -> 9.7 % less. Trials 5 (above every baseline) and 6 (below) do not compare.
    assert rows["uniform"]["number"] == 4 and rows["uniform"]["saving"] == pytest.approx(1 - 4 / 9)
    assert rows["global"]["saving"] == pytest.approx(1 - 4 / (3 + 2 * 0.03 / 0.042))
    text = savings_sentence(table, "a", "energy")
    assert "55.6 % less energy than the uniform baselines do at 93.0 %" in text
    table.loc[4, "energy_pj.a"] = 6.0  # now dearer than the global baselines
    assert "35.5 % more energy than the global baselines" in savings_sentence(table, "a", "energy")
    assert "dominates" not in savings_sentence(table, "a", "energy")  # trial 5 is above them, but dearer


def test_a_trial_above_every_baseline_is_reported_only_where_it_dominates():
    from sparse_hw.search.outputs import dominating, savings_sentence

    table = pd.DataFrame({
        "number": [0, 1, 2, 3, 4, 5],
        "label": ["uniform-0.3", "uniform-0.5", "global-0.5", "global-0.8", "search", "search"],
        "accuracy": [0.696, 0.710, 0.742, 0.739, 0.729, 0.735],
        "energy_pj.a": [100.5, 89.0, 96.2, 82.0, 84.7, 88.0],
    })
    rows = {r["kind"]: r for r in dominating(table, "a", "energy_pj.a")}
    # uniform's most accurate point is uniform-0.5 (71.0 %, 89.0): trial 4 is above it and the cheapest such
    assert set(rows) == {"uniform"} and rows["uniform"]["number"] == 4
    assert rows["uniform"]["saving"] == pytest.approx(1 - 84.7 / 89.0)
    # global's most accurate point (74.2 %) is above both searched trials: nothing dominates it
    text = savings_sentence(table, "a", "energy")
    assert "trial 4 dominates the most accurate uniform baseline, uniform-0.5 (71.0 %): 1.9 points more " \
           "accurate for 4.8 % less energy" in text


def test_equal_training_table_takes_the_full_training_figures():
    from sparse_hw.search.outputs import equal_training_table

    table = pd.DataFrame({"number": [0, 1, 2], "label": ["uniform-0.5", "global-0.7", "search"],
                          "accuracy": [0.5, 0.6, 0.7], "energy_pj.a": [9.0, 8.0, 7.0]})
    final = {0: {"accuracy": 0.9, "energy_pj": {"a": 10.0}, "cycles": {"a": 3.0}},
             2: {"accuracy": 0.95, "energy_pj": {"a": 6.0}, "cycles": {"a": 2.0}}}
    eq = equal_training_table(table, final, ["a"])
    assert list(eq["number"]) == [0, 2] and list(eq["label"]) == ["uniform-0.5", "search"]  # trial 1 not trained
    assert list(eq["accuracy"]) == [0.9, 0.95] and list(eq["energy_pj.a"]) == [10.0, 6.0]
    assert list(eq["edp.a"]) == [30.0, 12.0]
