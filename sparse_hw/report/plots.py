"""Report figures, one function per figure: report tables in, a matplotlib Figure out.

Figures are sized for a two-column paper (7 in wide), use 7-9 pt DejaVu Sans (shipped with
matplotlib, so a figure looks the same on every machine), label every axis with its unit, use the
Okabe-Ito colour-blind-safe palette with hatching once colours run out, and name in every panel
which sparsity an architecture exploits. No pyplot: figures are plain ``Figure`` objects (Agg for PNG).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.patches import Patch

#: Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#56B4E9",
    "#CC79A7",
    "#F0E442",
    "#000000",
)
HATCHES: tuple[str, ...] = ("", "////", "....", "xxxx", "\\\\\\\\", "++++")
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES: tuple[str, ...] = ("-", "--", ":", "-.")
WIDTH_IN = 7.0
STYLE: dict[str, object] = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7.5,
    "figure.titlesize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "axes.axisbelow": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.5,
    "hatch.linewidth": 0.5,
    "savefig.dpi": 200,
    "pdf.fonttype": 42,  # embed TrueType: text stays text in the PDF
    "svg.hashsalt": "sparse-hw",
}


@contextmanager
def style() -> Iterator[None]:
    """The report's matplotlib settings, applied only inside the block (no global state is changed)."""
    with rc_context(STYLE):
        yield


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def hatch(i: int) -> str:
    return HATCHES[(i // len(PALETTE)) % len(HATCHES)]


def energy_scale(max_pj: float) -> tuple[float, str]:
    """A divisor and unit that keep energies between 0.1 and 1000 on an axis (pJ, nJ, uJ, mJ, J)."""
    for divisor, unit in ((1e12, "J"), (1e9, "mJ"), (1e6, "µJ"), (1e3, "nJ")):
        if max_pj >= 0.5 * divisor:
            return divisor, unit
    return 1.0, "pJ"


def arch_title(arch: str, exploits: str, backend: str | None = None) -> str:
    """``eyeriss_like_gating`` / ``exploits: inputs`` (every panel says which sparsity its arch exploits)."""
    suffix = f" [{backend}]" if backend else ""
    return f"{arch}{suffix}\nexploits: {exploits}"


def _columns(df: pd.DataFrame) -> list[tuple[str, str, str | None]]:
    """Ordered (arch, exploits, backend or None) panels; a backend is named only when there are several."""
    several = df["backend"].nunique() > 1
    seen = dict.fromkeys(
        zip(df["arch"].astype(str), df["arch_exploits"].astype(str), df["backend"].astype(str), strict=True)
    )
    return [(a, e, b if several else None) for a, e, b in seen]


def _checkpoints(df: pd.DataFrame) -> list[tuple[str, str]]:
    """Ordered (checkpoint, label) of a table already sorted dense first."""
    return list(
        dict.fromkeys(zip(df["checkpoint"].astype(str), df["checkpoint_label"].astype(str), strict=True))
    )


def _layer_axis(ax, names: list[str]) -> None:
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(
        names, rotation=60, ha="right", rotation_mode="anchor", fontsize=6 if len(names) > 12 else 7
    )
    ax.set_xlim(-0.6, len(names) - 0.4)


def _select(df: pd.DataFrame, arch: str, backend: str | None) -> pd.Series:
    mask = df["arch"].astype(str) == arch
    if backend is not None:
        mask &= df["backend"].astype(str) == backend
    return mask


def _figure(rows: int, height_per_row: float, extra: float = 1.0) -> Figure:
    return Figure(figsize=(WIDTH_IN, height_per_row * rows + extra), layout="constrained")


# ------------------------------------------------------------------------------------------- figures
def energy_breakdown_figure(
    energy_breakdown: pd.DataFrame, layers: pd.DataFrame, model: str
) -> Figure | None:
    """Stacked bars of each layer's energy by component; one row per checkpoint, one panel per arch."""
    lay = layers[layers["model"].astype(str) == model]
    eb = energy_breakdown[energy_breakdown["model"].astype(str) == model]
    if lay.empty or eb.empty:
        return None
    eb = eb.merge(
        lay[["checkpoint", "arch", "backend", "arch_exploits"]].drop_duplicates(),
        on=["checkpoint", "arch", "backend"],
        how="left",
    )
    ckpts = [c for c in _checkpoints(lay) if c[0] in set(eb["checkpoint"].astype(str))]
    panels = [p for p in _columns(lay) if _select(eb, p[0], p[2]).any()]
    components = list(
        eb.groupby("component", sort=False)["component_order"]
        .min()
        .sort_values(kind="stable")
        .index.astype(str)
    )
    totals = eb.groupby(["checkpoint", "arch", "backend", "layer"])["energy_pj"].sum()
    divisor, unit = energy_scale(float(totals.max()) if len(totals) else 1.0)
    with style():
        fig = _figure(len(ckpts), 1.9, 1.1)
        axes = fig.subplots(len(ckpts), len(panels), squeeze=False, sharey="row")
        for r, (ckpt, label) in enumerate(ckpts):
            layer_names = list(
                lay[lay["checkpoint"].astype(str) == ckpt]
                .sort_values("order", kind="stable")["layer"]
                .astype(str)
                .drop_duplicates()
            )
            for c, (arch, exploits, backend) in enumerate(panels):
                ax = axes[r][c]
                d = eb[(eb["checkpoint"].astype(str) == ckpt) & _select(eb, arch, backend)]
                table = d.pivot_table(
                    index="layer", columns="component", values="energy_pj", aggfunc="sum", fill_value=0.0
                )
                table = table.reindex(index=layer_names, columns=components, fill_value=0.0)
                bottom = np.zeros(len(layer_names))
                for i, comp in enumerate(components):
                    values = table[comp].to_numpy(dtype=float) / divisor
                    ax.bar(
                        np.arange(len(layer_names)),
                        values,
                        bottom=bottom,
                        width=0.8,
                        color=color(i),
                        hatch=hatch(i),
                        edgecolor="white",
                        linewidth=0.3,
                    )
                    bottom += values
                _layer_axis(ax, layer_names)
                if r == 0:
                    ax.set_title(arch_title(arch, exploits, backend))
                if c == 0:
                    ax.set_ylabel(f"{label}\nEnergy ({unit})")
        handles = [
            Patch(facecolor=color(i), hatch=hatch(i), edgecolor="white", label=comp)
            for i, comp in enumerate(components)
        ]
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=min(len(components), 6),
            title="Component",
            frameon=False,
        )
        fig.suptitle(f"{model}: energy per layer by component")
    return fig


def ratio_per_layer_figure(layers: pd.DataFrame, summary: pd.DataFrame, model: str) -> Figure | None:
    """Pruned/dense energy and cycle ratio per layer, plus the network ratio (ratio of the sums).

    One row per pruned checkpoint, energy left and cycles right, bars grouped by architecture.
    """
    lay = layers[(layers["model"].astype(str) == model) & ~layers["is_dense"].astype(bool)]
    lay = lay[lay["energy_ratio_to_dense"].notna() | lay["cycles_ratio_to_dense"].notna()]
    if lay.empty:
        return None
    ckpts = _checkpoints(lay)
    panels = _columns(lay)
    summ = summary[summary["model"].astype(str) == model]
    width = 0.8 / len(panels)
    with style():
        fig = _figure(len(ckpts), 2.0, 1.0)
        axes = fig.subplots(len(ckpts), 2, squeeze=False, sharey="row")
        for r, (ckpt, label) in enumerate(ckpts):
            d = lay[lay["checkpoint"].astype(str) == ckpt]
            names = list(d.sort_values("order", kind="stable")["layer"].astype(str).drop_duplicates())
            for c, (metric, what) in enumerate((("energy", "Energy"), ("cycles", "Cycles"))):
                ax = axes[r][c]
                for i, (arch, exploits, backend) in enumerate(panels):
                    per_layer = d[_select(d, arch, backend)].set_index("layer")[f"{metric}_ratio_to_dense"]
                    s = summ[(summ["checkpoint"].astype(str) == ckpt) & _select(summ, arch, backend)]
                    network = float(s[f"{metric}_ratio_to_dense"].iloc[0]) if len(s) else math.nan
                    values = np.append(per_layer.reindex(names).to_numpy(dtype=float), network)
                    name = f"{arch}{f' [{backend}]' if backend else ''} (exploits: {exploits})"
                    ax.bar(
                        np.arange(len(names) + 1) - 0.4 + width * (i + 0.5),
                        values,
                        width=width,
                        color=color(i),
                        hatch=hatch(i),
                        edgecolor="white",
                        linewidth=0.3,
                        label=name,
                    )
                ax.axhline(1.0, color="0.25", linestyle="--", linewidth=0.8)
                ax.axvline(len(names) - 0.5, color="0.5", linewidth=0.6)
                _layer_axis(ax, [*names, "network"])
                ax.get_xticklabels()[-1].set_fontweight("bold")
                ax.set_ylabel(f"{what} ratio\n({label} / dense)")
                ax.set_title(f"{what}: {label} / dense")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(panels), 3), frameon=False)
        fig.suptitle(f"{model}: sparse / dense ratio per layer and for the network (below 1 = saving)")
    return fig


