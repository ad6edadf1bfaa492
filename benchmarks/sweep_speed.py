"""Sweep speed: 24 eyeriss_v2 points x 12 PointNet++ layers (issue 12 goal: under 3 minutes on 2 cores).

The grid varies GLB sizes and PE counts: iact_glb depth (3 values) x psum_glb depth (2) x psum_glb
meshX (2 cluster columns) x iact_spad meshX (2 PE columns). The layers are PointNet++ (SSG, the
12 conv/linear layers `sparse-hw extract` finds for a 1024-point cloud) with GMP-90 % densities
(weights 0.1, activations 0.6); pass ``--layers DIR`` to use a real extract folder instead. The
cache starts empty (a cold run); the second run of the same sweep is timed too (all cache hits).

    python benchmarks/sweep_speed.py [--jobs 2] [--max-exact 64] [--points 24] [--layers-n 12]

``--points`` and ``--layers-n`` scale the run down (the first points / layers) on a loaded machine.
Each layer search stops after ``--max-exact`` exact evaluations (deterministic: the same CSV on any
machine and load); ``--budget-s`` gives the old wall-clock budget instead, whose results depend on the
machine's load. ``--cold`` turns off the sweep's warm start (seeding from the anchor points).
CPU seconds (this process and its workers) are printed next to wall seconds: on a shared machine they
are the steadier figure, and the load average says how shared it was.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from sparse_hw.archsweep import arch_sweep

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.problems
from tests.problems import CNN_LAYER_SHAPE

GOAL_S = 180.0
GRID = ["iact_glb.depth=768,1536,3072", "psum_glb.depth=384,768", "psum_glb.meshX=4,8", "iact_spad.meshX=2,4"]
#: (layer, C, M, P, Q) of PointNet++ SSG on 1024 points (tests/extract/test_extract_model_tables.py)
POINTNET2 = [
    ("sa1.mlp.0", 3, 32, 128, 16), ("sa1.mlp.3", 32, 32, 128, 16), ("sa1.mlp.6", 32, 64, 128, 16),
    ("sa2.mlp.0", 67, 64, 32, 16), ("sa2.mlp.3", 64, 64, 32, 16), ("sa2.mlp.6", 64, 128, 32, 16),
    ("sa3.mlp.0", 131, 128, 1, 32), ("sa3.mlp.3", 128, 256, 1, 32), ("sa3.mlp.6", 256, 512, 1, 32),
    ("head.0", 512, 256, 1, 1), ("head.4", 256, 128, 1, 1), ("head.8", 128, 40, 1, 1),
]  # fmt: skip
PROBLEM = CNN_LAYER_SHAPE + """\
  instance:
    {{C: {C}, M: {M}, R: 1, S: 1, N: 1, P: {P}, Q: {Q},
     densities: {{Weights: {{distribution: hypergeometric, density: 0.1}},
                 Inputs: {{distribution: hypergeometric, density: 0.6}},
                 Outputs: {{distribution: hypergeometric, density: 0.6}}}}}}
"""


def write_layers(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, (name, c, m, p, q) in enumerate(POINTNET2[:n]):
        f = folder / f"{i:03d}_{name}.yaml"
        f.write_text(PROBLEM.format(C=c, M=m, P=p, Q=q))
        files.append(f)
    return files


def grid_for(points: int) -> list[str]:
    """The full grid, or its first axes' values trimmed so that it has at most ``points`` points."""
    sets = list(GRID)
    while True:
        sizes = [len(s.split("=")[1].split(",")) for s in sets]
        total = 1
        for k in sizes:
            total *= k
        if total <= points:
            return sets
        i = max(range(len(sets)), key=lambda j: sizes[j])
        path, values = sets[i].split("=")
        sets[i] = f"{path}={','.join(values.split(',')[:-1])}"


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the sweep's pool workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--budget-s", type=float, default=None, help="wall-clock mapper budget per layer job")
    ap.add_argument("--max-exact", type=int, default=64, help="exact evaluations per layer job (0: no cap)")
    ap.add_argument("--cold", action="store_true", help="no warm start from the anchor points")
    ap.add_argument("--points", type=int, default=24)
    ap.add_argument("--layers-n", type=int, default=12)
    ap.add_argument("--layers", type=Path, default=None, help="an extract folder instead of the built-in shapes")
    ap.add_argument("--engine", default="local")
    args = ap.parse_args()
    sets = grid_for(args.points)
    with tempfile.TemporaryDirectory(prefix="sweep-speed-") as tmp:
        root = Path(tmp)
        layers = [args.layers] if args.layers else write_layers(root / "layers", args.layers_n)
        times, cpus = [], []
        load = os.getloadavg()[0]
        for run in ("cold", "cached"):
            start, cpu = time.perf_counter(), _cpu()
            out = arch_sweep("eyeriss_v2", sets, layers, out=root / run, cache=root / "cache.sqlite",
                             workers=args.jobs, engine=args.engine, budget_s=args.budget_s,
                             max_exact=args.max_exact or None, warm=not args.cold)
            times.append(time.perf_counter() - start)
            cpus.append(_cpu() - cpu)
        rows = (out / "sweep.csv").read_text().splitlines()[1:]
        ok = sum(",ok," in r for r in rows)
    n_layers = "extract" if args.layers else args.layers_n
    print(f"{'run':<8} {'points':>6} {'layers':>7} {'jobs':>5} {'seconds':>8} {'CPU s':>7} {'goal s':>7} {'ratio':>6}")
    for run, t, c in zip(("cold", "cached"), times, cpus):
        print(f"{run:<8} {len(rows):>6} {n_layers!s:>7} {args.jobs:>5} {t:>8.1f} {c:>7.1f} {GOAL_S:>7.0f} "
              f"{t / GOAL_S:>6.2f}")
    search = f"budget {args.budget_s:g} s (wall clock)" if args.budget_s else f"max {args.max_exact} exact evaluations"
    print(f"feasible points: {ok} of {len(rows)}; {search}; warm start: {'off' if args.cold else 'on'}; "
          f"load average {load:.2f} -> {os.getloadavg()[0]:.2f}; grid: {' '.join(sets)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
