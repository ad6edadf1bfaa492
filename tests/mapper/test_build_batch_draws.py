"""`MapSpace.build_batch` draws nothing it would overwrite, and the search's generators are made lazily.

An exhaustive chunk gives every loop order and keep bit; the random ones `build_batch` used to draw for
it were all overwritten. Skipping them must leave the batch exactly as it was (and the draws of a chunk
that does need some must stay the same stream), so no result of the search can change.
"""

from __future__ import annotations

import numpy as np

from sparse_hw.mapper.constraints import compile_rules
from sparse_hw.mapper.search import Mapper, SearchSettings, _LazyRng
from sparse_hw.model.evaluate import Engine
from sparse_hw.spec import load_spec
from tests.reference_cases import input_files

CASE = "ref__compression__resnet18_fc__w1_i1__mapper"  # eyeriss_like, sparse, a small layer


class _NoDraws:
    """A generator that must not be used."""

    def __getattr__(self, name: str):
        raise AssertionError(f"build_batch drew from the generator ({name})")


def _mapper() -> Mapper:
    spec = load_spec(input_files(CASE))
    engine = Engine.from_spec(spec)
    rules = compile_rules(list(spec.arch_constraints) + list(spec.mapspace_constraints), engine.arch,
                          engine.problem)
    return Mapper(engine, rules, SearchSettings(metrics=("delay", "energy"), seed=0))


def test_a_fully_given_chunk_draws_nothing_and_builds_the_same_batch() -> None:
    mapper = _mapper()
    _, (t_arr, s_arr, perm, xs, keep), _ = next(mapper._chunks())
    assert perm is not None and (perm[:, 0, 0] >= 0).all() and t_arr.shape[0] > 1
    assert keep is None or np.asarray(keep).dtype == bool or not (np.asarray(keep) < 0).any()
    fast = mapper.space.build_batch(t_arr, s_arr, _NoDraws(), perm, xs, keep)
    # the same chunk with its first row's loop order left to draw takes the drawing path: every other
    # row, and everything but that order, must come out alike
    ungiven = perm.copy()
    ungiven[0] = -1
    drawn = mapper.space.build_batch(t_arr, s_arr, np.random.default_rng([0, 0, 7]), ungiven, xs, keep)
    assert np.array_equal(fast.perm[1:], drawn.perm[1:]) and np.array_equal(fast.perm, perm)
    for name in ("spatial_perm", "split", "keep", "temporal", "spatial"):
        assert np.array_equal(getattr(fast, name), getattr(drawn, name)), name
    assert fast.keep.dtype == drawn.keep.dtype == bool


def test_free_keep_bits_are_still_drawn_from_the_same_stream() -> None:
    mapper = _mapper()
    _, (t_arr, s_arr, perm, xs, _), _ = next(mapper._chunks())
    free = np.full((t_arr.shape[0], *mapper.space.keep_fixed.shape), -1, dtype=np.int64)
    lazy = mapper.space.build_batch(t_arr, s_arr, _LazyRng([0, 0, 7]), perm, xs, free)
    eager = mapper.space.build_batch(t_arr, s_arr, np.random.default_rng([0, 0, 7]), perm, xs, free)
    assert np.array_equal(lazy.keep, eager.keep) and lazy.keep.any() and not lazy.keep.all()


def test_lazy_generator_is_the_same_stream() -> None:
    lazy, eager = _LazyRng([3, 1]), np.random.default_rng([3, 1])
    assert np.array_equal(lazy.random(5), eager.random(5))
    assert np.array_equal(lazy.integers(0, 9, size=4), eager.integers(0, 9, size=4))
