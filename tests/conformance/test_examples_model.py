"""Every published example run with a recorded mapping gives Timeloop's recorded numbers (issue 11).

Per run (../shared/reference/examples/cases.json): cycles exactly; energy within 0.5 % (dense) or
2 % (sparse); per-level actual reads, fills and updates within 0.5 %. Runs written by an older
Timeloop build are compared after recounting ours with that build's accounting (drift.py,
VERSION_DRIFT.md), so the stated cause must close the whole gap. A run whose files do not load yet
is an expected failure (the spec layer's work, test_examples_load.py); a run that loads is never
excused here.
"""

from __future__ import annotations

import pytest

from sparse_hw.errors import SparseHwError
from tests.conformance.drift import DRIFT_BY_DIALECT
from tests.conformance.examples import EXAMPLES, case, cases, compare, load, reference_stats

pytestmark = pytest.mark.skipif(
    not (EXAMPLES / "cases.json").is_file(), reason="../shared/reference/examples missing"
)

MODEL_CASES = [c.id for c in cases()] if (EXAMPLES / "cases.json").is_file() else []

#: Inputs the engine refuses with an error naming the key (issue 11 item 3), and why it cannot model them.
DOCUMENTED_REFUSALS = {
    "the ERT has no entry for reg": "the notebook ran with reg_enabled=False, which cases.json does not "
    "record (its processed input has no reg level); with reg, the ERT lacks its energy, so the engine "
    "refuses",
}

#: Runs that load and evaluate but differ, with what is known of the cause.
DOCUMENTED_GAPS = {
    "ex@2d55108/ispass-timeloop/04_cp": "spec layer (issue 11 item 1, not the engine): timeloopfe puts the "
    "PE container's 16-way fan-out above GlobalBuffer (16 GlobalBuffer instances in the recorded stats); "
    "the loaded spec keeps it below, so GlobalBuffer accesses are 16x",
    "ex@2d55108/ispass-timeloop/04_kp": "same as 04_cp",
    **{
        f"artifact/fig12/{run}": "build drift, not the engine (VERSION_DRIFT.md): the artifact's build lacks "
        "two safeguards NVlabs/timeloop 7780058 has and v3.0.3 keeps, the 6-digit rounding of the "
        "conditioning P(empty) (storage-optimization-combiner.cpp) and the [0, 1] clamp of the conditioned "
        "operand probabilities (compute-gs-analyzer.cpp CalculateFlattenedProb); v3.0.3 itself gives our "
        "1592243 cycles on L07's identical files (reference run ..._L07__artifact_uniform__model__artifactmap)"
        for run in (
            "uniform_only/L07", "uniform_only/L09", "uniform_only/L21", "uniform_only/L25",
            "uniform_actual/L07/uniform", "uniform_actual/L21/uniform",
        )
    },
}


def _check_loads(c) -> None:
    try:
        load(c)
    except SparseHwError as exc:
        pytest.xfail(f"does not load yet: {str(exc).splitlines()[0][:200]}")


@pytest.mark.parametrize("case_id", MODEL_CASES)
def test_example_matches_timeloop(case_id: str) -> None:
    c = case(case_id)
    if not c.modelable:
        pytest.skip("mapper run without a recorded map.yaml: it can only be re-searched (mapper benchmark)")
    _check_loads(c)
    r = compare(c)
    if not r.evaluated:
        why = next((w for key, w in DOCUMENTED_REFUSALS.items() if key in (r.error or "")), None)
        if why is not None:
            pytest.xfail(f"refused with a named key: {why}")
    assert r.evaluated, f"loads but the engine refused it: {r.error}"
    if not r.ok and case_id in DOCUMENTED_GAPS:
        pytest.xfail(DOCUMENTED_GAPS[case_id])
    problems = []
    if not r.cycles_ok:
        problems.append(f"cycles {r.cycles} vs Timeloop {r.ref.cycles}")
    if not r.energy_ok:
        problems.append(
            f"energy ratio {r.energy_ratio:.5f} (tolerance {r.energy_tol:.1%}"
            + (f", after the {r.dialect} build's accounting {r.drift}" if r.drift else "")
            + ")"
        )
    for (level, ds, f), (got, want) in sorted(r.access_mismatches.items()):
        problems.append(f"{level}.{ds} {f}: {got:g} vs Timeloop {want:g}")
    assert not problems, "; ".join(problems)


def test_drift_dialects_are_the_old_builds() -> None:
    """Only the 2020 (v1) and 2022 (v2.0 / Sparseloop) stats generations are recounted."""
    assert set(DRIFT_BY_DIALECT) == {"2020", "2022"}
    seen = {reference_stats(c.id).dialect for c in cases() if c.modelable}
    assert seen <= {"2020", "2022", "v3", "2024"}


def test_drift_recount_is_needed_where_applied() -> None:
    """The old accounting is not a no-op: on an old-build run the plain v3.0.3 numbers miss it."""
    r = compare(case("ex@778460f/isca21/02.2.1-spMspM"))
    assert r.loaded and "output_first_fills" in r.drift
    assert abs(r.energy_ratio - 1.0) <= 0.005
    assert abs(r.energy_ratio_v3 - 1.0) > 0.05  # 64 first fills of Z at the Buffer: 5.6 % of the energy