def energy_per_mac_figure(summary: pd.DataFrame, layers: pd.DataFrame, model: str) -> Figure | None:
    """Energy per (dense) MAC: network totals per checkpoint and arch, and per layer."""
    summ = summary[(summary["model"].astype(str) == model) & summary["energy_per_mac_pj"].notna()]
    lay = layers[(layers["model"].astype(str) == model) & layers["energy_per_mac_pj"].notna()]
    if summ.empty:
        return None
    ckpts = _checkpoints(summ)
    panels = _columns(summ)
    width = 0.8 / len(panels)
    with style():
        fig = Figure(figsize=(WIDTH_IN, 3.0), layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=(1, 2))
        for i, (arch, exploits, backend) in enumerate(panels):
            s = summ[_select(summ, arch, backend)].set_index("checkpoint")["energy_per_mac_pj"]
            values = s.reindex([c for c, _ in ckpts]).to_numpy(dtype=float)
            name = f"{arch}{f' [{backend}]' if backend else ''} ({exploits})"
            left.bar(
                np.arange(len(ckpts)) - 0.4 + width * (i + 0.5),
                values,
                width=width,
                color=color(i),
                hatch=hatch(i),
                edgecolor="white",
                linewidth=0.3,
                label=name,
            )
            for j, (ckpt, _label) in enumerate(ckpts):
                d = lay[(lay["checkpoint"].astype(str) == ckpt) & _select(lay, arch, backend)]
                d = d.sort_values("order", kind="stable")
                right.plot(
                    d["layer"].astype(str),
                    d["energy_per_mac_pj"],
                    color=color(i),
                    marker=MARKERS[j % 8],
                    linestyle=LINESTYLES[j % 4],
                    linewidth=1.0,
                    markersize=3,
                )
        left.set_xticks(np.arange(len(ckpts)))
        left.set_xticklabels([lab for _, lab in ckpts], rotation=30, ha="right", rotation_mode="anchor")
        left.set_ylabel("Energy per MAC (pJ)")
        left.set_title("Network (sum of energy / sum of MACs)")
        right.set_ylabel("Energy per MAC (pJ)")
        right.set_title("Per layer")
        right.tick_params(axis="x", rotation=60)
        for lab in right.get_xticklabels():
            lab.set_ha("right")
            lab.set_rotation_mode("anchor")
        values = lay["energy_per_mac_pj"].to_numpy(dtype=float)
        if len(values) and values.min() > 0 and values.max() / values.min() > 30:
            right.set_yscale("log")
        arch_handles, arch_labels = left.get_legend_handles_labels()
        ckpt_handles = [
            right.plot(
                [],
                [],
                color="0.3",
                marker=MARKERS[j % 8],
                linestyle=LINESTYLES[j % 4],
                markersize=3,
                linewidth=1.0,
            )[0]
            for j in range(len(ckpts))
        ]
        fig.legend(
            arch_handles + ckpt_handles,
            arch_labels + [lab for _, lab in ckpts],
            loc="outside lower center",
            ncols=min(len(panels) + len(ckpts), 4),
            frameon=False,
        )
        fig.suptitle(f"{model}: energy per MAC (MACs of the dense layer)")
    return fig


