"""Tidy report tables from simulate's rows: network totals are sums, ratios are taken after summing.

A network's energy, cycles, MACs and computes are the sums over its layers; every ratio (to the
baseline architecture, to the dense checkpoint, energy per MAC, utilization) is computed from those
sums, never by averaging per-layer ratios (a mean of ratios weights a tiny layer like a huge one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..model.result import Evaluation
from . import columns as col

#: Architectures taken as the baseline when the user names none (the dense Eyeriss-like design).
DEFAULT_BASELINES: tuple[str, ...] = ("eyeriss_like",)
_DENSE_METHODS = ("none", "dense")


@dataclass(frozen=True)
class ReportTables:
    """The tables a report writes and draws its figures from."""

    summary: pd.DataFrame
    layers: pd.DataFrame
    energy_breakdown: pd.DataFrame
    weight_hist: pd.DataFrame
    baseline: str | None
    dense_checkpoints: dict[str, str | None]
    notes: tuple[str, ...]


# ------------------------------------------------------------------------------------- checkpoints
def _first(series: pd.Series) -> Any:
    values = series.dropna()
    return values.iloc[0] if len(values) else np.nan


def _label(method: Any, sparsity: Any, dense: bool) -> str:
    if dense:
        return "dense"
    name = str(method) if isinstance(method, str) and method else "pruned"
    if isinstance(sparsity, (int, float)) and not math.isnan(sparsity):
        return f"{name} {sparsity * 100:g}%"
    return name


def checkpoint_table(results: pd.DataFrame, notes: list[str]) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """One row per (model, checkpoint): method, sparsity, accuracy, whether it is the dense reference, label.

    The dense reference of a model is its checkpoint trained with method ``none`` (else the one with
    target sparsity 0); when several qualify the first by id is used and a note says so.
    """
    rows = []
    for (model, ckpt), g in results.groupby(["model", "checkpoint"], sort=False):
        for attr in col.CHECKPOINT_ATTRS:
            if g[attr].dropna().nunique() > 1:
                notes.append(f"{model}/{ckpt}: rows disagree on {attr}; the first value is reported")
        rows.append({"model": model, "checkpoint": ckpt, **{a: _first(g[a]) for a in col.CHECKPOINT_ATTRS}})
    ckpts = pd.DataFrame(rows)
    ckpts["target_sparsity"] = pd.to_numeric(ckpts["target_sparsity"], errors="coerce")
    ckpts["accuracy"] = pd.to_numeric(ckpts["accuracy"], errors="coerce")
    dense: dict[str, str | None] = {}
    for model, g in ckpts.groupby("model", sort=False):
        by_method = g[g["method"].astype("string").str.lower().isin(_DENSE_METHODS).fillna(False)]
        candidates = by_method if len(by_method) else g[g["target_sparsity"].fillna(-1) == 0]
        chosen = sorted(candidates["checkpoint"].astype(str))
        dense[str(model)] = chosen[0] if chosen else None
        if len(chosen) > 1:
            notes.append(f"{model}: several dense checkpoints ({', '.join(chosen)}); ratios use {chosen[0]}")
        if not chosen:
            notes.append(f"{model}: no dense checkpoint (method 'none'); ratios to dense are left empty")
    ckpts["is_dense"] = [
        dense.get(str(m)) == str(c) for m, c in zip(ckpts["model"], ckpts["checkpoint"], strict=True)
    ]
    ckpts["checkpoint_label"] = [
        _label(r.method, r.target_sparsity, r.is_dense) for r in ckpts.itertuples(index=False)
    ]
    # Two checkpoints of one model with the same label get their id appended.
    clash = ckpts.duplicated(["model", "checkpoint_label"], keep=False)
    ckpts.loc[clash, "checkpoint_label"] = [
        f"{lab} ({str(c)[:8]})"
        for lab, c in zip(ckpts.loc[clash, "checkpoint_label"], ckpts.loc[clash, "checkpoint"], strict=True)
    ]
    # Order: the dense checkpoint first, then by target sparsity, then as they came.
    sort_keys = [
        (0 if d else 1, s if not math.isnan(s) else math.inf, i)
        for i, (d, s) in enumerate(zip(ckpts["is_dense"], ckpts["target_sparsity"], strict=True))
    ]
    ranks = np.empty(len(sort_keys), dtype=int)
    ranks[sorted(range(len(sort_keys)), key=sort_keys.__getitem__)] = np.arange(len(sort_keys))
    ckpts["_ckpt_rank"] = ranks
    return ckpts, dense


def arch_table(results: pd.DataFrame, baseline: str | None, notes: list[str]) -> pd.DataFrame:
    """One row per architecture: which sparsity it exploits, and its order (the baseline first)."""
    rows = []
    for i, (arch, g) in enumerate(results.groupby("arch", sort=False)):
        exploits = g["arch_exploits"].dropna().unique()
        if len(exploits) > 1:
            notes.append(f"{arch}: rows disagree on arch_exploits ({', '.join(map(str, exploits))})")
        rows.append(
            {
                "arch": arch,
                "arch_exploits": str(exploits[0]) if len(exploits) else "unknown",
                "_arch_rank": -1 if arch == baseline else i,
            }
        )
    return pd.DataFrame(rows)


def resolve_baseline(results: pd.DataFrame, baseline: str | None) -> str | None:
    """The baseline architecture: the one asked for (must be present), else a default dense design."""
    archs = list(dict.fromkeys(results["arch"].astype(str)))
    if baseline is not None:
        if baseline not in archs:
            raise ConfigError(
                f"baseline architecture {baseline!r} is not in the results (they hold: {', '.join(archs)})",
                key_path="--baseline",
                fix=f"pass one of: {', '.join(archs)}",
            )
        return baseline
    for name in DEFAULT_BASELINES:
        if name in archs:
            return name
    return None


# ------------------------------------------------------------------------------------- tables
def _attach(df: pd.DataFrame, ckpts: pd.DataFrame, archs: pd.DataFrame) -> pd.DataFrame:
    ckpt_cols = ["model", "checkpoint", "checkpoint_label", "is_dense", "_ckpt_rank", *col.CHECKPOINT_ATTRS]
    df = df.drop(columns=[c for c in col.CHECKPOINT_ATTRS if c in df.columns])
    df = df.merge(ckpts[ckpt_cols], on=["model", "checkpoint"], how="left")
    df = df.drop(columns=["arch_exploits"], errors="ignore").merge(archs, on="arch", how="left")
    return df


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    num = pd.to_numeric(num, errors="coerce").astype("float64")
    den = pd.to_numeric(den, errors="coerce").astype("float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return out.where(den > 0)


def layer_table(
    results: pd.DataFrame, ckpts: pd.DataFrame, archs: pd.DataFrame, baseline: str | None, dense: dict
) -> pd.DataFrame:
    """Per-layer rows with per-layer ratios to the baseline architecture and to the dense checkpoint."""
    df = _attach(results.copy(), ckpts, archs)
    df["edp_pj_cycles"] = df["energy_pj"] * df["cycles"]
    df["energy_per_mac_pj"] = _ratio(df["energy_pj"], df["macs"])
    df["baseline_arch"] = baseline
    keys = ["model", "checkpoint", "backend", "layer"]
    if baseline is not None:
        base = df.loc[df["arch"] == baseline, [*keys, "energy_pj", "cycles"]]
        df = df.merge(base, on=keys, how="left", suffixes=("", "_base"))
        df["energy_ratio_to_baseline"] = _ratio(df["energy_pj"], df["energy_pj_base"])
        df["cycles_ratio_to_baseline"] = _ratio(df["cycles"], df["cycles_base"])
    else:
        df["energy_ratio_to_baseline"] = np.nan
        df["cycles_ratio_to_baseline"] = np.nan
    df["dense_checkpoint"] = df["model"].astype(str).map(dense)
    dkeys = ["model", "arch", "backend", "layer"]
    is_dense_row = df["checkpoint"].astype(str) == df["dense_checkpoint"].astype(str)
    ref = df.loc[is_dense_row, [*dkeys, "energy_pj", "cycles"]]
    df = df.merge(ref, on=dkeys, how="left", suffixes=("", "_dense"))
    df["energy_ratio_to_dense"] = _ratio(df["energy_pj"], df["energy_pj_dense"])
    df["cycles_ratio_to_dense"] = _ratio(df["cycles"], df["cycles_dense"])
    df = df.sort_values(["model", "_ckpt_rank", "_arch_rank", "backend", "order"], kind="stable")
    extra = [c for c in col.ACTUAL_LAYER_COLUMNS if c in df.columns]  # simulate --density actual
    return df[list(col.LAYER_REPORT_COLUMNS) + extra].reset_index(drop=True)


def _sum_strict(series: pd.Series) -> float:
    """Sum that is NaN when any term is missing (a network total with a missing layer is unknown)."""
    return float(series.sum()) if series.notna().all() else math.nan


def summary_table(
    results: pd.DataFrame,
    ckpts: pd.DataFrame,
    archs: pd.DataFrame,
    baseline: str | None,
    dense: dict,
    notes: list[str],
) -> pd.DataFrame:
    """One row per (model, checkpoint, arch, backend): sums first, then every ratio from the sums."""
    rows = []
    for key, g in results.groupby(list(col.GROUP_KEYS), sort=False):
        row: dict[str, Any] = dict(zip(col.GROUP_KEYS, key, strict=True))
        missing = g["energy_pj"].isna() | g["cycles"].isna()
        row["n_layers"] = len(g)
        row["n_layers_missing"] = int(missing.sum())
        for c in col.SUMMED_COLUMNS:
            if c in ("energy_pj", "cycles"):
                row[c] = _sum_strict(g[c])
            else:
                row[c] = float(g[c].sum(min_count=1)) if g[c].notna().any() else math.nan
        if row["n_layers_missing"]:
            notes.append(
                f"{'/'.join(map(str, key))}: {row['n_layers_missing']} layer(s) without energy or cycles; "
                "the network totals are left empty"
            )
        busy = g["utilization"] * g["cycles"]
        row["utilization"] = (
            float(busy.sum() / g["cycles"].sum())
            if busy.notna().all() and g["cycles"].sum() > 0
            else math.nan
        )
        areas = g["area_um2"].dropna().unique()
        if len(areas) > 1 and (areas.max() - areas.min()) > 1e-6 * areas.max():
            notes.append(f"{'/'.join(map(str, key))}: layers report different areas; the largest is reported")
        row["area_um2"] = float(areas.max()) if len(areas) else math.nan
        row["_layers"] = frozenset(g["layer"].astype(str))
        rows.append(row)
    s = pd.DataFrame(rows)
    s["edp_pj_cycles"] = s["energy_pj"] * s["cycles"]
    s["energy_per_mac_pj"] = _ratio(s["energy_pj"], s["macs"])
    s["weight_density"] = _ratio(s["nnz"], s["params"])
    s = _attach(s, ckpts, archs)

    s["baseline_arch"] = baseline
    keys = ["model", "checkpoint", "backend"]
    quantities = ["energy_pj", "cycles", "edp_pj_cycles", "_layers"]
    if baseline is not None:
        s = s.merge(s.loc[s["arch"] == baseline, keys + quantities], on=keys, how="left", suffixes=("", "_b"))
        same = _same_layers(s, "_layers_b", notes, f"baseline {baseline}")
        for q in ("energy", "cycles", "edp"):
            name = {"energy": "energy_pj", "cycles": "cycles", "edp": "edp_pj_cycles"}[q]
            s[f"{q}_ratio_to_baseline"] = _ratio(s[name], s[f"{name}_b"]).where(same)
    else:
        for q in ("energy", "cycles", "edp"):
            s[f"{q}_ratio_to_baseline"] = np.nan

    s["dense_checkpoint"] = s["model"].astype(str).map(dense)
    dkeys = ["model", "arch", "backend"]
    ref = s.loc[s["checkpoint"].astype(str) == s["dense_checkpoint"].astype(str), dkeys + quantities]
    s = s.merge(ref, on=dkeys, how="left", suffixes=("", "_d"))
    same = _same_layers(s, "_layers_d", notes, "the dense checkpoint")
    for q in ("energy", "cycles", "edp"):
        name = {"energy": "energy_pj", "cycles": "cycles", "edp": "edp_pj_cycles"}[q]
        s[f"{q}_ratio_to_dense"] = _ratio(s[name], s[f"{name}_d"]).where(same)
    s = s.sort_values(["model", "_ckpt_rank", "_arch_rank", "backend"], kind="stable")
    return s[list(col.SUMMARY_COLUMNS)].reset_index(drop=True)


def _same_layers(s: pd.DataFrame, ref_col: str, notes: list[str], what: str) -> pd.Series:
    """Rows whose layer set equals their reference's; a ratio over different layers would mislead."""
    same = []
    for model, ckpt, arch, mine, ref in zip(
        s["model"], s["checkpoint"], s["arch"], s["_layers"], s[ref_col], strict=True
    ):
        ok = isinstance(ref, frozenset) and mine == ref
        if isinstance(ref, frozenset) and not ok:
            notes.append(
                f"{model}/{ckpt}/{arch}: its layers differ from those of {what}; the ratio is left empty"
            )
        same.append(ok)
    return pd.Series(same, index=s.index)


