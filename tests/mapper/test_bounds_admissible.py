"""The mapper's pruning bounds (mapper/bounds.py) never exceed the exact model: a property test.

A bound above the exact energy or cycles of a mapping lets the mapper prune a mapping that is really
better. For each design below, the recorded mapping and a few hundred seeded random mappings of the
constrained mapspace are rated by both; every valid one must satisfy bound <= exact.

Covered: the MICRO'22 fig15 STC runs (``skipping-spatial``, spatial_skip.py) and DSTC runs
(``position-skipping``), the built-in sparse_tensor_core, the sparse example designs of cases.json
(Sparseloop tutorials, fig1/fig12, STC-like) and the reference gating / compression / Eyeriss v2
cases. The fast set is a few cases per kind; the full sweeps (every fig15 STC/DSTC run, every sparse
example, every non-dense reference case) are marked slow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sparse_hw.mapper.bounds import Bounds
from sparse_hw.mapper.constraints import compile_rules
from sparse_hw.mapper.mapspace import MapSpace
from sparse_hw.model.evaluate import Engine
from sparse_hw.model.mapping import MappingBatch
from sparse_hw.model.nest import analyze
from sparse_hw.spec import load_spec
from tests.conformance.examples import EXAMPLES, cases, load

TOL = 1e-9  # relative: float rounding only
SAMPLES = 300
FIG15 = EXAMPLES / "artifact/workspace/2022.micro.artifact/evaluation_setups/fig15_stc_related_setup"
DATAFLOW = FIG15 / "architecture_templates/HW_systems/configurations/dataflow"
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "timeloop"


def _fig15_ids(kind: str) -> list[str]:
    if not (EXAMPLES / "cases.json").is_file():
        return []
    return [c.id for c in cases() if "/fig15/" in c.id and c.id.rsplit("/", 1)[1].startswith(kind)]


def _constraints(tmp_path: Path, design: str) -> Path:
    """The artifact's dataflow constraints of a fig15 design (LRF N<=128: the 2x RF its sweep sets)."""
    name = "DSTC-Os-constraints.yaml" if design.startswith("DSTC") else "FlexibleGH-Ms-constraints.yaml"
    path = tmp_path / name
    path.write_text((DATAFLOW / name).read_text().replace("N<=64 ", "N<=128 "))
    return path


def _random_batch(engine: Engine, directives, n: int, seed: int, keep=None) -> MappingBatch:
    """Seeded random mappings of the constrained mapspace (partial checks passed; validity not assured)."""
    rules = compile_rules(list(directives), engine.arch, engine.problem)
    space = MapSpace.build(engine.problem, engine.arch, rules)
    rng = np.random.default_rng(seed)
    idx = space.sample_indices(rng, n)
    t_arr, s_arr = space.factor_arrays(idx, rng)
    ok, _ = space._partial_ok(t_arr, s_arr, [])
    t_arr, s_arr = t_arr[ok], s_arr[ok]
    if keep is not None:  # the recorded keep/bypass: unconstrained keeps are mostly invalid formats
        keep = np.broadcast_to(keep, (t_arr.shape[0], *keep.shape)).copy()
    return space.build_batch(t_arr, s_arr, rng, keep=keep)


def _violations(engine: Engine, mb: MappingBatch) -> tuple[int, list[str]]:
    """(valid mappings checked, descriptions of those whose bound exceeds the exact value)."""
    exact = engine.evaluate(mb)
    cycles_lb, energy_lb = Bounds(engine).compute(analyze(engine.problem, engine.arch, mb), mb)
    v = exact.valid
    bad = []
    for name, lb, ex in (("energy", energy_lb, exact.energy_pj), ("cycles", cycles_lb, exact.cycles)):
        over = v & (lb > ex * (1 + TOL))
        if over.any():
            i = int(np.argmax(np.where(over, lb / np.where(ex > 0, ex, 1.0), 0.0)))
            bad.append(f"{name}: {int(over.sum())} of {int(v.sum())} valid mappings, worst bound/exact "
                       f"{lb[i] / ex[i]:.4f} (mapping {i})")
    return int(v.sum()), bad


def _check(engine: Engine, batches: list[MappingBatch], min_valid: int) -> None:
    mb = MappingBatch.concat([b for b in batches if b.n])
    checked, bad = _violations(engine, mb)
    assert not bad, "; ".join(bad)
    assert checked >= min_valid, f"only {checked} valid mappings to check"


def _fig15(case_id: str, tmp_path: Path) -> None:
    c = next(c for c in cases() if c.id == case_id)
    spec = load(c)
    engine = Engine.from_spec(spec)
    recorded = engine.compile_mapping(spec.mapping)
    cons = load_spec([*c.input_files()[:-1], _constraints(tmp_path, c.id.rsplit("/", 1)[1])])
    sampled = _random_batch(engine, [*cons.arch_constraints, *cons.mapspace_constraints], SAMPLES * 3, seed=0)
    _check(engine, [recorded, sampled], min_valid=100)
    # and still a useful bound: the recorded mapping's energy is bounded within 10 %
    _, energy_lb = Bounds(engine).compute(analyze(engine.problem, engine.arch, recorded), recorded)
    assert energy_lb[0] >= 0.9 * engine.evaluate(recorded).energy_pj[0]