def density_figure(layers: pd.DataFrame, model: str) -> Figure | None:
    """Measured density of weights, inputs and outputs per layer, one panel per checkpoint."""
    lay = layers[layers["model"].astype(str) == model].drop_duplicates(["checkpoint", "layer"])
    if lay.empty or lay[["weight_density", "input_density", "output_density"]].isna().all().all():
        return None
    ckpts = _checkpoints(lay)
    tensors = (("weight_density", "Weights"), ("input_density", "Inputs"), ("output_density", "Outputs"))
    with style():
        fig = _figure(len(ckpts), 1.7, 0.9)
        axes = fig.subplots(len(ckpts), 1, squeeze=False, sharey=True)
        for r, (ckpt, label) in enumerate(ckpts):
            ax = axes[r][0]
            d = lay[lay["checkpoint"].astype(str) == ckpt].sort_values("order", kind="stable")
            x = np.arange(len(d))
            for i, (column, name) in enumerate(tensors):
                ax.bar(
                    x - 0.4 + 0.8 / 3 * (i + 0.5),
                    d[column].to_numpy(dtype=float),
                    width=0.8 / 3,
                    color=color(i),
                    hatch=hatch(i),
                    edgecolor="white",
                    linewidth=0.3,
                    label=name,
                )
            _layer_axis(ax, list(d["layer"].astype(str)))
            ax.set_ylim(0, 1.05)
            ax.set_ylabel(f"{label}\nDensity (nonzero fraction)")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
        fig.suptitle(f"{model}: density per layer (weights, and inputs/outputs measured on calibration data)")
    return fig


