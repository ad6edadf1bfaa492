"""Fidelity of the analytical engine against every recorded `mode = model` Timeloop/Sparseloop run.

Prints, per case: our energy / reference, our cycles / reference; then a summary per architecture
variant. The reference is ../shared/reference/timeloop (Timeloop v3.0.3 + Accelergy 0.4).

    python benchmarks/fidelity.py [--csv OUT.csv]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sparse_hw.model.evaluate import Engine
from sparse_hw.spec import load_spec
from tests.reference_cases import case_ids, input_files, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, help="also write the table here")
    args = ap.parse_args()
    ref = results().set_index("case_id")
    rows = []
    start = time.perf_counter()
    for case in case_ids("model"):
        spec = load_spec(input_files(case))
        engine = Engine.from_spec(spec)
        ev = engine.evaluation(engine.compile_mapping(spec.mapping), 0)
        r = ref.loc[case]
        rows.append(
            {
                "case": case,
                "variant": r.arch_variant + ("_hypergeo" if r.density_distribution == "hypergeometric" and "hypergeo" not in r.arch_variant and "eyeriss_v2" != r.arch_variant else ""),
                "energy_ratio": ev.energy_pj / r.energy_pJ,
                "cycles_ratio": ev.cycles / r.cycles,
            }
        )
    seconds = time.perf_counter() - start
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 160)
    pd.set_option("display.max_rows", 500)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.6f}"))
    df["energy_err"] = (df.energy_ratio - 1).abs()
    df["cycles_err"] = (df.cycles_ratio - 1).abs()
    summary = df.groupby("variant").agg(
        cases=("case", "count"),
        energy_mean_err=("energy_err", "mean"),
        energy_max_err=("energy_err", "max"),
        cycles_mean_err=("cycles_err", "mean"),
        cycles_max_err=("cycles_err", "max"),
    )
    print()
    print(summary.to_string(float_format=lambda v: f"{v:.5%}"))
    print(f"\n{len(df)} cases in {seconds:.1f} s; worst energy ratio {df.energy_ratio.min():.6f}..{df.energy_ratio.max():.6f}, "
          f"worst cycles ratio {df.cycles_ratio.min():.6f}..{df.cycles_ratio.max():.6f}")
    if args.csv:
        df.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
