"""The published Timeloop/Sparseloop examples (../shared/reference/examples): our numbers versus Timeloop's.

Prints one row per group: runs, how many load, how many match (cycles exact, energy within 0.5 %
dense / 2 % sparse, per-level reads/fills/updates within 0.5 %), the energy and cycle ratio ranges
(ours / recorded; for runs of an older Timeloop build after recounting ours with that build's
accounting, see tests/conformance/VERSION_DRIFT.md, with the plain v3.0.3 ratio beside it), the
per-level access agreement, and the mapper EDP versus timeloop-mapper's (filled by the hook that
``tests.conformance.examples.set_mapper_edp_hook`` registers; "-" where none is registered).

    python benchmarks/examples.py [--cases] [--group TEXT] [--mapper-budget SECONDS]

``--mapper-budget`` fills the mapper column by searching every mapper run with
``tests/conformance/mapper_examples.py`` (the mapper owner's harness) at that budget per run.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conformance.examples import (
    Comparison,
    cases,
    compare,
    mapper_edp,
    set_mapper_edp_hook,
)


def _search_hook(budget_s: float):
    """A hook that searches a mapper run and rates our mapping and the recorded best by EDP."""
    import json

    from tests.conformance import mapper_examples
    from tests.conformance.examples import EXAMPLES

    raw = {c["id"]: c for c in json.loads((EXAMPLES / "cases.json").read_text())}

    def hook(c):
        try:
            r = mapper_examples.compare(raw[c.id], budget_s=budget_s)
        except Exception:  # a run that does not load or search is shown as "-", not a crash
            return None
        return r.ours["edp"], r.recorded["edp"]

    return hook


def _range(values: list[float]) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return f"{lo:.4f}" if abs(hi - lo) < 5e-5 else f"{lo:.4f}-{hi:.4f}"


def _row(
    group: str, rows: list[Comparison], edps: list[tuple[float, float]], modelable: int, total: int
) -> str:
    loaded = [r for r in rows if r.loaded]
    ok = [r for r in rows if r.ok]
    access_bad = sum(len(r.access_mismatches) for r in loaded)
    access_all = sum(r.access_checked for r in loaded)
    drift = sorted({d for r in loaded for d in r.drift})
    edp = _range([ours / ref for ours, ref in edps if ref]) if edps else "-"
    return (
        f"{group[:62]:62s} {total:4d} {modelable:4d} {len(loaded):4d} {len(ok):4d}  "
        f"{_range([r.energy_ratio for r in loaded]):15s} {_range([r.energy_ratio_v3 for r in loaded]):15s} "
        f"{_range([r.cycle_ratio for r in loaded]):15s} {access_all - access_bad:5d}/{access_all:<5d} "
        f"{edp:13s} "
        f"{'+'.join(drift) or '-'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", action="store_true", help="also print every run that does not match, and why")
    ap.add_argument("--group", default="", help="only groups whose name contains this text")
    ap.add_argument("--mapper-budget", type=float, default=None, help="search mapper runs, SECONDS each")
    args = ap.parse_args()
    if args.mapper_budget:
        set_mapper_edp_hook(_search_hook(args.mapper_budget))
    by_group: dict[str, list[Comparison]] = defaultdict(list)
    totals: dict[str, int] = defaultdict(int)
    edps: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for c in cases():
        if args.group not in c.group:
            continue
        totals[c.group] += 1
        if c.mode == "mapper":
            pair = mapper_edp(c)
            if pair is not None:
                edps[c.group].append(pair)
        if c.modelable:
            by_group[c.group].append(compare(c))
    print(
        f"{'group':62s} {'runs':>4s} {'modl':>4s} {'load':>4s} {'ok':>4s}  {'energy ratio':15s} "
        f"{'(v3.0.3 plain)':15s} "
        f"{'cycle ratio':15s} {'access ok':11s} {'mapper EDP':13s} old-build recount"
    )
    for group in sorted(totals):
        rows = by_group.get(group, [])
        print(_row(group, rows, edps.get(group, []), len(rows), totals[group]))
    allrows = [r for rows in by_group.values() for r in rows]
    print(
        f"\n{len(allrows)} runs with a mapping, {sum(r.loaded for r in allrows)} load, "
        f"{sum(r.ok for r in allrows)} match; "
        "'modl' = runs with a recorded mapping (v0.3 mapper runs without map.yaml can only be re-searched)"
    )
    if args.cases:
        for r in allrows:
            if r.ok:
                continue
            if not r.loaded or not r.evaluated:
                print(f"  {r.case.id}: {'does not load' if not r.loaded else 'refused'}: {r.error}")
                continue
            why = []
            if not r.cycles_ok:
                why.append(f"cycles {r.cycles} vs {r.ref.cycles}")
            if not r.energy_ok:
                why.append(f"energy x{r.energy_ratio:.4f}")
            why += [
                f"{lv}.{ds} {f} {got:g} vs {want:g}"
                for (lv, ds, f), (got, want) in r.access_mismatches.items()
            ]
            print(f"  {r.case.id}: {'; '.join(why)}")


if __name__ == "__main__":
    main()
