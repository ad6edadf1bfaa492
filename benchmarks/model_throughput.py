"""Engine throughput: mappings evaluated per second, for N = 10,000 valid mappings of resnet18_conv4x
on eyeriss_like, against a baseline run in the same process (one mapping at a time through the same
engine). Prints both rates and their ratio; no pass/fail.

    python benchmarks/model_throughput.py [--n 10000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sparse_hw.mapper.constraints import compile_rules
from sparse_hw.mapper.mapspace import MapSpace
from sparse_hw.model.evaluate import Engine
from sparse_hw.spec import load_spec
from sparse_hw.spec.library import architecture_files
from tests.reference_cases import REFERENCE

PROBLEM = REFERENCE / "cases" / "ref__dense__resnet18_conv4x__w1_i1__mapper" / "inputs" / "problem.yaml"


def valid_mappings(engine: Engine, rules, n: int, seed: int = 0):
    space = MapSpace.build(engine.problem, engine.arch, rules)
    rng = np.random.default_rng(seed)
    batches = []
    total = 0
    while total < n:
        idx = space.sample_indices(rng, 4 * n)
        t, s = space.factor_arrays(idx, rng)
        ok, _ = space._partial_ok(t, s, [])
        mb = space.build_batch(t[ok], s[ok], rng)
        ev = engine.evaluate(mb)
        keep = np.nonzero(ev.valid)[0]
        batches.append(mb.select(keep))
        total += keep.size
    from sparse_hw.model.mapping import MappingBatch

    return MappingBatch.concat(batches).select(np.arange(n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--baseline-n", type=int, default=300, help="mappings evaluated one by one for the baseline")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    spec = load_spec([*architecture_files("eyeriss_like"), PROBLEM])
    engine = Engine.from_spec(spec)
    directives = list(spec.arch_constraints) + list(spec.mapspace_constraints)
    rules = compile_rules(directives, engine.arch, engine.problem)
    mb = valid_mappings(engine, rules, args.n)
    engine.evaluate(mb.select(np.arange(100)))  # warm-up
    start = time.perf_counter()
    ev = engine.evaluate(mb)
    batch_s = time.perf_counter() - start
    assert ev.valid.all()
    start = time.perf_counter()
    for i in range(args.baseline_n):
        engine.evaluate(mb.select(i))
    one_s = (time.perf_counter() - start) / args.baseline_n
    rate = args.n / batch_s
    print(f"batch of {args.n} valid mappings: {batch_s:.3f} s -> {rate:,.0f} mappings/s")
    print(f"one mapping at a time (baseline): {1 / one_s:,.0f} mappings/s")
    print(f"ratio batch / one-at-a-time: {rate * one_s:.1f}x; goal 50,000/s -> {rate / 50_000:.2f} of goal")


if __name__ == "__main__":
    main()
