"""A small synthetic simulate run (3 layers x dense/pruned x 3 archs) with hand-chosen numbers.

The numbers are chosen so that averaging per-layer ratios gives a different answer from the ratio of
network sums (the report must do the latter). Used by the report tests and by
``scripts/regen_report_goldens.py`` (which draws the golden figure from the same data).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

MODEL = "lenet5"
DENSE = "aaaa1111"
PRUNED = "bbbb2222"
ARCHS = {"eyeriss_like": "none", "eyeriss_like_gating": "inputs", "eyeriss_v2": "weights+inputs"}
LAYERS = {  # layer: (order, op, C, M, R, S, P, Q, macs, params)
    "conv1": (0, "conv", 1, 6, 5, 5, 24, 24, 86_400, 150),
    "conv2": (1, "conv", 6, 16, 5, 5, 8, 8, 153_600, 2_400),
    "fc": (2, "linear", 256, 10, 1, 1, 1, 1, 2_560, 2_560),
}
CHECKPOINTS = {  # checkpoint: (method, target_sparsity, accuracy, weight density per layer)
    DENSE: ("none", 0.0, 0.99, {"conv1": 1.0, "conv2": 1.0, "fc": 1.0}),
    PRUNED: ("gmp", 0.9, 0.97, {"conv1": 0.4, "conv2": 0.1, "fc": 0.05}),
}
INPUT_DENSITY = {"conv1": 0.8, "conv2": 0.45, "fc": 0.3}
OUTPUT_DENSITY = {"conv1": 0.45, "conv2": 0.3, "fc": 1.0}
#: (checkpoint, arch) -> per layer (energy_pj, cycles, utilization)
NUMBERS = {
    (DENSE, "eyeriss_like"): {
        "conv1": (1000.0, 50, 0.5),
        "conv2": (10000.0, 500, 0.8),
        "fc": (100.0, 10, 0.1),
    },
    (DENSE, "eyeriss_like_gating"): {
        "conv1": (900.0, 50, 0.5),
        "conv2": (9000.0, 500, 0.8),
        "fc": (100.0, 10, 0.1),
    },
    (DENSE, "eyeriss_v2"): {"conv1": (1100.0, 60, 0.4), "conv2": (11000.0, 600, 0.7), "fc": (110.0, 12, 0.2)},
    (PRUNED, "eyeriss_like"): {
        "conv1": (1000.0, 50, 0.5),
        "conv2": (10000.0, 500, 0.8),
        "fc": (100.0, 10, 0.1),
    },
    (PRUNED, "eyeriss_like_gating"): {
        "conv1": (500.0, 50, 0.5),
        "conv2": (8000.0, 500, 0.8),
        "fc": (20.0, 10, 0.1),
    },
    (PRUNED, "eyeriss_v2"): {"conv1": (300.0, 20, 0.3), "conv2": (2000.0, 100, 0.6), "fc": (11.0, 2, 0.5)},
}
AREA = {"eyeriss_like": 1_554_059.2, "eyeriss_like_gating": 1_554_059.2, "eyeriss_v2": 2_050_518.4}
#: Share of each layer's energy per (component, tensor); the shares sum to 1.
SHARES = (
    ("MACs", "none", "compute", 0.10),
    ("psum_spad", "Outputs", "all", 0.20),
    ("weights_spad", "Weights", "all", 0.05),
    ("DRAM", "Weights", "all", 0.30),
    ("DRAM", "Inputs", "all", 0.25),
    ("DRAM", "Outputs", "all", 0.10),
)


def results_rows(archs=tuple(ARCHS)) -> list[dict]:
    rows = []
    for ckpt, (method, sparsity, accuracy, wd) in CHECKPOINTS.items():
        for arch in archs:
            for layer, (order, op, c, m, r, s, p, q, macs, params) in LAYERS.items():
                energy, cycles, util = NUMBERS[(ckpt, arch)][layer]
                actual = int(macs * wd[layer] * (INPUT_DENSITY[layer] if ARCHS[arch] != "none" else 1))
                rows.append({
                    "model": MODEL, "checkpoint": ckpt, "layer": layer, "order": order, "op": op,
                    "N": 1, "C": c, "M": m, "R": r, "S": s, "P": p, "Q": q, "G": 1,
                    "stride_h": 1, "stride_w": 1, "dilation_h": 1, "dilation_w": 1,
                    "weight_density": wd[layer], "input_density": INPUT_DENSITY[layer],
                    "output_density": OUTPUT_DENSITY[layer],
                    "density_model": "hypergeometric" if wd[layer] < 1 else "fixed_structured",
                    "pattern": "unstructured" if wd[layer] < 1 else "dense",
                    "macs": macs, "params": params, "nnz": int(round(params * wd[layer])),
                    "arch": arch, "arch_exploits": ARCHS[arch], "backend": "builtin",
                    "energy_pj": energy, "cycles": cycles, "area_um2": AREA[arch], "utilization": util,
                    "algorithmic_computes": macs, "actual_computes": actual, "gated_computes": 0,
                    "skipped_computes": macs - actual, "mapper_seconds": 0.5, "mapper_seed": 0,
                    "method": method, "target_sparsity": sparsity, "accuracy": accuracy,
                })  # fmt: skip
    return rows


def breakdown_rows_for(results: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in results.itertuples():
        for component, tensor, action, share in SHARES:
            base = {
                "model": r.model,
                "checkpoint": r.checkpoint,
                "arch": r.arch,
                "layer": r.layer,
                "component": component,
                "tensor": tensor,
                "action": action,
            }
            rows.append({**base, "metric": "energy", "value": r.energy_pj * share, "unit": "pJ"})
            rows.append({**base, "metric": "accesses", "value": 1000.0, "unit": "count"})
    return pd.DataFrame(rows)


def weight_hist(ckpt: str) -> pd.DataFrame:
    edges = np.logspace(-4, 0, 9)
    rng = np.random.default_rng(0 if ckpt == DENSE else 1)
    rows = []
    for layer, (*_, params) in LAYERS.items():
        nnz = int(round(params * CHECKPOINTS[ckpt][3][layer]))
        counts = np.histogram(np.abs(rng.normal(0, 0.1, nnz)) + 1e-4, bins=edges)[0]
        rows += [
            {"layer": layer, "bin_lo": lo, "bin_hi": hi, "count": int(n)}
            for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True)
        ]
    return pd.DataFrame(rows)


def write_simulate_dir(folder: Path, archs=tuple(ARCHS), *, breakdown: bool = True) -> Path:
    """A simulate output folder (results.csv, breakdown.csv, manifest.json) for ``archs``."""
    folder.mkdir(parents=True, exist_ok=True)
    results = pd.DataFrame(results_rows(archs))
    results.to_csv(folder / "results.csv", index=False)
    if breakdown:
        breakdown_rows_for(results).to_csv(folder / "breakdown.csv", index=False)
    (folder / "manifest.json").write_text(
        json.dumps({"stage": "simulate", "settings": {"archs": list(archs)}})
    )
    return folder


def write_extract_dir(folder: Path, ckpt: str) -> Path:
    """An extract folder with its layers.csv (model, checkpoint, ...) and weight_hist.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    layers = pd.DataFrame(results_rows(("eyeriss_like",)))
    layers = layers[layers["checkpoint"] == ckpt].iloc[:, :25]
    layers.to_csv(folder / "layers.csv", index=False)
    weight_hist(ckpt).to_csv(folder / "weight_hist.csv", index=False)
    return folder


def write_run(root: Path) -> Path:
    """``root/simulate`` plus ``root/extract/{dense,pruned}`` as a pipeline run lays them out."""
    write_extract_dir(root / "extract" / "dense", DENSE)
    write_extract_dir(root / "extract" / "pruned", PRUNED)
    return write_simulate_dir(root / "simulate")
