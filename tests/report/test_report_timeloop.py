"""Report on real Timeloop numbers: reference runs parsed by the timeloop backend's parser, then reported.

A "network" of the six reference layers, dense (w = i = 1) and pruned (w = 0.5, i = 0.5), on the
dense, gating and compression Eyeriss-like designs, as simulate would write it with --backend timeloop.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sparse_hw.backends.timeloop_output import read_outputs
from sparse_hw.report import breakdown_rows, report

ARCHS = {"dense": ("eyeriss_like", "none"), "gating": ("eyeriss_like_gating", "inputs"),
         "compression": ("eyeriss_like_compressed", "inputs")}  # fmt: skip
CHECKPOINTS = {"w1_i1": ("c0ffee00", "none", 0.0, 0.91), "w0.5_i0.5": ("beef0001", "gmp", 0.5, 0.90)}


def _write_simulate_dir(reference_dir: Path, folder: Path) -> pd.DataFrame:
    ref = pd.read_csv(reference_dir / "results.csv")
    ref = ref[(ref["mode"] == "model") & (ref["density_distribution"] == "fixed-structured")]
    rows, breakdown = [], []
    for variant, (arch, exploits) in ARCHS.items():
        for density, (ckpt, method, sparsity, accuracy) in CHECKPOINTS.items():
            w, i = density[1:].split("_i")
            cases = ref[
                (ref["arch_variant"] == variant)
                & (ref["weight_density"] == float(w))
                & (ref["input_density"] == float(i))
                & ref["case_id"].str.endswith("__model__fixmap")
            ]
            assert len(cases) == 6, (variant, density)
            for order, r in enumerate(cases.sort_values("layer").itertuples()):
                ev = read_outputs(reference_dir / r.case_dir / "outputs")
                keys = {"model": "refnet", "checkpoint": ckpt, "arch": arch, "layer": r.layer}
                rows.append({
                    **keys, "order": order, "macs": r.algorithmic_computes, "weight_density": float(w),
                    "input_density": float(i), "output_density": 1.0, "arch_exploits": exploits,
                    "backend": "timeloop", "energy_pj": ev.energy_pj, "cycles": ev.cycles, "area_um2": ev.area_um2,
                    "utilization": ev.utilization, "algorithmic_computes": ev.algorithmic_computes,
                    "actual_computes": ev.actual_computes, "gated_computes": ev.gated_computes,
                    "skipped_computes": ev.skipped_computes, "method": method, "target_sparsity": sparsity,
                    "accuracy": accuracy, "_reference_energy_pj": r.energy_pJ,
                })  # fmt: skip
                breakdown += [{**keys, **b} for b in breakdown_rows(ev)]
    folder.mkdir(parents=True)
    results = pd.DataFrame(rows)
    results.drop(columns=["_reference_energy_pj"]).to_csv(folder / "results.csv", index=False)
    pd.DataFrame(breakdown).to_csv(folder / "breakdown.csv", index=False)
    return results


def test_report_of_timeloop_results(reference_dir: Path, tmp_path: Path) -> None:
    results = _write_simulate_dir(reference_dir, tmp_path / "sim")
    out = report([tmp_path / "sim"], out=tmp_path / "report", formats=("png",))
    s = out.summary.set_index(["checkpoint", "arch"])
    for (ckpt, arch), g in results.groupby(["checkpoint", "arch"]):
        assert s.loc[(ckpt, arch), "energy_pj"] == pytest.approx(g["_reference_energy_pj"].sum(), abs=0.1)
        assert s.loc[(ckpt, arch), "cycles"] == g["cycles"].sum()
    # The dense design exploits nothing: pruning changes neither its energy nor its cycles (reference README).
    assert s.loc[("beef0001", "eyeriss_like"), "energy_ratio_to_dense"] == pytest.approx(1.0)
    assert s.loc[("beef0001", "eyeriss_like_gating"), "energy_ratio_to_dense"] < 1.0
    assert s.loc[("c0ffee00", "eyeriss_like"), "area_um2"] == pytest.approx(1_554_059.2, abs=0.01)
    assert s.loc[("c0ffee00", "eyeriss_like_compressed"), "area_um2"] == pytest.approx(2_130_945.16, abs=0.01)
    assert not any("does not add up" in n for n in out.notes), out.notes
    eb = pd.read_csv(out.out / "energy_breakdown.csv")
    assert {"MACs", "psum_spad", "weights_spad", "ifmap_spad", "shared_glb", "DRAM"} <= set(eb["component"])
    assert len(out.figures) == 5  # no weight histogram: there is no extract folder
