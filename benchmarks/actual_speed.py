"""Speed of the actual-data density model on a whole network (issue 16): ResNet-18 on eyeriss_v2.

Every conv/fc layer of ResNet-18 (ImageNet, 224x224, batch 1) gets 0/1 masks with the structure
real ones have: weights pruned to 10 % (GMP-90 %-like, a few whole filters gone), inputs ReLU-like
(per-channel densities, some dead channels, padding border zero). Each layer is first mapped with
the statistical (hypergeometric) model, as ``simulate`` does; that part is not timed. Then the
chosen mapping of every layer is re-evaluated with ``distribution: real-data``: reading the masks,
compiling the problem and evaluating, all timed, on one core. The target is < 10 s for the network.

    python benchmarks/actual_speed.py [--budget SECONDS_PER_LAYER_SEARCH]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ARCH = "eyeriss_v2"
# (name, C, M, R, P(out width), stride, pad); square layers, groups 1
RESNET18 = [("conv1", 3, 64, 7, 112, 2, 3)]
for stage, (c_in, c_out, size) in enumerate([(64, 64, 56), (64, 128, 28), (128, 256, 14), (256, 512, 7)], 1):
    first_stride = 1 if stage == 1 else 2
    RESNET18 += [
        (f"layer{stage}.0.conv1", c_in, c_out, 3, size, first_stride, 1),
        (f"layer{stage}.0.conv2", c_out, c_out, 3, size, 1, 1),
    ]
    if stage > 1:
        RESNET18.append((f"layer{stage}.0.downsample", c_in, c_out, 1, size, 2, 0))
    RESNET18 += [
        (f"layer{stage}.1.conv1", c_out, c_out, 3, size, 1, 1),
        (f"layer{stage}.1.conv2", c_out, c_out, 3, size, 1, 1),
    ]
RESNET18.append(("fc", 512, 1000, 1, 1, 1, 0))

PROBLEM = """problem:
  shape:
    name: grouped-CONV
    dimensions: [C, M, R, S, N, P, Q, G]
    coefficients:
    - {{name: Wstride, default: 1}}
    - {{name: Hstride, default: 1}}
    - {{name: Wdilation, default: 1}}
    - {{name: Hdilation, default: 1}}
    data-spaces:
    - name: Weights
      projection: [[[C]], [[M]], [[G]], [[R]], [[S]]]
    - name: Inputs
      projection: [[[N]], [[C]], [[G]], [[R, Wdilation], [P, Wstride]], [[S, Hdilation], [Q, Hstride]]]
    - name: Outputs
      projection: [[[N]], [[G]], [[M]], [[Q]], [[P]]]
      read-write: true
  instance:
    C: {C}
    M: {M}
    R: {R}
    S: {R}
    N: 1
    P: {P}
    Q: {P}
    G: 1
    Wstride: {stride}
    Hstride: {stride}
    densities:
      Weights: {weights}
      Inputs: {inputs}