def energy_breakdown_table(breakdown: pd.DataFrame, results: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Energy per (model, checkpoint, arch, backend, layer, component) from breakdown.csv's energy rows."""
    empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in col.ENERGY_BREAKDOWN_COLUMNS})
    if breakdown.empty:
        return empty
    energy = breakdown[
        (breakdown["metric"].astype(str) == col.ENERGY_METRIC)
        & (breakdown["unit"].astype(str) == col.ENERGY_UNIT)
    ].copy()
    if energy.empty:
        notes.append("breakdown.csv has no energy rows (metric 'energy', unit 'pJ'); no breakdown figure")
        return empty
    row_keys = ["model", "checkpoint", "arch", "layer"]
    if energy["backend"].notna().all():
        energy = energy.merge(results[[*row_keys, "backend"]], on=[*row_keys, "backend"], how="inner")
    else:  # a breakdown.csv without a backend column belongs to the results row of the same layer
        energy = energy.drop(columns=["backend"]).merge(
            results[[*row_keys, "backend"]], on=row_keys, how="inner"
        )
    component_order = {c: i for i, c in enumerate(dict.fromkeys(energy["component"].astype(str)))}
    keys = [*row_keys, "backend", "component"]
    table = energy.groupby(keys, sort=False, dropna=False)["value"].sum().reset_index(name="energy_pj")
    table["component_order"] = table["component"].astype(str).map(component_order)
    table = table.merge(
        results[[*row_keys, "backend", "order", "energy_pj"]].rename(columns={"energy_pj": "_total"}),
        on=[*row_keys, "backend"],
        how="left",
    )
    sums = table.groupby([*row_keys, "backend"], sort=False).agg(
        bd=("energy_pj", "sum"), total=("_total", "first")
    )
    off = (sums["bd"] - sums["total"]).abs() > 1e-6 * sums["total"].abs() + 1e-9
    if off.any():
        notes.append(
            f"breakdown.csv energy does not add up to results.csv energy_pj for {int(off.sum())} of {len(sums)} "
            "layer rows; the breakdown figure shows breakdown.csv as written"
        )
    table = table.sort_values(
        ["model", "checkpoint", "arch", "backend", "order", "component_order"], kind="stable"
    )
    return table[list(col.ENERGY_BREAKDOWN_COLUMNS)].reset_index(drop=True)


