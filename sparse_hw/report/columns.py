"""Every column name and unit of the tables the report reads and writes, in one place.

Quantities carry their unit in the name (``energy_pj``, ``area_um2``); :data:`UNITS` says it in words
for labels. Ratios are dimensionless and always taken after summing (see :mod:`.tables`).
"""

from __future__ import annotations

from ..actual import ACTUAL_COLUMNS
from ..names import LAYER_TABLE_COLUMNS

# ------------------------------------------------------------------ inputs: extract's layers.csv keys
LAYER_COLUMNS: tuple[str, ...] = LAYER_TABLE_COLUMNS

# ------------------------------------------------------------------ inputs: simulate's results.csv
#: Columns simulate adds to the layers.csv keys (one row per model, checkpoint, arch, layer).
RESULT_COLUMNS: tuple[str, ...] = (
    "arch", "arch_exploits", "backend",
    "energy_pj", "cycles", "area_um2", "utilization",
    "algorithmic_computes", "actual_computes", "gated_computes", "skipped_computes",
    "mapper_seed", "method", "target_sparsity", "accuracy",
)  # fmt: skip
#: simulate's timings.csv: the bookkeeping of one run (wall times, cache hits). It differs between two runs
#: of the same inputs and seed, so it stays out of results.csv and of every report table.
TIMING_COLUMNS: tuple[str, ...] = (
    "model", "checkpoint", "layer", "order", "arch", "backend", "cache_hit", "job_seconds", "mapper_seconds",
)  # fmt: skip
#: Without these a results.csv cannot be reported.
REQUIRED_RESULT_COLUMNS: tuple[str, ...] = (
    "model",
    "checkpoint",
    "layer",
    "arch",
    "energy_pj",
    "cycles",
    "macs",
)
#: Read as text whatever they look like (a checkpoint id such as ``123456`` is not a number).
TEXT_COLUMNS: tuple[str, ...] = (
    "model", "checkpoint", "layer", "op", "arch", "arch_exploits", "backend", "method",
    "density_model", "pattern", "component", "tensor", "action", "metric", "unit",
    "checkpoint_label", "dense_checkpoint", "baseline_arch",
)  # fmt: skip
#: Absolute quantities: network totals are their sums.
SUMMED_COLUMNS: tuple[str, ...] = (
    "energy_pj", "cycles", "macs", "params", "nnz",
    "algorithmic_computes", "actual_computes", "gated_computes", "skipped_computes",
)  # fmt: skip

# ------------------------------------------------------------------ inputs: simulate's breakdown.csv
BREAKDOWN_COLUMNS: tuple[str, ...] = (
    "model", "checkpoint", "arch", "layer", "component", "tensor", "action", "metric", "value", "unit",
)  # fmt: skip
REQUIRED_BREAKDOWN_COLUMNS: tuple[str, ...] = (
    "model",
    "checkpoint",
    "arch",
    "layer",
    "component",
    "metric",
    "value",
    "unit",
)
#: The breakdown rows whose ``value`` is energy; per (model, checkpoint, arch, layer) they are disjoint
#: and sum to ``energy_pj`` of results.csv.
ENERGY_METRIC = "energy"
ENERGY_UNIT = "pJ"
#: ``tensor`` of rows that belong to no data space (compute, leakage, networks' residue).
NO_TENSOR = "none"

# ------------------------------------------------------------------ report keys
#: One summary row per these keys (the backend is a key so builtin and timeloop rows never mix).
GROUP_KEYS: tuple[str, ...] = ("model", "checkpoint", "arch", "backend")
CHECKPOINT_ATTRS: tuple[str, ...] = ("method", "target_sparsity", "accuracy")

# ------------------------------------------------------------------ outputs: summary.csv
SUMMARY_COLUMNS: tuple[str, ...] = (
    "model", "checkpoint", "checkpoint_label", "method", "target_sparsity", "accuracy", "is_dense",
    "arch", "arch_exploits", "backend",
    "n_layers", "n_layers_missing",
    "macs", "params", "nnz", "weight_density",
    "algorithmic_computes", "actual_computes", "gated_computes", "skipped_computes",
    "energy_pj", "cycles", "edp_pj_cycles", "energy_per_mac_pj", "utilization", "area_um2",
    "baseline_arch", "energy_ratio_to_baseline", "cycles_ratio_to_baseline", "edp_ratio_to_baseline",
    "dense_checkpoint", "energy_ratio_to_dense", "cycles_ratio_to_dense", "edp_ratio_to_dense",
)  # fmt: skip

# ------------------------------------------------------------------ outputs: layers.csv
LAYER_REPORT_COLUMNS: tuple[str, ...] = (
    "model", "checkpoint", "checkpoint_label", "method", "target_sparsity", "accuracy", "is_dense",
    "arch", "arch_exploits", "backend",
    "layer", "order", "op", "N", "C", "M", "R", "S", "P", "Q", "G",
    "weight_density", "input_density", "output_density", "density_model", "pattern",
    "macs", "params", "nnz",
    "algorithmic_computes", "actual_computes", "gated_computes", "skipped_computes",
    "energy_pj", "cycles", "edp_pj_cycles", "energy_per_mac_pj", "utilization", "area_um2",
    "baseline_arch", "energy_ratio_to_baseline", "cycles_ratio_to_baseline",
    "dense_checkpoint", "energy_ratio_to_dense", "cycles_ratio_to_dense",
)  # fmt: skip

#: Optional per-layer columns of ``simulate --density actual`` (the same mapping under the statistical
#: density model and on the actual masks; ``*_stat_error`` = statistical / actual - 1), kept when present.
ACTUAL_LAYER_COLUMNS: tuple[str, ...] = ACTUAL_COLUMNS

# ------------------------------------------------------------------ outputs: the figures' own tables
ENERGY_BREAKDOWN_COLUMNS: tuple[str, ...] = (
    "model", "checkpoint", "arch", "backend", "layer", "order", "component", "component_order", "energy_pj",
)  # fmt: skip
WEIGHT_HIST_COLUMNS: tuple[str, ...] = ("model", "checkpoint", "layer", "bin_lo", "bin_hi", "count")

UNITS: dict[str, str] = {
    "energy_pj": "pJ",
    "cycles": "cycles",
    "edp_pj_cycles": "pJ x cycles",
    "energy_per_mac_pj": "pJ per MAC",
    "area_um2": "um^2",
    "macs": "MACs",
    "params": "weights",
    "nnz": "nonzero weights",
    "utilization": "fraction of compute units busy",
    "weight_density": "nonzero fraction",
    "input_density": "nonzero fraction",
    "output_density": "nonzero fraction",
    "mapper_seconds": "s",
    "algorithmic_computes": "MACs",
    "actual_computes": "MACs",
    "gated_computes": "MACs",
    "skipped_computes": "MACs",
    "target_sparsity": "fraction",
    "accuracy": "fraction",
}
