"""What a search writes (each file atomically): trials.csv, front.csv, front.png, layers.png, summary.md.

Nothing here depends on wall time or on which worker ran a trial, so the same seed and trial list give
the same files byte for byte (timings go to timings.csv, apart).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import atomic_write

#: Spread of energy (max/min - 1) over the trials below which an architecture is said not to reward sparsity.
FLAT = 0.02


def trials_table(trials: list[Any], archs: list[str], exploits: dict[str, str], layers: list[str]) -> pd.DataFrame:
    """One row per completed trial: parameters, measured per-layer sparsity and densities, objectives."""
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        a = t.user_attrs
        row: dict[str, Any] = {"number": t.number, "label": a.get("sparse_hw:label", "search"),
                               "method": a["method"], "global_tilt": round(a.get("global_tilt", 0.0), 6),
                               "finetune_epochs": a["finetune_epochs"],
                               "target_sparsity": round(a["target_sparsity"], 6),
                               "weight_sparsity": round(a["weight_sparsity_total"], 6), "accuracy": a["accuracy"]}
        for arch in archs:
            e, c = a["energy_pj"][arch], a["cycles"][arch]
            row |= {f"energy_pj.{arch}": e, f"cycles.{arch}": c, f"edp.{arch}": e * c,
                    f"exploits.{arch}": exploits[arch]}
        for layer in layers:
            row[f"sparsity.{layer}"] = round(a["layer_sparsity"][layer], 6)
        for layer, width in (a.get("channels_kept") or {}).items():  # the channel cut's kept widths
            row[f"channels_kept.{layer}"] = width
        for layer, dens in a["densities"].items():
            for tensor, value in dens.items():
                row[f"{tensor}_density.{layer}"] = round(value, 6)
        rows.append(row)
    return pd.DataFrame(rows)


def pareto(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows no other row beats on both accuracy (higher) and ``metric`` (lower); sorted by the metric."""
    if table.empty:
        return table
    from ..pareto import pareto_mask

    ordered = table.sort_values([metric, "accuracy", "number"], ascending=[True, False, True])
    # of identical points, the first (lowest trial number) stands for them all
    keep = pareto_mask(ordered[metric].tolist(), (-ordered["accuracy"]).tolist(), keep_ties=False)
    return ordered[keep]


def front_table(table: pd.DataFrame, archs: list[str], objective: str, final: dict[int, dict[str, Any]] | None,
                layers: list[str]) -> pd.DataFrame:
    rows = []
    for arch in archs:
        metric = f"{objective}.{arch}" if objective != "energy" else f"energy_pj.{arch}"
        for _, r in pareto(table, metric).iterrows():
            row = {"arch": arch, "exploits": r[f"exploits.{arch}"], "number": int(r["number"]), "label": r["label"],
                   "method": r["method"], "global_tilt": r.get("global_tilt", 0.0),
                   "finetune_epochs": r["finetune_epochs"], "accuracy": r["accuracy"],
                   "energy_pj": r[f"energy_pj.{arch}"], "cycles": r[f"cycles.{arch}"], "edp": r[f"edp.{arch}"]}
            if final is not None:
                f = final[int(r["number"])]
                row |= {"final_accuracy": f["accuracy"], "final_energy_pj": f["energy_pj"][arch],
                        "final_cycles": f["cycles"][arch],
                        "final_edp": f["energy_pj"][arch] * f["cycles"][arch], "checkpoint": f["checkpoint"]}
            row |= {f"sparsity.{n}": r[f"sparsity.{n}"] for n in layers}
            row |= {c: r[c] for c in r.index if c.startswith("channels_kept.")}  # the channel cut's widths
            rows.append(row)
    return pd.DataFrame(rows)


def exploits_sentence(table: pd.DataFrame, arch: str, exploits: str) -> str:
    """Whether weight sparsity pays on ``arch``: energy spread over the trials against their sparsity."""
    energy = table[f"energy_pj.{arch}"]
    lo_s, hi_s = table["weight_sparsity"].min(), table["weight_sparsity"].max()
    spread = energy.max() / energy.min() - 1.0 if energy.min() > 0 else 0.0
    head = f"On {arch} (exploits {exploits}), energy varies by {100 * spread:.1f} % over trials whose weight " \
           f"sparsity ranges {100 * lo_s:.0f}-{100 * hi_s:.0f} %"
    if "weights" not in exploits.split("+") and spread < FLAT:
        return head + ": energy is flat in weight sparsity, so weight sparsity does not pay on this architecture."
    if spread < FLAT:
        return head + ": weight sparsity barely pays on this architecture."
    sparse, dense = table.loc[table["weight_sparsity"].idxmax()], table.loc[table["weight_sparsity"].idxmin()]
    saving = 1.0 - sparse[f"energy_pj.{arch}"] / dense[f"energy_pj.{arch}"]
    return head + f": the sparsest trial uses {100 * saving:.1f} % less energy than the densest."