def build_tables(inputs, baseline: str | None = None) -> ReportTables:
    """Every report table from the loaded inputs (:class:`~sparse_hw.report.inputs.ReportInputs`)."""
    notes = list(inputs.notes)
    results = inputs.results
    baseline = resolve_baseline(results, baseline)
    if baseline is None:
        notes.append(
            f"no baseline architecture (none of {', '.join(DEFAULT_BASELINES)} in the results and no --baseline); "
            "ratios to the baseline are left empty"
        )
    ckpts, dense = checkpoint_table(results, notes)
    archs = arch_table(results, baseline, notes)
    if (archs["arch_exploits"] == "unknown").any():
        unknown = ", ".join(archs.loc[archs["arch_exploits"] == "unknown", "arch"].astype(str))
        notes.append(f"which sparsity these architectures exploit is unknown: {unknown}")
    layers = layer_table(results, ckpts, archs, baseline, dense)
    summary = summary_table(results, ckpts, archs, baseline, dense, notes)
    skipped = getattr(inputs, "skipped", None)
    if skipped is not None and len(skipped):
        layers = _with_unmodeled(layers, skipped, notes)
    breakdown = energy_breakdown_table(inputs.breakdown, results, notes)
    return ReportTables(summary, layers, breakdown, inputs.weight_hist, baseline, dense, tuple(notes))


