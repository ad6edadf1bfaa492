"""The one Pareto computation (sparse_hw.pareto), as the sweep and the search use it."""

from __future__ import annotations

import pandas as pd

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
