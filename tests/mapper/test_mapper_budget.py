"""The time budget: a spent budget never reads as a misfit, and an impossible mapspace still says so."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from sparse_hw.errors import MappingError
from sparse_hw.mapper.constraints import compile_rules
from sparse_hw.mapper.search import Mapper, SearchSettings
from sparse_hw.model.evaluate import Engine
from sparse_hw.spec import load_spec
from tests.reference_cases import input_files

CASE = "ref__dense__resnet18_fc__w1_i1__mapper"  # eyeriss_like, a small layer


def _mapper(files, **settings) -> Mapper:
    spec = load_spec(files)
    engine = Engine.from_spec(spec)
    rules = compile_rules(
        list(spec.arch_constraints) + list(spec.mapspace_constraints), engine.arch, engine.problem
    )
    return Mapper(engine, rules, SearchSettings(metrics=("delay", "energy"), seed=0, **settings))


def test_tiny_budget_still_returns_a_valid_mapping_with_a_note():
    mapper = _mapper(input_files(CASE), budget_s=1e-6)
    result = mapper.run()
    mb = result.batch
    assert np.array_equal((mb.temporal * mb.spatial).prod(axis=1)[0], mapper.engine.problem.bounds)
    assert result.valid >= 1 and result.evaluation.cycles > 0
    assert result.budget_exceeded
    assert result.stats()["budget_exceeded_for_first_mapping"] is True
    assert any("budget ran out before a first valid mapping" in n for n in result.notes)
    assert any("--budget-s" in n for n in result.evaluation.notes)


def test_no_budget_no_budget_note():
    result = _mapper(input_files(CASE), max_candidates=20_000).run()
    assert not result.budget_exceeded and "budget_exceeded_for_first_mapping" not in result.stats()
    assert not any("budget" in n for n in result.notes)


def test_impossible_mapspace_still_names_the_limit_under_a_tiny_budget(tmp_path):
    files = input_files("ref__dense__resnet18_conv4x__w1_i1__mapper")
    copies = []
    for f in files:
        shutil.copyfile(f, tmp_path / f.name)
        copies.append(tmp_path / f.name)
    arch = tmp_path / "arch.yaml"
    arch.write_text(arch.read_text().replace("data_storage_depth: 224", "data_storage_depth: 2"))
    with pytest.raises(MappingError) as err:
        _mapper(copies, budget_s=1e-6).run()
    text = err.value.render()
    assert "weights_spad holds 2 words" in text and "budget" not in text


def test_budget_limited_failure_names_budget_s_not_the_constraints():
    # no room at all past the budget: the search stops before any candidate is generated
    mapper = _mapper(input_files(CASE), budget_s=1e-9, first_mapping_factor=0.0, first_mapping_min_s=0.0)
    with pytest.raises(MappingError) as err:
        mapper.run()
    text = err.value.render()
    assert "--budget-s" in text and "budget, not the constraints, was the limit" in text
    assert "could be generated from the constraints" not in text
