"""A ``utilization`` (``parallelism``) constraint is Timeloop's minimum parallelism: the mapper rejects every
mapping whose product over spatial levels of (spatial factors used / fan-out) is below ``min``
(`Uber::AssignSpatialTilingDirections`); one per mapping, a second is refused. It used to be read and ignored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sparse_hw.errors import MappingError, SparseHwError
from sparse_hw.mapper.constraints import compile_rules
from sparse_hw.mapper.search import Mapper, SearchSettings
from sparse_hw.model.evaluate import Engine
from sparse_hw.spec import load_spec
from tests.reference_cases import copy_inputs

CASE = "ref__dense__resnet18_fc__w1_i1__mapper"  # C=512 M=1000 on 168 PEs: never fully used
MAP_CONSTRAINTS = "eyeriss_like_map_constraints.yaml"


def _files(tmp: Path, *extra: str) -> list[Path]:
    """The case's inputs, with ``extra`` constraint targets appended to its mapspace constraints."""
    files = copy_inputs(CASE, tmp)
    path = tmp / MAP_CONSTRAINTS
    path.write_text(path.read_text() + "".join(extra))
    return files


def _utilization(level: str, minimum: float, kind: str = "utilization") -> str:
    return f"    - target: {level}\n      type: {kind}\n      min: {minimum}\n"


def _map(files: list[Path]):
    spec = load_spec(files)
    engine = Engine.from_spec(spec)
    rules = compile_rules(list(spec.arch_constraints) + list(spec.mapspace_constraints), engine.arch, engine.problem)
    return rules, Mapper(engine, rules, SearchSettings(metrics=("delay", "energy"), seed=0)).run()


def _space(files: list[Path]):
    from sparse_hw.mapper.mapspace import MapSpace

    spec = load_spec(files)
    engine = Engine.from_spec(spec)
    rules = compile_rules(list(spec.arch_constraints) + list(spec.mapspace_constraints), engine.arch, engine.problem)
    return MapSpace.build(engine.problem, engine.arch, rules)


def _config_parallelism(space) -> dict[tuple, float]:
    """Each spatial configuration of the mapspace -> its parallelism, from the factors it uses."""
    cfg, _, groups = space.spatial_configs()
    tables = space._tables()
    out = {}
    for c in cfg:
        used = np.ones(len(space.spatial_levels))
        for j, g in enumerate(c):
            _, _, _, tt = tables[j]
            used *= tt[groups[j][g][0]]  # every row of a group has the same spatial factors
        out[tuple(int(v) for v in c)] = float(np.prod(used / [np.prod(space.arch.fanout(l))
                                                              for l in space.spatial_levels]))
    return out


def test_the_mapspace_keeps_exactly_the_configurations_at_or_above_the_minimum(tmp_path):
    free = _config_parallelism(_space(_files(tmp_path / "free")))
    kept = _config_parallelism(_space(_files(tmp_path / "min", _utilization("shared_glb", 0.3))))
    assert max(free.values()) == pytest.approx(100 / 168)  # C=512, M=1000 on 14 x 12: at most 10 x 10
    assert set(kept) == {c for c, p in free.items() if p >= 0.3} and 0 < len(kept) < len(free)


def test_sampled_candidates_below_the_minimum_are_rejected(tmp_path):
    space = _space(_files(tmp_path, _utilization("shared_glb", 0.3)))
    rng = np.random.default_rng(0)
    t_arr, s_arr = space.factor_arrays(space.sample_indices(rng, 4096), rng)
    ok, reasons = space._partial_ok(t_arr, s_arr, [])
    st = np.stack([np.prod(s_arr[:, l, :], axis=1) for l in space.spatial_levels], axis=1)
    low = space._parallelism(st) < 0.3
    assert low.any() and not ok[low].any() and np.array_equal(reasons["parallelism"], low)


def test_the_best_mapping_meets_the_minimum(tmp_path):
    free_rules, free = _map(_files(tmp_path / "free"))
    rules, constrained = _map(_files(tmp_path / "min", _utilization("shared_glb", 0.5)))
    assert (free_rules.min_parallelism, rules.min_parallelism) == (0.0, 0.5)
    assert constrained.evaluation.utilization >= 0.5
    # the unconstrained best already uses 100 of 168 PEs: the constraint keeps it
    assert (constrained.evaluation.cycles, constrained.evaluation.energy_pj) == \
        (free.evaluation.cycles, free.evaluation.energy_pj)


def test_parallelism_is_the_same_constraint(tmp_path):
    rules, result = _map(_files(tmp_path, _utilization("DRAM", 0.5, kind="parallelism")))
    assert rules.min_parallelism == 0.5 and result.evaluation.utilization >= 0.5


def test_an_unreachable_minimum_says_so(tmp_path):
    # 100 of 168 PEs (0.595) is the most this layer can use
    with pytest.raises(MappingError, match="minimum parallelism 0.6"):
        _map(_files(tmp_path, _utilization("shared_glb", 0.6)))


def test_a_second_minimum_is_refused(tmp_path):
    with pytest.raises(SparseHwError, match="second minimum parallelism") as err:
        _map(_files(tmp_path, _utilization("shared_glb", 0.5), _utilization("DRAM", 0.6)))
    assert "eyeriss_like_map_constraints.yaml" in str(err.value) and ".min" in str(err.value)


def test_allow_overbooking_is_named_as_not_modelled(tmp_path):
    """Sparseloop lets an `allow_overbooking` level hold tiles that overflow it at a set confidence; the engine
    sizes tiles to always fit, and every result carries a note naming the level (never a silent difference)."""
    files = _files(tmp_path)
    arch = tmp_path / "arch.yaml"
    arch.write_text(arch.read_text().replace("            data_storage_depth: 12800\n",
                                             "            data_storage_depth: 12800\n            allow_overbooking: true\n"))
    _, result = _map(files)
    assert any(n.startswith("shared_glb: allow_overbooking is not modelled") for n in result.evaluation.notes)
    _, plain = _map(_files(tmp_path / "plain"))
    assert not any("allow_overbooking" in n for n in plain.evaluation.notes)
