"""Position skipping (``position-skipping``, the MICRO'22 artifact's DSTC) on a case worked out by hand.

Z[m,n] += A[m,k] * B[n,k] with M=1, N=8, K=4. Buf holds A and B and fans N out to 4 MACs; B is
fixed-structured sparse (3 of every 8 elements nonzero) and bitmask-compressed at Buf, A dense. Both
are position-skipped at Buf (position_skip.py). Buf's B tile is N8: 4 lanes x 2 position steps; its
3 nonzeros fill ceil(3/4) = 1 step, so A, read once per step (multicast over the lanes), is read
8 x 1/2 = 4 times instead of 8, and the lanes are 3/4 busy. Only nonzero pairs are issued:
32 x 3/8 = 12 computes, on 4 x 3/4 average MACs: 4 cycles (8 dense).
"""

from __future__ import annotations

import numpy as np
import pytest

from sparse_hw.errors import SpecError
from sparse_hw.model.evaluate import Engine
from sparse_hw.model.mapping import MappingBatch
from sparse_hw.spec import load_spec

ARCH = """
architecture:
  version: 0.3
  subtree:
    - name: system
      local:
        - name: Backing
          class: DRAM
          attributes: {width: 64, datawidth: 8, metadata_storage_width: 64}
        - name: Buf
          class: regfile
          attributes: {depth: 64, width: 8, datawidth: 8, metadata_storage_width: 4, metadata_storage_depth: 32}
      subtree:
        - name: PE[0..3]
          local:
            - name: MAC
              class: intmac
              attributes: {datawidth: 8, meshX: 4}
"""

PROBLEM = """
problem:
  shape:
    name: gemm
    dimensions: [M, N, K]
    data-spaces:
      - {name: A, projection: [[[M]], [[K]]]}
      - {name: B, projection: [[[N]], [[K]]]}
      - {name: Z, projection: [[[M]], [[N]]], read-write: true}
  instance:
    M: 1
    N: 8
    K: 4
    densities:
      B: {distribution: fixed-structured, density: 0.375}
"""

SPARSE = """
sparse_optimizations:
  targets:
    - name: Buf
      representation-format:
        data-spaces:
          - name: B
            rank-application-order: inner-to-outer
            ranks:
              - {format: B, metadata-word-bits: 0, payload-word-bits: 0, flattened_rankIDs: [[N]]}
              - {format: B, metadata-word-bits: 1, flattened_rankIDs: [[N]]}
      action-optimization:
        - {type: position-skipping, target: A, condition-on: COND}
        - {type: position-skipping, target: B, condition-on: []}
"""

ERT = """
ERT:
  version: 0.3
  tables:
    - name: system.Backing
      actions:
        - {name: read, arguments: null, energy: 100}
        - {name: write, arguments: null, energy: 100}
        - {name: metadata_read, arguments: null, energy: 10}
        - {name: metadata_write, arguments: null, energy: 10}
        - {name: idle, arguments: null, energy: 0}
    - name: system.Buf
      actions:
        - {name: read, arguments: null, energy: 1}
        - {name: write, arguments: null, energy: 1}
        - {name: metadata_read, arguments: null, energy: 0.5}
        - {name: metadata_write, arguments: null, energy: 0.5}
        - {name: idle, arguments: null, energy: 0}
    - name: system.PE[0..3].MAC
      actions:
        - {name: mac_random, arguments: null, energy: 2}
        - {name: mac_gated, arguments: null, energy: 0.1}
        - {name: idle, arguments: null, energy: 0}
"""


def _mapping(spatial_n: int, temporal_n: int) -> str:
    return f"""
mapping:
  - {{target: Buf, type: datatype, keep: [A, B], bypass: [Z]}}
  - {{target: Backing, type: datatype, keep: [A, B, Z], bypass: []}}
  - {{target: Buf, type: spatial, factors: M1 N{spatial_n} K1, permutation: NMK, split: 1}}
  - {{target: Buf, type: temporal, factors: M1 N{temporal_n} K1, permutation: NMK}}
  - {{target: Backing, type: temporal, factors: M1 N1 K4, permutation: KMN}}
"""


def _engine(tmp_path, mapping: str, cond: str = "[]", sparse: str = SPARSE):
    files = {"arch.yaml": ARCH, "problem.yaml": PROBLEM, "map.yaml": mapping, "ERT.yaml": ERT,
             "sparse.yaml": sparse.replace("COND", cond)}
    paths = []
    for name, text in files.items():
        p = tmp_path / name
        p.write_text(text)
        paths.append(p)
    spec = load_spec(paths)
    engine = Engine.from_spec(spec)
    return engine, engine.compile_mapping(spec.mapping)


