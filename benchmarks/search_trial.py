"""Where a search trial's time goes: training (prune + fine-tune) against extraction and hardware.

Runs a short search (no full training of the front) and prints, per trial, the seconds spent in
training, in extract and in the hardware evaluation (bucketed mapping, cache hits, exact evaluation),
then the medians, with the hardware median of trials whose every layer came from the mapping cache
(the issue's budget: under 1 s once a trial's layers are cached).

    python benchmarks/search_trial.py [--config examples/lenet5_search.yaml] [--trials 12] [--out DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from sparse_hw.search.api import search
from sparse_hw.search.config import load_search_config

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "examples" / "lenet5_search.yaml")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sparse-hw-search-bench-") as tmp:
        out = args.out or Path(tmp) / "out"
        cfg = load_search_config(args.config, storage=f"sqlite:///{(out / 'study.db').resolve()}")
        cfg = cfg.model_copy(update={"out": out, "budget": cfg.budget.model_copy(update={"trials": args.trials}),
                                     "final": cfg.final.model_copy(update={"train": False})})
        started = time.perf_counter()
        search(cfg, log=lambda m: print(m, file=sys.stderr))
        wall = time.perf_counter() - started
        t = pd.read_csv(out / "timings.csv")
    print(t.to_string(index=False))
    cached = t[t["mappings_searched"] == 0]["hardware_s"]
    print(f"\n{len(t)} trials in {wall:.1f} s (dense training included)")
    print(f"median per trial: training {statistics.median(t['train_s']):.2f} s, extract "
          f"{statistics.median(t['extract_s']):.2f} s, hardware {statistics.median(t['hardware_s']):.2f} s")
    if len(cached):
        print(f"hardware of fully cached trials ({len(cached)}): median {statistics.median(cached):.2f} s, "
              f"max {cached.max():.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
