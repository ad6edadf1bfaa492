"""The mapper's fast paths (issue 15, item 14) compute exactly what the code they replace computed.

Each shortcut is checked against its plain form: packed-row ``np.unique``, per-coordinate projection
extents, the row-loop product, selecting rows of a dense analysis instead of analyzing them again,
and the batch sparse evaluation (with its tile and occupancy sharing) against the per-mapping
reference. A pinned search result guards the whole chain: same seed, same mapping, same numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from sparse_hw.model.nest import _prod_last, analyze
from sparse_hw.model.problem import _LOOP_MIN_ELEMENTS, DataSpaceModel, DensitySpec
from sparse_hw.model.unique_rows import unique_rows
from tests.reference_cases import case_ids, input_files

CASE = "ref__gating__resnet18_fc__w1_i1__mapper"


def test_unique_rows_is_numpy_unique_by_rows():
    rng = np.random.default_rng(0)
    for trial in range(400):
        n, k = int(rng.integers(1, 200)), int(rng.integers(1, 30))
        scale = (1, 4, 1000, 2**40)[trial % 4]  # the last overflows the packing: numpy's own path
        key = rng.integers(-scale, scale + 1, size=(n, k)).astype(np.int64)
        if trial % 3 == 0:
            key[:, ::2] = 7  # constant columns drop out of the packed key
        if trial % 5 == 0:
            key = key[rng.integers(0, n, size=n)]  # many repeats
        _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
        got_first, got_inverse = unique_rows(key)
        assert np.array_equal(got_first, first)
        assert np.array_equal(got_inverse, inverse.reshape(-1))


@pytest.mark.parametrize("rows", [7, _LOOP_MIN_ELEMENTS])  # the matmul path and the per-coordinate one
def test_projection_extents_are_the_matmul(rows):
    rng = np.random.default_rng(1)
    for _ in range(60):
        c, d = int(rng.integers(0, 5)), int(rng.integers(1, 8))
        coef = (rng.integers(0, 3, size=(c, d)) * (rng.random((c, d)) < 0.5)).astype(np.int64)
        ds = DataSpaceModel("x", coef, False, 1, DensitySpec("fixed_structured", 1.0))
        for shape, dtype in (((rows, d), np.int32), ((rows, 3, d), np.int64), ((d,), np.int64)):
            e = rng.integers(1, 60, size=shape).astype(dtype)
            want = 1 + (e - 1) @ coef.T
            got = ds.extents(e)
            assert got.dtype == want.dtype and np.array_equal(got, want)
            size = ds.tile_size(e)
            assert size.dtype == np.prod(want, axis=-1).dtype and np.array_equal(size, np.prod(want, axis=-1))


def test_prod_last_is_numpy_prod():
    rng = np.random.default_rng(2)
    for dtype in (np.int64, np.int32, bool):
        a = rng.integers(0, 9, size=(50, 4, 6)).astype(dtype)
        assert _prod_last(a).dtype == np.prod(a, axis=-1).dtype
        assert np.array_equal(_prod_last(a), np.prod(a, axis=-1))
    assert np.array_equal(_prod_last(np.ones((3, 0), dtype=np.int64)), np.ones(3, dtype=np.int64))


@pytest.fixture(scope="module")
def chunk():
    """The engine and the first candidate chunk of a small sparse reference search."""
    from sparse_hw.backends.analytical import search_settings
    from sparse_hw.mapper.constraints import compile_rules
    from sparse_hw.mapper.search import Mapper, _LazyRng
    from sparse_hw.model.evaluate import Engine
    from sparse_hw.spec import load_spec

    if CASE not in case_ids("mapper"):
        pytest.skip("reference runs not available")
    spec = load_spec(input_files(CASE))
    engine = Engine.from_spec(spec)
    directives = list(spec.arch_constraints or []) + list(spec.mapspace_constraints or [])
    mapper = Mapper(engine, compile_rules(directives, engine.arch, engine.problem), search_settings(spec, {}))
    index, arrays, _ = next(mapper._chunks())
    t_arr, s_arr, perm, xs, keep = arrays
    return engine, mapper.space.build_batch(t_arr, s_arr, _LazyRng([0, index, 7]), perm, xs, keep)


def test_selected_rows_of_an_analysis_equal_their_own_analysis(chunk):
    engine, mb = chunk
    full = analyze(engine.problem, engine.arch, mb)
    rng = np.random.default_rng(3)
    for rows in (np.arange(0, mb.n, 5), np.array([mb.n - 1]), rng.permutation(mb.n)[:64]):
        own = analyze(engine.problem, engine.arch, mb.select(rows))
        picked = full.select(rows)
        for name in own.__struct_fields__:
            a, b = getattr(own, name), getattr(picked, name)
            pairs = zip(a, b) if isinstance(a, list) else [(a, b)]
            for x, y in pairs:
                assert x.dtype == y.dtype and np.array_equal(x, y), name


def test_batch_sparse_evaluation_equals_the_reference(chunk):
    engine, mb = chunk
    rows = np.random.default_rng(4).permutation(mb.n)[:40]
    sel = mb.select(rows)
    fast = engine.evaluate(sel)
    ref = engine.evaluate_reference(sel)
    assert fast.valid.any()
    assert np.array_equal(fast.valid, ref.valid)
    ok = fast.valid
    np.testing.assert_allclose(fast.energy_pj[ok], ref.energy_pj[ok], rtol=1e-9)
    assert np.array_equal(fast.cycles[ok], ref.cycles[ok])


def test_search_result_is_pinned():
    """The best mapping and numbers of one reference search, as recorded before the speedups."""
    from sparse_hw.backends.analytical import map_spec
    from sparse_hw.spec import load_spec

    if CASE not in case_ids("mapper"):
        pytest.skip("reference runs not available")
    result, _ = map_spec(load_spec(input_files(CASE)), overrides={"seed": 0, "jobs": 1,
                                                                  "metrics": ["delay", "energy"]})
    assert (result.evaluated, result.valid, result.exact_evaluations) == (846, 64, 64)
    assert repr(float(result.evaluation.cycles)) == "5120.0"
    assert repr(float(result.evaluation.energy_pj)) == "68182970.043336"
    b = result.batch
    assert b.temporal[0].tolist() == [[1, 20, 1, 1, 1, 1, 1], *[[1] * 7] * 4, [256, 1, 1, 1, 1, 1, 1]]
    assert b.spatial[0, 3].tolist() == [2, 5, 1, 1, 1, 1, 1] and b.spatial[0, 4].tolist() == [1, 10, 1, 1, 1, 1, 1]
    assert b.keep[0].astype(int).tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 1, 1], [1, 1, 1]]
    assert b.perm[0].tolist()[0] == [4, 0, 5, 6, 2, 3, 1]


def test_spatial_x_is_the_inverse_spatial_order():
    """`MappingBatch.spatial_x` (flat-index scatter) against `put_along_axis` of the spatial order."""
    from sparse_hw.model.mapping import MappingBatch

    rng = np.random.default_rng(5)
    for _ in range(40):
        n, levels, dims = int(rng.integers(1, 40)), int(rng.integers(1, 6)), int(rng.integers(1, 8))
        order = np.argsort(rng.random((n, levels, dims)), axis=2).astype(np.int64)
        split = rng.integers(0, dims + 1, size=(n, levels)).astype(np.int64)
        ones = np.ones((n, levels, dims), dtype=np.int64)
        mb = MappingBatch(ones, ones, order, order, split, np.ones((n, levels, 2), dtype=bool))
        pos = np.empty_like(order)
        np.put_along_axis(pos, order, np.broadcast_to(np.arange(dims), order.shape), axis=2)
        assert np.array_equal(mb.spatial_x, pos < split[:, :, None])