#: "Equal accuracy" when comparing a searched point with a baseline: within this many points (0.5 %).
EQUAL_ACCURACY = 0.005


def family_cost(base: pd.DataFrame, col: str, accuracy: float) -> float | None:
    """What a baseline family needs of ``col`` to reach ``accuracy``: linear in accuracy between the two
    points of its own Pareto front that bracket it; None outside the accuracies its front spans."""
    front = pareto(base, col)  # rising accuracy with rising cost
    acc, cost = front["accuracy"].tolist(), front[col].tolist()
    if not acc or accuracy < acc[0] or accuracy > acc[-1]:
        return None
    for i in range(len(acc)):
        if acc[i] >= accuracy:
            if i == 0 or acc[i] == acc[i - 1]:
                return float(cost[i])
            t = (accuracy - acc[i - 1]) / (acc[i] - acc[i - 1])
            return float(cost[i - 1] + t * (cost[i] - cost[i - 1]))
    return None


def baseline_savings(table: pd.DataFrame, arch: str, metric: str) -> list[dict[str, Any]]:
    """Per baseline family (uniform, global): the searched trial with the largest saving of ``metric``
    against that family at equal accuracy -- the family's cost at the trial's accuracy less EQUAL_ACCURACY,
    interpolated on its front (`family_cost`); negative when every comparable trial costs more. Trials more
    accurate than the family's best or less accurate than its cheapest point are not comparable."""
    col = metric if metric in table else f"energy_pj.{arch}"
    searched = table[~table["label"].str.match(r"(uniform|global)-")]
    rows = []
    for kind in ("uniform", "global"):
        base = table[table["label"].str.startswith(kind + "-")]
        best = None
        for _, s in searched.iterrows():
            need = family_cost(base, col, float(s["accuracy"]) - EQUAL_ACCURACY)
            if need is None:
                continue
            saving = 1.0 - s[col] / need if need > 0 else 0.0
            if best is None or saving > best["saving"]:
                best = {"kind": kind, "saving": saving, "number": int(s["number"]), "accuracy": s["accuracy"],
                        "value": s[col], "baseline_value": need}
        if best is not None:
            rows.append(best)
    return rows


def dominating(table: pd.DataFrame, arch: str, metric: str) -> list[dict[str, Any]]:
    """Per baseline family: the cheapest searched trial more accurate than the family's most accurate
    point and cheaper than it -- outside the accuracies `baseline_savings` can compare at, but a plain
    domination (the family reached no such accuracy at any cost it tried). Families none dominates are left out."""
    col = metric if metric in table else f"energy_pj.{arch}"
    searched = table[~table["label"].str.match(r"(uniform|global)-")]
    rows = []
    for kind in ("uniform", "global"):
        front = pareto(table[table["label"].str.startswith(kind + "-")], col)
        if front.empty:
            continue
        top = front.iloc[-1]  # the family's most accurate point (the dearest on its front)
        above = searched[(searched["accuracy"] > top["accuracy"]) & (searched[col] < top[col])]
        if not above.empty:
            s = above.sort_values([col, "number"]).iloc[0]
            rows.append({"kind": kind, "number": int(s["number"]), "accuracy": s["accuracy"], "value": s[col],
                         "saving": 1.0 - s[col] / top[col], "baseline": str(top["label"]),
                         "baseline_accuracy": top["accuracy"], "baseline_value": top[col]})
    return rows


def savings_sentence(table: pd.DataFrame, arch: str, objective: str, basis: str = "by the proxy accuracy") -> str:
    """The search against its own baselines on ``arch``, in one sentence per family; ``basis`` says which
    accuracies ``table`` holds (the search's proxies, or the full training of `equal_training_table`)."""
    metric = f"energy_pj.{arch}" if objective == "energy" else f"{objective}.{arch}"
    parts = []
    for b in baseline_savings(table, arch, metric):
        verb = "less" if b["saving"] >= 0 else "more"
        parts.append(f"against {b['kind']} pruning, trial {b['number']} ({100 * b['accuracy']:.1f} %) needs "
                     f"{100 * abs(b['saving']):.1f} % {verb} {objective} than the {b['kind']} baselines do at "
                     f"{100 * (b['accuracy'] - EQUAL_ACCURACY):.1f} % (interpolated between them)")
    dominated = [f"trial {d['number']} dominates the most accurate {d['kind']} baseline, {d['baseline']} "
                 f"({100 * d['baseline_accuracy']:.1f} %): {100 * (d['accuracy'] - d['baseline_accuracy']):.1f} "
                 f"points more accurate for {100 * d['saving']:.1f} % less {objective}"
                 for d in dominating(table, arch, metric)]
    if not parts and not dominated:
        return f"On {arch}, {basis}, no searched trial has a baseline of equal or better accuracy to compare with."
    text = f"On {arch}, the best searched trials {basis}: " + "; ".join(parts) + "." if parts else \
        f"On {arch}, {basis}, no searched trial has a baseline of equal accuracy to compare with."
    return text + (" Above the baselines' accuracies, " + "; ".join(dominated) + "." if dominated else "")