def weight_histogram_figure(weight_hist: pd.DataFrame, layers: pd.DataFrame, model: str) -> Figure | None:
    """Distribution of |w| over the nonzero weights of all layers, one line per checkpoint.

    Each line is normalized to its checkpoint's nonzero count (the legend gives the count), so a
    pruned checkpoint's shape can be compared with the dense one's.
    """
    wh = weight_hist[weight_hist["model"].astype(str) == model]
    if wh.empty:
        return None
    labels = dict(_checkpoints(layers[layers["model"].astype(str) == model]))
    order = [c for c in labels if c in set(wh["checkpoint"].astype(str))]
    with style():
        fig = Figure(figsize=(WIDTH_IN / 2 + 0.4, 2.6), layout="constrained")
        ax = fig.subplots()
        positive = True
        for i, ckpt in enumerate(order):
            d = wh[wh["checkpoint"].astype(str) == ckpt]
            bins = d.groupby(["bin_lo", "bin_hi"], sort=True)["count"].sum().reset_index()
            lo, hi, counts = (bins[k].to_numpy(dtype=float) for k in ("bin_lo", "bin_hi", "count"))
            total = counts.sum()
            if total <= 0:
                continue
            share = 100.0 * counts / total
            positive &= bool((lo > 0).all())
            name = f"{labels[ckpt]} ({int(total):,} nonzero weights)"
            if len(lo) > 1 and np.allclose(hi[:-1], lo[1:]):
                ax.stairs(
                    share,
                    np.append(lo, hi[-1]),
                    color=color(i),
                    linestyle=LINESTYLES[i % 4],
                    linewidth=1.2,
                    label=name,
                )
            else:
                ax.bar(lo, share, width=hi - lo, align="edge", color=color(i), alpha=0.6, label=name)
        if positive:
            ax.set_xscale("log")
        ax.set_xlabel("|weight| of the nonzero weights")
        ax.set_ylabel("Share of nonzero weights (%)")
        ax.legend(frameon=False)
        ax.set_title(f"{model}: nonzero-weight magnitudes (all layers)")
    return fig


def accuracy_energy_figure(summary: pd.DataFrame, model: str) -> Figure | None:
    """Accuracy against network energy, one point per (checkpoint, arch)."""
    summ = summary[
        (summary["model"].astype(str) == model) & summary["accuracy"].notna() & summary["energy_pj"].notna()
    ]
    if summ.empty:
        return None
    ckpts = _checkpoints(summ)
    panels = _columns(summ)
    divisor, unit = energy_scale(float(summ["energy_pj"].max()))
    percent = float(summ["accuracy"].max()) <= 1.0
    with style():
        fig = Figure(figsize=(WIDTH_IN / 2 + 0.6, 2.8), layout="constrained")
        ax = fig.subplots()
        for i, (arch, _exploits, backend) in enumerate(panels):
            d = summ[_select(summ, arch, backend)]
            line = d.set_index("checkpoint").reindex([c for c, _ in ckpts]).dropna(subset=["energy_pj"])
            ax.plot(
                line["energy_pj"].to_numpy(dtype=float) / divisor,
                line["accuracy"].to_numpy(dtype=float) * (100 if percent else 1),
                color=color(i),
                linewidth=0.8,
                alpha=0.7,
                zorder=2,
            )
            for j, (ckpt, _label) in enumerate(ckpts):
                p = d[d["checkpoint"].astype(str) == ckpt]
                if p.empty:
                    continue
                x = float(p["energy_pj"].iloc[0]) / divisor
                y = float(p["accuracy"].iloc[0]) * (100 if percent else 1)
                ax.scatter([x], [y], color=color(i), marker=MARKERS[j % 8], s=22, zorder=3)
        energies = summ["energy_pj"].to_numpy(dtype=float)
        if energies.min() > 0 and energies.max() / energies.min() > 10:
            ax.set_xscale("log")
        ax.set_xlabel(f"Network energy ({unit})")
        ax.set_ylabel("Accuracy (%)" if percent else "Accuracy")
        ax.grid(True, axis="x")
        arch_handles = [
            Patch(color=color(i), label=f"{a}{f' [{b}]' if b else ''} ({e})")
            for i, (a, e, b) in enumerate(panels)
        ]
        ckpt_handles = [
            ax.scatter([], [], color="0.3", marker=MARKERS[j % 8], s=22, label=lab)
            for j, (_, lab) in enumerate(ckpts)
        ]
        ax.legend(handles=arch_handles + ckpt_handles, frameon=False, loc="best")
        ax.set_title(f"{model}: accuracy vs energy")
    return fig
