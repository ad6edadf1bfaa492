"""Every `mode = model` reference run, re-evaluated by our engine from the same input files.

Dense runs (no sparse optimization file) must match exactly: cycles, and every per-level actual
read/fill/update count, with total energy within 0.5 %. Sparse runs (gating, compression, the
Eyeriss-v2 PE and the full Eyeriss v2, fixed-structured and hypergeometric densities) must stay within
2 % on average and 5 % at worst on energy and cycles, and within 2 % on every per-level actual count.
Every mismatch is reported, not only the first.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sparse_hw.model.evaluate import Engine
from sparse_hw.spec import load_spec
from tests.reference_cases import case_ids, input_files, levels, results

DENSE_VARIANTS = {"dense", "eyeriss_v2_pe_dense"}
COUNTS = ("reads", "fills", "updates")


def _ref_count(row: pd.Series, action: str) -> float | None:
    for col in (f"Actual scalar {action} (per-instance)", f"Scalar {action} (per-instance)"):
        if col in row and not pd.isna(row[col]):
            return float(row[col])
    return None


@pytest.fixture(scope="module")
def evaluated():
    out = {}
    for case in case_ids("model"):
        spec = load_spec(input_files(case))
        engine = Engine.from_spec(spec)
        out[case] = engine.evaluation(engine.compile_mapping(spec.mapping), 0)
    return out


def _level_mismatches(case, ev, rel_tol):
    lv = levels()
    lv = lv[lv.case_id == case]
    problems = []
    for stats in ev.levels:
        if stats.dataspace.startswith("("):
            continue
        rows = lv[(lv.level == stats.level) & (lv.dataspace == stats.dataspace)]
        if rows.empty:
            problems.append(f"{case} {stats.level}/{stats.dataspace}: no reference row")
            continue
        row = rows.iloc[0]
        for action in COUNTS:
            ref = _ref_count(row, action)
            ours = getattr(stats, action)
            if ref is None:
                continue
            if rel_tol == 0:
                if abs(ours - ref) > 0.5:
                    problems.append(f"{case} {stats.level}/{stats.dataspace} {action}: ours {ours:.0f} ref {ref:.0f}")
            elif abs(ours - ref) > rel_tol * max(abs(ref), 1.0):
                problems.append(
                    f"{case} {stats.level}/{stats.dataspace} {action}: ours {ours:.1f} ref {ref:.1f} "
                    f"({ours / ref if ref else math.inf:.4f})"
                )
    return problems


def test_every_model_case_is_evaluated(evaluated):
    expected = set(case_ids("model"))
    assert set(evaluated) == expected
    assert len(expected) >= 245


def test_dense_cases_are_exact(evaluated):
    res = results().set_index("case_id")
    problems = []
    n = 0
    for case, ev in evaluated.items():
        row = res.loc[case]
        if row.arch_variant not in DENSE_VARIANTS:
            continue
        n += 1
        if int(ev.cycles) != int(row.cycles):
            problems.append(f"{case}: cycles ours {ev.cycles} ref {row.cycles}")
        ratio = ev.energy_pj / row.energy_pJ
        if abs(ratio - 1) > 0.005:
            problems.append(f"{case}: energy ratio {ratio:.5f}")
        problems += _level_mismatches(case, ev, 0)
    assert n >= 49
    assert not problems, "\n".join(problems)


def test_sparse_cases_within_tolerance(evaluated):
    res = results().set_index("case_id")
    e_err, c_err, problems = [], [], []
    for case, ev in evaluated.items():
        row = res.loc[case]
        if row.arch_variant in DENSE_VARIANTS:
            continue
        e = ev.energy_pj / row.energy_pJ - 1
        c = ev.cycles / row.cycles - 1
        e_err.append(abs(e))
        c_err.append(abs(c))
        if abs(e) > 0.05 or abs(c) > 0.05:
            problems.append(f"{case}: energy {1 + e:.4f} cycles {1 + c:.4f}")
        problems += _level_mismatches(case, ev, 0.02)
    assert len(e_err) >= 190
    assert np.mean(e_err) <= 0.02, f"mean energy error {np.mean(e_err):.4%}"
    assert np.mean(c_err) <= 0.02, f"mean cycle error {np.mean(c_err):.4%}"
    assert not problems, "\n".join(problems)


def test_utilization_and_computes_match(evaluated):
    res = results().set_index("case_id")
    problems = []
    for case, ev in evaluated.items():
        row = res.loc[case]
        if abs(round(ev.utilization, 2) - row.utilization) > 0.011:
            problems.append(f"{case}: utilization {ev.utilization:.3f} ref {row.utilization}")
        if abs(ev.algorithmic_computes - row.algorithmic_computes) > 0.5:
            problems.append(f"{case}: algorithmic computes {ev.algorithmic_computes} ref {row.algorithmic_computes}")
        if abs(ev.actual_computes - row.actual_computes) > max(2, 1e-5 * row.actual_computes):
            problems.append(f"{case}: actual computes {ev.actual_computes} ref {row.actual_computes}")
        if abs(ev.area_um2 - row.area_um2) > 1.0:
            problems.append(f"{case}: area {ev.area_um2:.1f} ref {row.area_um2}")
    assert not problems, "\n".join(problems)