def test_position_skipping_by_hand(tmp_path) -> None:
    engine, mb = _engine(tmp_path, _mapping(4, 2))
    ev = engine.evaluation(mb, 0)
    assert ev.algorithmic_computes == 32
    assert ev.actual_computes == 12  # nonzero x nonzero pairs only
    assert ev.gated_computes == ev.skipped_computes == 0
    buf_a = next(lv for lv in ev.levels if lv.level == "Buf" and lv.dataspace == "A")
    assert buf_a.algorithmic_reads == 8
    assert buf_a.reads == 4  # once per position step of B: 1 of 2
    buf_b = next(lv for lv in ev.levels if lv.level == "Buf" and lv.dataspace == "B")
    assert buf_b.reads == 12  # B's zeros are removed by its format, not by A (dense)
    assert ev.cycles == 4  # 12 computes on 4 lanes x 3/4 utilization


def test_fewer_lanes_take_more_steps(tmp_path) -> None:
    """N2 spatial x N4 temporal: 3 nonzeros take ceil(3/2) = 2 of 4 steps at 3/4 utilization."""
    engine, mb = _engine(tmp_path, _mapping(2, 4))
    ev = engine.evaluation(mb, 0)
    buf_a = next(lv for lv in ev.levels if lv.level == "Buf" and lv.dataspace == "A")
    assert (buf_a.algorithmic_reads, buf_a.reads) == (16, 8)
    assert ev.actual_computes == 12
    assert ev.cycles == 8  # 12 / (2 x 3/4)


def _three_splits(tmp_path):
    """One batch of the 4x2, 2x4 and 1x8 spatial x temporal splits (the engine of the last)."""
    batches = []
    engine = None
    for sn, tn in [(4, 2), (2, 4), (1, 8)]:
        engine, mb = _engine(tmp_path, _mapping(sn, tn))
        batches.append(mb)
    return engine, MappingBatch.concat(batches)


def test_batch_path_agrees_with_the_detailed_path(tmp_path) -> None:
    engine, mb = _three_splits(tmp_path)
    fast = engine.evaluate(mb)
    slow = engine.evaluate_reference(mb)
    assert fast.valid.all() and slow.valid.all()
    np.testing.assert_array_equal(fast.cycles, slow.cycles)
    np.testing.assert_allclose(fast.energy_pj, slow.energy_pj, rtol=1e-12)
    np.testing.assert_allclose(fast.actual_computes, slow.actual_computes)
    assert fast.cycles.tolist() == [4, 8, 12]  # 1 lane: 3 of 8 steps, fully busy: 12 / 1


def test_conditioned_position_skipping_is_refused(tmp_path) -> None:
    with pytest.raises(SpecError, match="position-skipping at Buf: A conditions on B"):
        _engine(tmp_path, _mapping(4, 2), cond="[B]")


def test_compressed_operand_left_out_is_refused(tmp_path) -> None:
    only_a = SPARSE.replace("        - {type: position-skipping, target: B, condition-on: []}\n", "")
    with pytest.raises(SpecError, match="leaves out B, which has a representation format"):
        _engine(tmp_path, _mapping(4, 2), sparse=only_a)


def test_mapper_bounds_stay_below_the_model(tmp_path) -> None:
    """The mapper prunes on lower bounds (mapper/bounds.py); position skipping must not break them."""
    from sparse_hw.mapper.bounds import Bounds
    from sparse_hw.model.nest import analyze

    engine, mb = _three_splits(tmp_path)
    exact = engine.evaluate(mb)
    cycles_lb, energy_lb = Bounds(engine).compute(analyze(engine.problem, engine.arch, mb), mb)
    assert (cycles_lb <= exact.cycles).all()
    assert (energy_lb <= exact.energy_pj).all()
    assert (energy_lb > 0.5 * exact.energy_pj).all()  # still a useful bound


def test_recorded_dstc_run_numbers() -> None:
    """fig15 WD1.0 (A dense, B 0.44): the three numbers the rule sets, as the artifact recorded them."""
    from tests.conformance.examples import EXAMPLES, case, evaluate

    if not (EXAMPLES / "cases.json").is_file():
        pytest.skip("../shared/reference/examples missing")
    ev = evaluate(case("artifact/fig15/WD-1.0/M128-K1152-N1024-IAD0.44-WD1.0/DSTC-RF2x-24-bandwidth"))
    assert ev.cycles == 78059  # ceil(66437888 / (1024 x u_B)), u_B = 0.83118
    assert ev.actual_computes == 66437888  # 150994944 x 519046/1179648 (B's nnz / size)
    lrf_a = next(lv for lv in ev.levels if lv.level == "LRF" and lv.dataspace == "A")
    assert lrf_a.reads == 1259899  # ceil(2359296 x r_B), r_B = E[ceil(k/16)] / 4 = 0.5340138
