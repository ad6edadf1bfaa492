"""The mapper: quality against timeloop-mapper's best mappings, constraints, determinism, diagnostics."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from sparse_hw.errors import MappingError
from sparse_hw.mapper.constraints import compile_rules
from sparse_hw.mapper.search import Mapper, SearchSettings, padded_size
from sparse_hw.model.evaluate import Engine
from sparse_hw.spec import load_spec
from tests.reference_cases import best_mapping_file, input_files


def _setup(files):
    spec = load_spec(files)
    engine = Engine.from_spec(spec)
    rules = compile_rules(list(spec.arch_constraints) + list(spec.mapspace_constraints), engine.arch, engine.problem)
    return spec, engine, rules


@pytest.mark.parametrize(
    "case",
    [
        "ref__dense__resnet18_fc__w1_i1__mapper",
        "ref__gating__resnet18_fc__w0.5_i0.5__mapper",
        "ref__compression__resnet18_conv4x__w1_i0.5__mapper",
    ],
)
def test_never_worse_than_timeloop_mapper(case):
    spec, engine, rules = _setup(input_files(case))
    ref_spec = load_spec([*input_files(case)[:-3], best_mapping_file(case)])  # arch + problem + best mapping
    ref = engine.evaluation(engine.compile_mapping(ref_spec.mapping), 0)
    ours = Mapper(engine, rules, SearchSettings(metrics=("delay", "energy"), seed=0)).run().evaluation
    assert ours.cycles <= ref.cycles
    if ours.cycles == ref.cycles:
        assert ours.energy_pj <= ref.energy_pj * (1 + 1e-9)


def test_constraints_are_respected():
    case = "ref__dense__resnet18_conv4x__w1_i1__mapper"
    _, engine, rules = _setup(input_files(case))
    result = Mapper(engine, rules, SearchSettings(metrics=("delay", "energy"), seed=0)).run()
    mb = result.batch
    dims = engine.problem.dims
    names = engine.arch.names()
    for lv, r in enumerate(rules.levels):
        for d, v in r.t_fixed.items():
            assert mb.temporal[0, lv, d] == v, (names[lv], dims[d])
        for d, v in r.s_fixed.items():
            assert mb.spatial[0, lv, d] == v, (names[lv], dims[d])
        for t in r.keep:
            assert mb.keep[0, lv, t]
        for t in r.bypass:
            assert not mb.keep[0, lv, t]
    # every dimension factorizes exactly
    assert np.array_equal((mb.temporal * mb.spatial).prod(axis=1)[0], engine.problem.bounds)


def _random_settings(seed, jobs):
    return SearchSettings(metrics=("edp",), seed=seed, jobs=jobs, mode="random", search_size=40_000, chunk=4096)


def test_same_seed_same_mapping_any_jobs():
    _, engine, rules = _setup(input_files("ref__dense__resnet18_conv2x__w1_i1__mapper"))
    a = Mapper(engine, rules, _random_settings(7, 1)).run()
    b = Mapper(engine, rules, _random_settings(7, 1)).run()
    c = Mapper(engine, rules, _random_settings(7, 2)).run()
    for other in (b, c):
        assert np.array_equal(a.batch.temporal, other.batch.temporal)
        assert np.array_equal(a.batch.spatial, other.batch.spatial)
        assert np.array_equal(a.batch.perm, other.batch.perm)
        assert a.evaluation.energy_pj == other.evaluation.energy_pj


def test_nothing_fits_names_the_tightest_limit(tmp_path):
    files = input_files("ref__dense__resnet18_conv4x__w1_i1__mapper")
    copies = []
    for f in files:
        dst = tmp_path / f.name
        shutil.copyfile(f, dst)
        copies.append(dst)
    arch = tmp_path / "arch.yaml"
    text = arch.read_text().replace("data_storage_depth: 224", "data_storage_depth: 2")
    arch.write_text(text)
    _, engine, rules = _setup(copies)
    with pytest.raises(MappingError, match=r"weights_spad holds 2 words.*Relax"):
        Mapper(engine, rules, SearchSettings(metrics=("delay", "energy"))).run()


def test_padded_size_factorizes():
    assert padded_size(131) == 135
    assert padded_size(64) == 64
    assert padded_size(1000) == 1000


def test_jobs_zero_means_every_core(monkeypatch) -> None:
    from sparse_hw.mapper import search

    monkeypatch.setattr(search.os, "cpu_count", lambda: 32)
    assert search.resolve_jobs(0) == search.resolve_jobs(None) == 8  # every core, at most 8
    monkeypatch.setattr(search.os, "cpu_count", lambda: 2)
    assert search.resolve_jobs(0) == 2 and search.resolve_jobs(3) == 3 and search.resolve_jobs(1) == 1
