"""Our mapper against timeloop-mapper on every recorded `mode = mapper` case (120 runs).

For each case: the same input files (architecture, sparse optimizations, ERT/ART, problem,
architecture and mapspace constraints, mapper settings with metrics [delay, energy]); our best
mapping and the reference's best mapping (its `timeloop-mapper.map.yaml`) are both evaluated by our
engine. Prints our delay / reference, our energy / reference, and our wall time / the recorded
`mapper_seconds` (recorded with one of two cores busy; quiet re-runs took 0.53-0.68 of it).

The default times our search in this process. ``--whole`` times what a user waits for instead: each case
runs as its own ``sparse-hw map --objective delay,energy --json FILES`` process, timed end to end (start-up,
reading and validating the files, the search, the output), against the same recorded time -- which is
timeloop-mapper's whole run too. It prints a table per case (wall and CPU time of the process, the search
time the process reports, both ratios) and the mean/median/max of the ratios; the goal (issue 15, item 14)
is a mean wall ratio <= 0.06. ``--sample K`` keeps every K-th matching case (a spread-out subset).

    python benchmarks/mapper_vs_timeloop.py [--filter SUBSTRING] [--sample K] [--whole] [--jobs N] [--csv OUT.csv]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sparse_hw.backends.analytical import map_spec
from sparse_hw.model.evaluate import Engine
from sparse_hw.spec import load_spec
from tests.reference_cases import best_mapping_file, case_ids, input_files, results

METRICS = ["delay", "energy"]


class WholeProcess:
    """``sparse-hw map`` as a user runs it: a fresh process per case, bytecode cached as an install has it."""

    def __init__(self, seed: int, jobs: int, work: Path) -> None:
        self.seed, self.jobs = seed, jobs
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH")))),
                        PYTHONPYCACHEPREFIX=str(work / "pyc"))
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.warm = False

    def run(self, files: list[Path]) -> tuple[float, float, dict]:
        """(wall s, CPU s, the --json output) of one ``sparse-hw map`` process on ``files``."""
        argv = [sys.executable, "-m", "sparse_hw", "map", "--seed", str(self.seed), "--jobs", str(self.jobs),
                "--objective", ",".join(METRICS), "--json", *map(str, files)]
        if not self.warm:  # the first process compiles and caches the bytecode, as an install does once
            subprocess.run(argv, env=self.env, capture_output=True, check=False)
            self.warm = True
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(argv, env=self.env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--filter", default="", help="only cases whose id contains this")
    ap.add_argument("--sample", type=int, default=1, help="keep every K-th matching case")
    ap.add_argument("--whole", action="store_true", help="time whole `sparse-hw map` processes")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", type=Path)
    args = ap.parse_args()
    ref = results().set_index("case_id")
    cases = [c for c in case_ids("mapper") if args.filter in c][:: max(1, args.sample)]
    if args.whole:
        with tempfile.TemporaryDirectory(prefix="sparse-hw-mapper-bench-") as tmp:
            _whole(cases, ref, WholeProcess(args.seed, args.jobs, Path(tmp)), args.csv)
        return
    rows = []
    for case in cases:
        files = input_files(case)
        spec = load_spec(files)
        engine = Engine.from_spec(spec)
        problem_at = next(i for i, f in enumerate(files) if f.name.startswith("problem"))
        ref_spec = load_spec([*files[: problem_at + 1], best_mapping_file(case)])
        reference = engine.evaluation(engine.compile_mapping(ref_spec.mapping), 0)
        start = time.perf_counter()
        result, _ = map_spec(spec, overrides={"seed": args.seed, "jobs": args.jobs, "metrics": METRICS})
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


def _reference(case: str) -> tuple[float, float]:
    """(cycles, energy pJ) of timeloop-mapper's best mapping, evaluated by our engine."""
    files = input_files(case)
    problem_at = next(i for i, f in enumerate(files) if f.name.startswith("problem"))
    engine = Engine.from_spec(load_spec(files))
    ref_spec = load_spec([*files[: problem_at + 1], best_mapping_file(case)])
    reference = engine.evaluation(engine.compile_mapping(ref_spec.mapping), 0)
    return reference.cycles, reference.energy_pj


def _whole(cases: list[str], ref: pd.DataFrame, runner: WholeProcess, csv: Path | None) -> None:
    """Each case as a whole `sparse-hw map` process; a table of its times against timeloop-mapper's."""
    header = (f"{'case':62} {'recorded s':>10} {'wall s':>7} {'cpu s':>6} {'search s':>8} {'wall x':>7} "
              f"{'cpu x':>6} {'delay':>6} {'energy':>6}")
    print(header + "\n" + "-" * len(header), flush=True)
    rows = []
    for case in cases:
        wall, cpu, out = runner.run(input_files(case))
        cycles, energy = _reference(case)
        recorded = float(ref.loc[case, "mapper_seconds"])
        row = {"case": case, "recorded_seconds": recorded, "wall_seconds": wall, "cpu_seconds": cpu,
               "search_seconds": float(out["mapper"]["mapper_seconds"]), "wall_ratio": wall / recorded,
               "cpu_ratio": cpu / recorded, "delay_ratio": out["cycles"] / cycles,
               "energy_ratio": out["energy_pj"] / energy}
        rows.append(row)
        print(f"{case.removeprefix('ref__'):62.62} {recorded:10.2f} {wall:7.3f} {cpu:6.3f} {row['search_seconds']:8.3f} "
              f"{row['wall_ratio']:7.3f} {row['cpu_ratio']:6.3f} {row['delay_ratio']:6.3f} "
              f"{row['energy_ratio']:6.3f}", flush=True)
    df = pd.DataFrame(rows)
    if df.empty:
        print("no case matched")
        return
    print("-" * len(header))
    for col, label in (("wall_ratio", "whole process wall / recorded"), ("cpu_ratio", "whole process cpu / recorded")):
        print(f"{label:32} mean {df[col].mean():.3f}  median {df[col].median():.3f}  max {df[col].max():.3f}")
    print(f"{len(df)} cases; process time less its search: median {(df.wall_seconds - df.search_seconds).median():.3f} s "
          f"wall; goal: mean wall ratio <= 0.06; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores")
    if csv:
        df.to_csv(csv, index=False)


if __name__ == "__main__":
    main()
