"""The mapspace's keep/bypass sub-space, exhaustive enumeration and inequality factor constraints.

The ISPASS'20 exercise `05-mapper-conv1d+oc-3level` fixes every factor and loop order and leaves
keep/bypass free at the two inner levels: 2^(2 x 3) = 64 mappings (its constraints file says so).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sparse_hw.backends.analytical import map_spec
from sparse_hw.errors import MappingError
from sparse_hw.mapper.constraints import compile_rules
from sparse_hw.mapper.mapspace import MapSpace
from sparse_hw.model.evaluate import Engine
from sparse_hw.spec import load_spec
from tests.conformance.mapper_examples import EXAMPLES, compare, input_files, mapper_cases

FREEBYPASS = "ex@778460f/ispass-timeloop/05_freebypass"
BYPASS_V04 = "ex@2d55108/ispass-timeloop/05_bypass"


def _case(case_id: str) -> dict:
    found = [c for c in mapper_cases() if c["id"] == case_id]
    if not found:
        pytest.skip(f"{case_id} not in ../shared/reference/examples")
    return found[0]


def _spec(case_id: str, extra: list[Path] | None = None):
    return load_spec([*input_files(_case(case_id)), *(extra or [])])


def _space(spec) -> tuple[Engine, MapSpace]:
    engine = Engine.from_spec(spec)
    directives = list(spec.arch_constraints or []) + list(spec.mapspace_constraints or [])
    return engine, MapSpace.build(engine.problem, engine.arch, compile_rules(directives, engine.arch, engine.problem))


def test_free_bits_follow_timeloops_bypass_subspace() -> None:
    engine, space = _space(_spec(FREEBYPASS))
    keeps = space.keep_options()
    n_lv, n_t = engine.arch.n_levels, len(engine.problem.dataspaces)
    assert keeps.shape == (2 ** (2 * 3), n_lv, n_t)
    assert keeps[:, n_lv - 1, :].all()  # the outermost level always keeps
    assert len({k.tobytes() for k in keeps}) == keeps.shape[0]  # every combination once


def test_capped_bypass_choices_are_drawn_per_candidate() -> None:
    _, space = _space(_spec(FREEBYPASS))
    keeps = space.keep_options(cap=4)
    free = space.keep_fixed < 0
    assert keeps.shape[0] == 4
    assert (keeps[0][free] == 1).all() and (keeps[1:][:, free] == -1).all()
    t = np.ones((200, *space.keep_fixed.shape[:1], space.problem.n_dims), dtype=np.int64)
    batch = space.build_batch(t, t.copy(), np.random.default_rng(0), keep=np.repeat(keeps[1:2], 200, axis=0))
    assert len({k.tobytes() for k in batch.keep}) > 32  # random bits, not one shared pattern


def test_exhaustive_enumerates_every_bypass_choice_and_returns_the_best() -> None:
    spec = _spec(FREEBYPASS)
    result, engine = map_spec(spec, overrides={"mode": "exhaustive", "metrics": ["edp"]})
    assert result.mode == "exhaustive"
    # 64 keep/bypass choices x 2 register-file loop orders: the constraint's (R inside K) and the
    # canonical one Timeloop uses at the innermost level whatever the constraint says (K inside R)
    assert result.evaluated == 128
    _, space = _space(spec)
    keeps = space.keep_options()
    rows = list(space.expand(result.batch.temporal, result.batch.spatial, keeps, all_orders=True, max_orders=1,
                             all_sides=True, chunk=1000))
    t, s, perm, xs, keep = (np.concatenate(a) for a in zip(*rows))
    assert t.shape[0] == 128
    assert len({k.tobytes() for k in keep}) == 64
    assert len({p[0].tobytes() for p in perm}) == 2
    # rate all of them ourselves: the search's answer is the minimum EDP
    ev = engine.evaluate(space.build_batch(t, s, np.random.default_rng(0), perm, xs, keep))
    edp = np.where(ev.valid, ev.energy_pj * ev.cycles, np.inf)
    assert int(ev.valid.sum()) >= 2
    assert result.evaluation.energy_pj * result.evaluation.cycles == pytest.approx(edp.min(), rel=1e-12)
    assert edp.max(where=ev.valid, initial=0) > edp.min() * 1.5  # the choice matters


@pytest.mark.parametrize("case_id", [FREEBYPASS, BYPASS_V04])
def test_freebypass_case_is_at_least_as_good_as_timeloop_mapper(case_id: str) -> None:
    c = compare(_case(case_id))
    assert c.not_worse, (c.ours, c.recorded)


def _constraints(tmp_path: Path, factors: str) -> Path:
    path = tmp_path / "bounds.constraints.yaml"
    path.write_text(textwrap.dedent(f"""\
        mapspace_constraints:
          - target: RegisterFile
            type: temporal
            factors: {factors}
        """))
    return path


def test_inequality_factor_constraints_bound_the_mapspace(tmp_path: Path) -> None:
    case = _case(FREEBYPASS)
    cwd = EXAMPLES / case["cwd"]
    base = [cwd / "arch/3level.arch.yaml", cwd / "prob/conv1d+oc.prob.yaml", *[cwd / f for f in case["ert"]]]
    free = load_spec(base)
    bounded = load_spec([*base, _constraints(tmp_path, "K<=4 P>=4")])
    _, space_free = _space(free)
    engine, space = _space(bounded)
    dims = list(engine.problem.dims)
    assert 0 < space.size_upper_bound < space_free.size_upper_bound
    for slots in space.dims:  # every enumerated factorization respects the bounds at the register file
        for j, (lv, kind) in enumerate(slots.free):
            if lv == 0 and kind == "T" and slots.dim == dims.index("K"):
                assert slots.table[:, j].max() <= 4
            if lv == 0 and kind == "T" and slots.dim == dims.index("P"):
                assert slots.table[:, j].min() >= 4
    result, _ = map_spec(bounded, overrides={"mode": "exhaustive", "budget_s": None})
    assert result.batch.temporal[0, 0, dims.index("K")] <= 4
    assert result.batch.temporal[0, 0, dims.index("P")] >= 4


def test_inequality_that_no_factorization_meets_is_named(tmp_path: Path) -> None:
    case = _case(FREEBYPASS)
    cwd = EXAMPLES / case["cwd"]
    files = [cwd / "arch/3level.arch.yaml", cwd / "prob/conv1d+oc.prob.yaml", *[cwd / f for f in case["ert"]],
             _constraints(tmp_path, "R>=5")]
    with pytest.raises(MappingError, match="R=3"):
        _space(load_spec(files))


def test_search_memory_stays_bounded_in_a_subprocess() -> None:
    """The example whose 30 s search used to peak at 5.3 GB: its first spatial configuration has
    over a million tilings, each with up to 16 loop orders. Candidates are now streamed in chunks."""
    case_id = "ex@2d55108/example_designs/simple_weight_stationary"
    _case(case_id)
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, ".")
        from tests.conformance.mapper_examples import compare, mapper_cases
        from sparse_hw.errors import SparseHwError
        case = next(c for c in mapper_cases() if c["id"] == {case_id!r})
        try:
            c = compare(case, max_candidates=60000)
        except SparseHwError as exc:
            print("SKIP", str(exc).splitlines()[0])
            sys.exit(0)
        assert c.candidates >= 60000, c.candidates
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve, so a child of a big pytest process
        # would report the parent's peak; the high-water mark belongs to this process's own memory map.
        print(next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM:')))
    """)
    root = Path(__file__).resolve().parent.parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    if last.startswith("SKIP"):
        pytest.skip(f"{case_id} does not load yet: {last}")
    assert int(last) < 1024 * 1024, f"peak memory {int(last) / 1024:.0f} MiB"