def _needs_examples() -> None:
    if not (EXAMPLES / "cases.json").is_file():
        pytest.fail(f"reference examples missing at {EXAMPLES}")


FAST_FIG15 = [
    "artifact/fig15/WD-0.5/M128-K1152-N1024-IAD0.44-WD0.5/STC-RF2x-24-bandwidth",
    "artifact/fig15/WD-0.25/M512-K1024-N256-IAD0.27-WD0.25/STC_flexible-RF2x-24-bandwidth",
    "artifact/fig15/WD-0.3333/M512-K128-N1024-IAD0.56-WD0.3333/STC_flexible-RF2x-24-bandwidth-RLE",
    "artifact/fig15/WD-0.5/M512-K256-N1024-IAD0.82-WD0.5/STC_flexible_dualCompress-RF2x-24-bandwidth-RLE",
    "artifact/fig15/WD-0.5/M128-K1152-N1024-IAD0.44-WD0.5/DSTC-RF2x-24-bandwidth",
]


@pytest.mark.parametrize("case_id", FAST_FIG15, ids=lambda s: s.split("/", 3)[3])
def test_fig15_bounds_are_admissible(case_id: str, tmp_path: Path) -> None:
    _needs_examples()
    _fig15(case_id, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("case_id", _fig15_ids("STC") + _fig15_ids("DSTC"), ids=lambda s: s.split("/", 2)[2])
def test_every_fig15_stc_run_bounds_are_admissible(case_id: str, tmp_path: Path) -> None:
    _needs_examples()
    _fig15(case_id, tmp_path)


def test_builtin_sparse_tensor_core_bounds_are_admissible(tmp_path: Path) -> None:
    from sparse_hw.spec.library import architecture_files
    from tests.conformance.test_stc_mapper import _layer

    spec = load_spec([*architecture_files("sparse_tensor_core"), _layer(tmp_path, 0.5)])
    engine = Engine.from_spec(spec)
    assert engine.sparse.spatial, "the built-in STC should use skipping-spatial"
    directives = [*spec.arch_constraints, *spec.mapspace_constraints]
    batches = [_random_batch(engine, directives, SAMPLES * 3, seed=s) for s in (0, 1)]
    _check(engine, batches, min_valid=100)


#: mapper examples of cases.json with sparse optimizations (the recorded best mapping is rated too).
SPARSE_EXAMPLES = [
    "ex@2d55108/example_designs/sparseloop/01.2.2-SUDU-dot-product",  # read-write gating rounds up
    "ex@778460f/baseline_designs/sparse_tensor_core_like",
    "ex@2d55108/example_designs/sparseloop/02.2.2-spMspM-tiled",
    "ex@2d55108/example_designs/sparseloop/03.2.3-conv1d+oc-spatial",
    "ex@2d55108/example_designs/sparseloop/04.2.1-eyeriss-like-gating",
    "ex@778460f/isca21/04.2.3-eyeriss-like-onchip-compression",
    "ex@778460f/baseline_designs/eyeriss_like_w_gating/mapper",
    "artifact/fig1/0.1_bitmask",
    "artifact/fig1/0.1_coordinate_list",
]


@pytest.mark.parametrize("case_id", SPARSE_EXAMPLES)
def test_sparse_example_bounds_are_admissible(case_id: str) -> None:
    _needs_examples()
    c = next(c for c in cases() if c.id == case_id)
    spec = load(c)
    engine = Engine.from_spec(spec)
    assert engine.uses_sparse
    batches = []
    keep = None
    if spec.mapping is not None:
        recorded = engine.compile_mapping(spec.mapping)
        batches.append(recorded)
        keep = recorded.keep[0]
    directives = [*spec.arch_constraints, *spec.mapspace_constraints]
    for seed, k in ((0, None), (1, keep)):
        batches.append(_random_batch(engine, directives, SAMPLES * 3, seed=seed, keep=k))
    _check(engine, batches, min_valid=1)


#: reference mapper cases: (case, samples per seed, valid mappings expected at least); Eyeriss v2's
#: format rank limits leave about 1 valid mapping in 400 random ones.
REF_CASES = [
    ("ref__gating__resnet18_conv4x__w0.5_i0.5__mapper", SAMPLES * 3, 50),
    ("ref__gating__alexnet_conv3__w0.2_i0.5__mapper", SAMPLES * 3, 50),
    # a tile under a parent with metadata can be empty: fewer average instances (glb Inputs here)
    ("ref__gating__pointnet_mlp2__w0.5_i0.5__mapper", SAMPLES * 2, 50),
    ("ref__gating__resnet18_fc__w0.5_i0.5__mapper", SAMPLES * 2, 50),
    ("ref__gating_hypergeo__resnet18_fc__w0.3_i0.2__model__fixmap", SAMPLES * 2, 50),
    ("ref__compression__resnet18_conv4x__w0.5_i0.5__mapper", SAMPLES * 3, 50),
    ("ref__compression__pointnet_mlp2__w0.2_i0.5__mapper", SAMPLES * 3, 50),
    ("ref__eyeriss_v2__mobilenet05_L07__w0.2_i0.5__mapper", 4000, 10),
    ("ref__eyeriss_v2__pointnet_mlp2__w0.5_i0.5__mapper", 4000, 10),
]


@pytest.mark.parametrize(("case_id", "samples", "min_valid"), REF_CASES, ids=[c[0] for c in REF_CASES])
def test_reference_case_bounds_are_admissible(case_id: str, samples: int, min_valid: int) -> None:
    from tests.reference_cases import best_mapping_file, input_files

    if not REFERENCE.is_dir():
        pytest.fail(f"reference data missing at {REFERENCE}")
    files = input_files(case_id)
    spec = load_spec(files)
    engine = Engine.from_spec(spec)
    assert engine.uses_sparse
    if spec.mapping is None:
        spec_map = load_spec([*files[:-3], best_mapping_file(case_id)]).mapping
    else:
        spec_map = spec.mapping
    recorded = engine.compile_mapping(spec_map)
    directives = [*spec.arch_constraints, *spec.mapspace_constraints]
    batches = [recorded] + [_random_batch(engine, directives, samples, seed=s, keep=k)
                            for s, k in ((0, None), (1, recorded.keep[0]))]
    _check(engine, batches, min_valid=min_valid)


def _all_reference_ids() -> list[str]:
    if not REFERENCE.is_dir():
        return []
    from tests.reference_cases import results

    return [c for c in results().case_id if not c.startswith("ref__dense") and "_dense__" not in c]


@pytest.mark.slow
@pytest.mark.parametrize("case_id", _all_reference_ids())
def test_every_sparse_reference_case_bounds_are_admissible(case_id: str) -> None:
    test_reference_case_bounds_are_admissible(case_id, SAMPLES * 2, 1)


def _all_example_ids() -> list[str]:
    if not (EXAMPLES / "cases.json").is_file():
        return []
    return [c.id for c in cases() if "/fig15/" not in c.id]


@pytest.mark.slow
@pytest.mark.parametrize("case_id", _all_example_ids())
def test_every_sparse_example_bounds_are_admissible(case_id: str) -> None:
    from sparse_hw.errors import SparseHwError

    c = next(c for c in cases() if c.id == case_id)
    try:
        spec = load(c)
        engine = Engine.from_spec(spec)
    except SparseHwError as exc:  # the examples' conformance tests report these
        pytest.skip(f"does not load: {str(exc).splitlines()[0]}")
    if not engine.uses_sparse:
        pytest.skip("dense design")
    test_sparse_example_bounds_are_admissible(case_id)


def test_spatial_ratio_bounds_hold_mapping_by_mapping(tmp_path: Path) -> None:
    """`SpatialLowerBound` against `analyze_spatial_skipping`: ratios below, skip probabilities above."""
    from sparse_hw.mapper.bounds import SpatialLowerBound

    _needs_examples()
    c = next(c for c in cases() if c.id == FAST_FIG15[1])
    spec = load(c)
    engine = Engine.from_spec(spec)
    cons = load_spec([*c.input_files()[:-1], _constraints(tmp_path, "STC")])
    mb = _random_batch(engine, [*cons.arch_constraints, *cons.mapspace_constraints], 200, seed=3)
    nest = analyze(engine.problem, engine.arch, mb)
    ratio, entries = SpatialLowerBound(engine).compute(nest, mb)
    an = engine.sparse
    T = len(engine.problem.dataspaces)
    checked = tight = 0
    for i in range(mb.n):
        subnests = an.complete_subnests(mb, i)
        ss = an.spatial_skip(an._init_tiles(nest, i, range(T)), subnests, an._molds(subnests), nest, i)
        for l in range(engine.arch.n_levels):
            util = float(nest.utilized[i, l])
            for t in range(T):
                if util > 0:
                    exact = ss.avg_replication[l][t] / util
                    assert ratio[i, l, t] <= exact * (1 + TOL), (i, l, t, ratio[i, l, t], exact)
                    checked += 1
                    tight += abs(ratio[i, l, t] - exact) < 1e-12
        for u, t, p in entries:
            assert p[i] >= ss.saf.get((u, t), 0.0) - TOL, (i, u, t, p[i], ss.saf.get((u, t)))
    assert checked > 0
    assert tight >= 0.9 * checked  # on the STC the bound is (nearly) the model's own ratio