def _pyplot():
    """pyplot on the Agg backend: the figures are written to files, never shown."""
    from ..mpl_home import private_config_if_home_unusable

    private_config_if_home_unusable()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    """The figure laid out and rendered as PNG (no software stamp, so reruns are byte-identical); closed."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def front_figure(table: pd.DataFrame, front: pd.DataFrame, archs: list[str], exploits: dict[str, str]) -> bytes:
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(archs), figsize=(5.5 * len(archs), 4.2), squeeze=False)
    for ax, arch in zip(axes[0], archs):
        e = f"energy_pj.{arch}"
        ax.scatter(table[e] / 1e6, 100 * table["accuracy"], s=14, color="0.7", label="trials")
        for kind, marker, color in (("uniform", "s", "tab:orange"), ("global", "^", "tab:green")):
            base = table[table["label"].str.startswith(kind + "-")].sort_values(e)
            if not base.empty:
                ax.plot(base[e] / 1e6, 100 * base["accuracy"], marker=marker, color=color, label=f"{kind} baseline")
        f = front[front["arch"] == arch].sort_values("energy_pj")
        ax.step(f["energy_pj"] / 1e6, 100 * f["accuracy"], where="post", color="tab:red", marker="o",
                label="front (search proxy)")
        if "final_accuracy" in f:
            ax.scatter(f["final_energy_pj"] / 1e6, 100 * f["final_accuracy"], marker="*", s=90, color="darkred",
                       label="front, fully trained", zorder=3)
        ax.set_xlabel("energy (µJ)")
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title(f"{arch} (exploits {exploits[arch]})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _png(fig)


def layers_figure(front: pd.DataFrame, layers: list[str]) -> bytes:
    plt = _pyplot()
    points = front.drop_duplicates("number").sort_values("number")
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(layers) + 3), 4.0))
    for _, r in points.iterrows():
        ax.plot(range(len(layers)), [100 * r[f"sparsity.{n}"] for n in layers], marker="o",
                label=f"#{int(r['number'])} {r['label']} ({r['method']}, acc {100 * r['accuracy']:.1f} %)")
    ax.set_xticks(range(len(layers)), layers, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("weight sparsity (%)")
    ax.set_ylim(0, 100)
    ax.set_title("per-layer sparsity of the front's points")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    return _png(fig)


def equal_training_table(table: pd.DataFrame, final: dict[int, dict[str, Any]], archs: list[str]) -> pd.DataFrame:
    """The trials ``final`` trained in full (the front and the baselines), with their full-training accuracy and
    exact hardware figures in the columns of ``table``: the baselines and the front at equal training."""
    rows = []
    for _, r in table[table["number"].isin(list(final))].iterrows():
        f = final[int(r["number"])]
        row = {"number": int(r["number"]), "label": r["label"], "accuracy": f["accuracy"]}
        for a in archs:
            row |= {f"energy_pj.{a}": f["energy_pj"][a], f"cycles.{a}": f["cycles"][a],
                    f"edp.{a}": f["energy_pj"][a] * f["cycles"][a]}
        rows.append(row)
    return pd.DataFrame(rows)


def write_outputs(out: Path, table: pd.DataFrame, front: pd.DataFrame, archs: list[str], exploits: dict[str, str],
                  layers: list[str], summary: list[str], objective: str = "energy",
                  equal: tuple[pd.DataFrame, int] | None = None) -> list[Path]:
    """The search's files. ``equal``: `equal_training_table` and its fine-tune epochs, when the baselines were
    trained in full too (summary.md then compares at equal training as well)."""
    written = [atomic_write(out / "trials.csv", table.to_csv(index=False)),
               atomic_write(out / "front.csv", front.to_csv(index=False))]
    if not table.empty:
        written.append(atomic_write(out / "front.png", front_figure(table, front, archs, exploits)))
        written.append(atomic_write(out / "layers.png", layers_figure(front, layers)))
        summary = summary + [exploits_sentence(table, a, exploits[a]) for a in archs]
        summary = summary + [savings_sentence(table, a, objective) for a in archs]
        if equal is not None and not equal[0].empty:
            basis = f"at equal training (the front and every baseline fine-tuned {equal[1]} epochs, simulated exactly)"
            summary = summary + [savings_sentence(equal[0], a, objective, basis) for a in archs]
    written.append(atomic_write(out / "summary.md", "\n\n".join(summary) + "\n"))
    return written