def _with_unmodeled(layers: pd.DataFrame, skipped: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """The layer table with one row per layer simulate skipped (no Timeloop form) and per architecture its
    checkpoint ran on: empty energy and cycles, and the ``reason`` column (blank for modeled layers).
    The network totals of the summary leave these layers out; a note says how many, per checkpoint."""
    rows = []
    for (model, ckpt), g in skipped.groupby(["model", "checkpoint"], sort=False):
        mine = layers[(layers["model"].astype(str) == str(model)) & (layers["checkpoint"].astype(str) == str(ckpt))]
        runs = mine.drop_duplicates(["arch", "backend"])
        names = "; ".join(f"{s.layer} ({s.reason})" for s in g.itertuples())
        notes.append(f"{model}/{ckpt}: {len(g)} layer(s) not modeled (no Timeloop problem), left out of the "
                     f"network totals: {names}")
        keep = ["model", "checkpoint", "checkpoint_label", "method", "target_sparsity", "accuracy", "is_dense",
                "arch", "arch_exploits", "backend", "baseline_arch", "dense_checkpoint"]
        for run in runs[keep].to_dict("records"):
            rows += [run | {"layer": s.layer, "order": s.order, "op": s.op, "reason": s.reason}
                     for s in g.itertuples()]
    if not rows:
        return layers
    out = pd.concat([layers.assign(reason=pd.NA), pd.DataFrame(rows)], ignore_index=True)
    return out[list(layers.columns) + ["reason"]]


# ------------------------------------------------------------------------------------- for simulate
_ACTIONS = (("read", "reads"), ("fill", "fills"), ("update", "updates"))


def breakdown_rows(evaluation: Evaluation) -> list[dict[str, Any]]:
    """The long ``breakdown.csv`` rows (component, tensor, action, metric, value, unit) of one layer.

    Energy rows (metric ``energy``, unit ``pJ``) are disjoint and sum to ``evaluation.energy_pj``: one per
    (level, data space) with action ``all``, one per compute level with action ``compute``, and one
    ``other`` row per component for energy no data space carries (leakage, networks). Access rows are
    totals over instances: per-instance counts times the average number of utilized instances, as
    Timeloop totals them (NVlabs/timeloop v3.0.3, ``src/model/buffer.cpp``, ``STAT_ACCESSOR ... Accesses``).
    """
    rows: list[dict[str, Any]] = []

    def add(component: str, tensor: str, action: str, metric: str, value: float, unit: str) -> None:
        rows.append(
            {
                "component": component,
                "tensor": tensor,
                "action": action,
                "metric": metric,
                "value": float(value),
                "unit": unit,
            }
        )

    by_component: dict[str, float] = {}
    for lv in evaluation.levels:
        by_component[lv.level] = by_component.get(lv.level, 0.0) + lv.energy_pj
        if lv.dataspace == "(compute)":
            add(lv.level, col.NO_TENSOR, "compute", col.ENERGY_METRIC, lv.energy_pj, col.ENERGY_UNIT)
            continue
        if lv.dataspace == "(no data kept)":
            if lv.energy_pj:
                add(lv.level, col.NO_TENSOR, "other", col.ENERGY_METRIC, lv.energy_pj, col.ENERGY_UNIT)
            continue
        add(lv.level, lv.dataspace, "all", col.ENERGY_METRIC, lv.energy_pj, col.ENERGY_UNIT)
        instances = (
            lv.utilized_instances_avg if lv.utilized_instances_avg is not None else lv.utilized_instances
        )
        for action, field in _ACTIONS:
            for prefix, metric in (
                ("", "accesses"),
                ("gated_", "gated_accesses"),
                ("skipped_", "skipped_accesses"),
                ("metadata_", "metadata_accesses"),
            ):
                name = f"metadata_{field}" if prefix == "metadata_" else f"{prefix}{field}"
                value = getattr(lv, name, 0.0)
                if value:
                    add(lv.level, lv.dataspace, action, metric, value * instances, "count")
    for component, energy in evaluation.energy_breakdown_pj.items():
        rest = energy - by_component.get(component, 0.0)
        if abs(rest) > 1e-9 * max(abs(evaluation.energy_pj), 1.0):
            add(component, col.NO_TENSOR, "other", col.ENERGY_METRIC, rest, col.ENERGY_UNIT)
    compute = next((lv.level for lv in evaluation.levels if lv.dataspace == "(compute)"), "compute")
    for name in ("algorithmic_computes", "actual_computes", "gated_computes", "skipped_computes"):
        add(compute, col.NO_TENSOR, "compute", name, getattr(evaluation, name), "count")
    return rows
