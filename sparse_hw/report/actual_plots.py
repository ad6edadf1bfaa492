"""The figure of ``simulate --density actual`` results: how far the statistical model was from the real masks.

One panel per (checkpoint, architecture): per layer, the statistical model's relative error on cycles
and on energy against the same mapping evaluated on the layer's actual nonzero masks (positive: the
statistical model overestimates). The title gives the network totals' errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import columns as col
from .plots import _checkpoints, _figure, _layer_axis, color, hatch, style

BARS = (("cycles_stat_error", "Cycles"), ("energy_stat_error", "Energy"))


def network_errors(lay: pd.DataFrame) -> tuple[float, float]:
    """Statistical / actual - 1 of the network's total cycles and energy (sums over its layers)."""
    def err(stat: str, actual: str) -> float:
        den = float(lay[actual].sum())
        return float(lay[stat].sum()) / den - 1.0 if den else float("nan")

    return err("cycles_statistical", "cycles_actual"), err("energy_pj_statistical", "energy_pj_actual")


def actual_vs_statistical_figure(layers: pd.DataFrame, model: str) -> Figure | None:
    """Per-layer error of the statistical density model against actual data (None without such results)."""
    if any(c not in layers.columns for c in col.ACTUAL_LAYER_COLUMNS):
        return None
    lay = layers[(layers["model"].astype(str) == model) & layers["cycles_actual"].notna()]
    if lay.empty:
        return None
    panels = [(ckpt, label, arch) for ckpt, label in _checkpoints(lay)
              for arch in dict.fromkeys(lay.loc[lay["checkpoint"].astype(str) == ckpt, "arch"].astype(str))]
    with style():
        fig = _figure(len(panels), 1.9, 0.9)
        axes = fig.subplots(len(panels), 1, squeeze=False)
        for r, (ckpt, label, arch) in enumerate(panels):
            ax = axes[r][0]
            d = lay[(lay["checkpoint"].astype(str) == ckpt) & (lay["arch"].astype(str) == arch)]
            d = d.sort_values("order", kind="stable")
            x = np.arange(len(d))
            for i, (column, name) in enumerate(BARS):
                ax.bar(x - 0.4 + 0.4 * (i + 0.5), 100.0 * d[column].to_numpy(dtype=float), width=0.4,
                       color=color(i), hatch=hatch(i), edgecolor="white", linewidth=0.3, label=name)
            ax.axhline(0.0, color="black", linewidth=0.6)
            _layer_axis(ax, list(d["layer"].astype(str)))
            cyc, en = network_errors(d)
            ax.set_ylabel(f"{label}\n{arch}\nstatistical vs actual (%)")
            ax.set_title(f"network: cycles {100 * cyc:+.2f} %, energy {100 * en:+.2f} %", fontsize=8)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
        fig.suptitle(f"{model}: statistical density model vs the layers' actual masks (same mapping)")
    return fig


__all__ = ["actual_vs_statistical_figure", "network_errors"]