"""


def masks(rng, c, m, r, p, stride, pad):
    """(weight mask [S][R][G][M][C], input mask [H][W][G][C][N]) flattened, first rank fastest."""
    w = rng.random((m, c, r, r)) < 0.1
    w[rng.random(m) < 0.05] = False  # whole filters pruned
    width = (p - 1) * stride + r
    inner = width - 2 * pad
    dens = np.clip(rng.normal(0.55, 0.2, c), 0.0, 1.0)
    dens[rng.random(c) < 0.08] = 0.0  # dead channels
    x = np.zeros((c, width, width), dtype=bool)
    x[:, pad:pad + inner, pad:pad + inner] = rng.random((c, inner, inner)) < dens[:, None, None]
    # numpy C order with the first rank last: weights (S, R, G, M, C) from (M, C, R, S); inputs
    # (H, W, G, C, N) from x = (C, W, H)
    wflat = np.transpose(w, (3, 2, 0, 1)).reshape(-1)
    xflat = np.transpose(x, (2, 1, 0)).reshape(-1)
    return wflat, xflat


def write_mask(path: Path, flat: np.ndarray) -> None:
    path.write_bytes(np.where(flat, ord("1"), ord("0")).astype(np.uint8).tobytes())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=3.0, help="mapper seconds per layer (not timed)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="actual-speed-") as tmp:
        return run(Path(tmp), args.budget)


def run(work: Path, budget: float) -> int:
    from sparse_hw.backends.analytical import load_files, map_spec, mapping_yaml
    from sparse_hw.model.evaluate import Engine
    from sparse_hw.spec.library import architecture_files

    rng = np.random.default_rng(0)
    arch = [Path(f) for f in architecture_files(ARCH)]
    jobs = []
    t_map = time.perf_counter()
    for name, c, m, r, p, stride, pad in RESNET18:
        wflat, xflat = masks(rng, c, m, r, p, stride, pad)
        stem = name.replace(".", "_")
        write_mask(work / f"{stem}_w.txt", wflat)
        write_mask(work / f"{stem}_i.txt", xflat)
        dims = dict(C=c, M=m, R=r, P=p, stride=stride)
        stat = work / f"{stem}.yaml"
        stat.write_text(PROBLEM.format(
            **dims,
            weights=f"{{distribution: hypergeometric, density: {wflat.mean():.6f}}}",
            inputs=f"{{distribution: hypergeometric, density: {xflat.mean():.6f}}}",
        ))
        actual = work / f"{stem}.actual.yaml"
        actual.write_text(PROBLEM.format(
            **dims,
            weights=f"{{distribution: real-data, data_file_path: {stem}_w.txt}}",
            inputs=f"{{distribution: real-data, data_file_path: {stem}_i.txt}}",
        ))
        spec = load_files([*arch, stat])
        settings = {"seed": 0, "budget_s": budget, "jobs": 1}
        result, engine = map_spec(spec, arch_name=ARCH, overrides=settings, pad=True)
        mapping = work / f"{stem}.map.yaml"
        mapping.write_text(mapping_yaml(result, engine))
        jobs.append((name, actual, mapping, result.evaluation))
    t_map = time.perf_counter() - t_map

    print(f"ResNet-18 on {ARCH}: {len(jobs)} layers, mapped with the statistical model "
          f"in {t_map:.1f} s (untimed)")
    head = ("layer", "cycles stat", "cycles actual", "diff %", "energy diff %", "s")
    print(f"{head[0]:22} {head[1]:>12} {head[2]:>14} {head[3]:>7} {head[4]:>14} {head[5]:>6}")
    total = 0.0
    sums = [0.0, 0.0, 0.0, 0.0]
    for name, actual, mapping, stat_ev in jobs:
        t0 = time.perf_counter()
        spec = load_files([*arch, actual, mapping])
        engine = Engine.from_spec(spec, ARCH)
        ev = engine.evaluation(engine.compile_mapping(spec.mapping), 0)
        dt = time.perf_counter() - t0
        total += dt
        sums = [a + b for a, b in zip(sums, (stat_ev.cycles, ev.cycles, stat_ev.energy_pj, ev.energy_pj))]
        d_cyc = (stat_ev.cycles / ev.cycles - 1) * 100
        d_en = (stat_ev.energy_pj / ev.energy_pj - 1) * 100
        cyc = (stat_ev.cycles, ev.cycles)
        print(f"{name:22} {cyc[0]:>12,.0f} {cyc[1]:>14,.0f} {d_cyc:>7.2f} {d_en:>14.2f} {dt:>6.2f}")
    print(f"network: statistical/actual cycles {sums[0] / sums[1]:.4f}, energy {sums[2] / sums[3]:.4f}")
    print(f"actual-data evaluation of the whole network: {total:.2f} s on one core (target < 10 s)")
    return 0 if total < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
