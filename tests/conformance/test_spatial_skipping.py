"""Spatial skipping (``skipping-spatial``) on a case small enough to work out by hand.

Z[m,n] += A[m,k] * B[k,n] with K=8, M=N=1. A is 2:4-like sparse (density 0.5, fixed-structured) and
described with UOP-CP ranks at the backing store; the backing store fans K8 out along X to four
registers/MACs, which is twice the hardware (fan-out 4). With spatial skipping of B and Z conditioned
on A (storage-gs-analyzer.cpp, `CalculateSpatialOptimizationImpact`), the densest K8 fiber of A holds 4
nonzeros, so X shrinks to 8 x 4/8 = 4 and the mapping fits; P(A scalar empty) = 0.5 halves the
average instances and the computes (8 -> 4). At density 0.75 the densest fiber holds 6 > 4: refused.
"""

from __future__ import annotations

import numpy as np
import pytest

from sparse_hw.errors import MappingError
from sparse_hw.model.cost import check_fit
from sparse_hw.model.evaluate import Engine
from sparse_hw.model.mapping import MappingBatch
from sparse_hw.model.nest import analyze
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
      subtree:
        - name: PE[0..3]
          local:
            - name: Reg
              class: regfile
              attributes: {depth: 16, width: 8, datawidth: 8, meshX: 4}
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
    N: 1
    K: 8
    densities:
      A: {distribution: fixed-structured, density: DENSITY}
"""

SPARSE = """
sparse_optimizations:
  targets:
    - name: Backing
      representation-format:
        data-spaces:
          - name: A
            ranks:
              - format: UOP
              - format: CP
                metadata-word-bits: 3
      action-optimization:
        - type: skipping-spatial
          options: [{target: B, condition-on: [A]}]
        - type: skipping-spatial
          options: [{target: Z, condition-on: [A]}]
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
    - name: system.PE[0..3].Reg
      actions:
        - {name: read, arguments: null, energy: 1}
        - {name: write, arguments: null, energy: 1}
        - {name: idle, arguments: null, energy: 0}
    - name: system.PE[0..3].MAC
      actions:
        - {name: mac_random, arguments: null, energy: 2}
        - {name: mac_gated, arguments: null, energy: 0.1}
        - {name: idle, arguments: null, energy: 0}
"""


def _mapping(spatial_k: int, temporal_k: int, split: int = 1) -> str:
    return f"""
mapping:
  - {{target: Reg, type: datatype, keep: [B], bypass: [A, Z]}}
  - {{target: Backing, type: datatype, keep: [A, B, Z], bypass: []}}
  - {{target: Reg, type: temporal, factors: M1 N1 K1, permutation: KMN}}
  - {{target: Backing, type: spatial, factors: M1 N1 K{spatial_k}, permutation: KMN, split: {split}}}
  - {{target: Backing, type: temporal, factors: M1 N1 K{temporal_k}, permutation: KMN}}
"""


def _engine(tmp_path, density: float, mapping: str, sparse: bool = True):
    files = {"arch.yaml": ARCH, "problem.yaml": PROBLEM.replace("DENSITY", str(density)), "map.yaml": mapping,
             "ERT.yaml": ERT}
    if sparse:
        files["sparse.yaml"] = SPARSE
    paths = []
    for name, text in files.items():
        p = tmp_path / name
        p.write_text(text)
        paths.append(p)
    spec = load_spec(paths)
    engine = Engine.from_spec(spec)
    return engine, engine.compile_mapping(spec.mapping)


def test_spatial_skipping_by_hand(tmp_path) -> None:
    engine, mb = _engine(tmp_path, 0.5, _mapping(8, 1))
    ev = engine.evaluation(mb, 0)
    assert ev.algorithmic_computes == 8
    assert ev.actual_computes == 4  # computes on B removed with P(A empty) = 0.5
    compute = next(lv for lv in ev.levels if lv.dataspace == "(compute)")
    assert compute.utilized_instances == 4  # X: 8 x (4 nonzeros / 8 positions)
    reg_b = next(lv for lv in ev.levels if lv.level == "Reg" and lv.dataspace == "B")
    assert reg_b.utilized_instances == 4
    assert reg_b.utilized_instances_avg == pytest.approx(4.0)  # 8 dense x P(nonempty) 0.5
    assert ev.cycles == 1  # 4 computes on 4 average instances


def test_without_spatial_skipping_the_mapping_does_not_fit(tmp_path) -> None:
    engine, mb = _engine(tmp_path, 0.5, _mapping(8, 1), sparse=False)
    with pytest.raises(MappingError, match="does not fit"):
        engine.evaluation(mb, 0)


def test_denser_operand_exceeds_the_reduced_fanout(tmp_path) -> None:
    engine, mb = _engine(tmp_path, 0.75, _mapping(8, 1))
    with pytest.raises(MappingError, match="fanoutX 6 does not meet hardware constraint 4"):
        engine.evaluation(mb, 0)


def test_batch_path_agrees_with_the_detailed_path(tmp_path) -> None:
    batches = []
    engine = None
    for sk, tk, split in [(8, 1, 1), (4, 2, 1), (2, 4, 1), (1, 8, 1), (8, 1, 0)]:
        engine, mb = _engine(tmp_path, 0.5, _mapping(sk, tk, split))
        batches.append(mb)
    mb = MappingBatch.concat(batches)
    fast = engine.evaluate(mb)
    slow = engine.evaluate_reference(mb)
    assert fast.valid.tolist() == slow.valid.tolist()
    assert fast.valid.sum() >= 3  # split 0 (Y) exceeds the Y fan-out of 1: invalid on both paths
    np.testing.assert_array_equal(fast.cycles, slow.cycles)
    np.testing.assert_allclose(fast.energy_pj, slow.energy_pj, rtol=1e-12)
    ok = fast.valid
    np.testing.assert_allclose(fast.actual_computes[ok], slow.actual_computes[ok])
    assert fast.fail_reasons[-1] == slow.fail_reasons[-1]


def test_dense_fanout_check_is_left_to_spatial_skipping(tmp_path) -> None:
    """Callers of check_fit (the mapper's pre-filter too) keep over-subscribed mappings of such designs."""
    engine, mb = _engine(tmp_path, 0.5, _mapping(8, 1))
    nest = analyze(engine.problem, engine.arch, mb)
    assert check_fit(engine.arch, nest, mb, capacity=False)[0].all()
    assert not check_fit(engine.arch, nest, mb, capacity=False, spatial=True)[0].any()
