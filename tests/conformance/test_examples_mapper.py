"""On every published mapper example, our mapper is at least as good as timeloop-mapper's recorded best.

Both mappings are rated by OUR model, on the run's own ``optimization_metrics`` (lexicographic).
The searches stop after a fixed number of candidates (deterministic, whatever the machine's speed);
the few examples that need their whole mapspace walked are marked slow. Runs that do not load yet
are skipped with the loader's message (loading is tested by the examples conformance suite).
"""

from __future__ import annotations

import pytest

from sparse_hw.errors import SparseHwError
from tests.conformance.mapper_examples import SearchFailed, compare, mapper_cases

#: Candidates per search: enough for every example but those below.
CANDIDATES = 8_000
#: Examples whose best mapping needs the whole (or most of the) mapspace walked: run unbounded.
FULL = {
    "ex@778460f/ispass-timeloop/05_null",
    "ex@2d55108/ispass-timeloop/05_null",
    "ex@778460f/baseline_designs/simple_weight_stationary",
}
#: Examples whose searches take several seconds even when bounded.
HEAVY = {"ex@2d55108/example_designs/simba_like"}


def _params():
    out = []
    for case in mapper_cases():
        marks = [pytest.mark.slow] if case["id"] in FULL | HEAVY else []
        out.append(pytest.param(case, id=case["id"], marks=marks))
    return out


@pytest.mark.parametrize("case", _params())
def test_mapper_is_at_least_as_good_as_the_recorded_best(case) -> None:
    cap = 0 if case["id"] in FULL else CANDIDATES
    try:
        c = compare(case, max_candidates=cap)
    except SearchFailed as exc:
        pytest.fail(str(exc))
    except SparseHwError as exc:
        pytest.skip(f"does not load yet: {str(exc).splitlines()[0][:160]}")
    assert c.not_worse, (
        f"{case['id']}: ours {c.key(c.ours)} vs recorded {c.key(c.recorded)} on {c.metrics} "
        f"(recorded mapping from {c.recorded_from})"
    )
