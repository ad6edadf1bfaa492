"""Our mapper against timeloop-mapper's recorded best on every published mapper example.

For each ``mode == "mapper"`` run of ``../shared/reference/examples/cases.json``: our best mapping
and the recorded best mapping (its ``map.yaml``, or the ``map.txt`` loop nest of the v0.3 runs that
wrote none) are both rated by OUR model. Prints per case the run's metric, our EDP / energy / delay
over the recorded mapping's, whether ours is at least as good on the run's own metric, and the
search's wall time. Runs that do not load yet are listed with the first line of their error.

    python benchmarks/mapper_examples.py [--filter SUBSTRING] [--budget-s S] [--mode auto|exhaustive]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conformance.mapper_examples import SearchFailed, compare, mapper_cases


def mapper_rows(filter_: str = "", budget_s: float | None = 30.0, mode: str = "auto", jobs: int = 1,
                seed: int = 0, echo=print) -> list[dict]:
    """One row per mapper example: status, metric, our / recorded ratios, seconds."""
    from sparse_hw.errors import SparseHwError

    rows = []
    for case in mapper_cases():
        if filter_ not in case["id"]:
            continue
        try:
            c = compare(case, budget_s=budget_s, seed=seed, jobs=jobs, mode=mode)
        except SearchFailed as exc:
            row = {"case": case["id"], "status": "SEARCH FAILED: " + str(exc).splitlines()[0][:90]}
        except SparseHwError as exc:
            row = {"case": case["id"], "status": "does not load: " + str(exc).splitlines()[0][:90]}
        else:
            row = {"case": case["id"], "status": "ok" if c.not_worse else "WORSE", "metric": ",".join(c.metrics),
                   "edp": c.ratio("edp"), "energy": c.ratio("energy"), "delay": c.ratio("delay"),
                   "seconds": c.seconds, "candidates": c.candidates, "recorded": c.recorded_from}
        rows.append(row)
        if echo is not None:
            if "edp" in row:
                echo(f"{row['case']:72s} {row['metric']:13s} EDP {row['edp']:7.4f} energy {row['energy']:7.4f} "
                     f"delay {row['delay']:7.4f} {row['seconds']:6.2f} s  {row['status']}", flush=True)
            else:
                echo(f"{row['case']:72s} {row['status']}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--filter", default="", help="only cases whose id contains this")
    ap.add_argument("--budget-s", type=float, default=30.0, help="search budget per case")
    ap.add_argument("--mode", default="auto", choices=["auto", "exhaustive", "random"])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = mapper_rows(args.filter, args.budget_s, args.mode, args.jobs, args.seed)
    ran = [r for r in rows if "edp" in r]
    worse = [r["case"] for r in ran if r["status"] != "ok"] + [r["case"] for r in rows if "SEARCH" in r["status"]]
    print(f"\n{len(rows)} mapper examples: {len(ran)} searched, {len(rows) - len(ran)} do not load or search; "
          f"ours at least as good on the run's metric in {len(ran) - len(worse)} of {len(ran)}"
          + (f"; worse: {', '.join(worse)}" if worse else ""))
    if ran:
        print(f"EDP ratio (ours / recorded, both by our model): min {min(r['edp'] for r in ran):.4f}, "
              f"max {max(r['edp'] for r in ran):.4f}; search seconds max {max(r['seconds'] for r in ran):.2f}")


if __name__ == "__main__":
    main()
