"""Our mapper against timeloop-mapper on every recorded `mode = mapper` case (120 runs).

For each case: the same input files (architecture, sparse optimizations, ERT/ART, problem,
architecture and mapspace constraints, mapper settings with metrics [delay, energy]); our best
mapping and the reference's best mapping (its `timeloop-mapper.map.yaml`) are both evaluated by our
engine. Prints our delay / reference, our energy / reference, and our wall time / the recorded
`mapper_seconds` (recorded with one of two cores busy; quiet re-runs took 0.53-0.68 of it).

    python benchmarks/mapper_vs_timeloop.py [--filter SUBSTRING] [--jobs N] [--csv OUT.csv]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sparse_hw.backends.analytical import map_spec
from sparse_hw.model.evaluate import Engine
from sparse_hw.spec import load_spec
from tests.reference_cases import best_mapping_file, case_ids, input_files, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--filter", default="", help="only cases whose id contains this")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", type=Path)
    args = ap.parse_args()
    ref = results().set_index("case_id")
    rows = []
    for case in case_ids("mapper"):
        if args.filter not in case:
            continue
        files = input_files(case)
        spec = load_spec(files)
        engine = Engine.from_spec(spec)
        problem_at = next(i for i, f in enumerate(files) if f.name.startswith("problem"))
        ref_spec = load_spec([*files[: problem_at + 1], best_mapping_file(case)])
        reference = engine.evaluation(engine.compile_mapping(ref_spec.mapping), 0)
        start = time.perf_counter()
        result, _ = map_spec(spec, overrides={"seed": args.seed, "jobs": args.jobs, "metrics": ["delay", "energy"]})
        seconds = time.perf_counter() - start
        ours = result.evaluation
        row = {
            "case": case,
            "delay_ratio": ours.cycles / reference.cycles,
            "energy_ratio": ours.energy_pj / reference.energy_pj,
            "time_ratio": seconds / float(ref.loc[case, "mapper_seconds"]),
            "seconds": seconds,
            "candidates": result.evaluated,
            "mode": result.mode,
        }
        rows.append(row)
        print(f"{case:70s} delay {row['delay_ratio']:.4f}  energy {row['energy_ratio']:.4f}  "
              f"time {row['time_ratio']:.3f}x ({seconds:.2f} s)", flush=True)
    df = pd.DataFrame(rows)
    if df.empty:
        print("no case matched")
        return
    worse_delay = int((df.delay_ratio > 1 + 1e-9).sum())
    tie_worse_energy = int(((df.delay_ratio - 1).abs() <= 1e-9).mul(df.energy_ratio > 1 + 1e-9).sum())
    print(
        f"\n{len(df)} cases: delay ratio max {df.delay_ratio.max():.4f} (worse in {worse_delay}); "
        f"energy ratio at equal delay max {df.loc[(df.delay_ratio - 1).abs() <= 1e-9, 'energy_ratio'].max():.4f} "
        f"(worse in {tie_worse_energy}); time ratio mean {df.time_ratio.mean():.3f}, median "
        f"{df.time_ratio.median():.3f}, max {df.time_ratio.max():.3f}"
    )
    if args.csv:
        df.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
