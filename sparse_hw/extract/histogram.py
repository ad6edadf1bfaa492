"""The nonzero-weight histogram: |w| of the nonzero weights of every layer on shared log-spaced bins.

Written as a long table (``weight_hist.csv``: model, checkpoint, layer, bin_lo, bin_hi, count) from
which the report draws its "nonzero-weight histogram" figure. The bins are shared by all layers so that
layers can be compared: whole decades from the smallest to the largest nonzero |w| of the network,
:data:`BINS_PER_DECADE` bins per decade.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

BINS_PER_DECADE = 8
HIST_COLUMNS = ("model", "checkpoint", "layer", "bin_lo", "bin_hi", "count")


def _magnitudes(weight: torch.Tensor) -> np.ndarray:
    """|w| of the nonzero weights, in memory order (the order does not matter to a histogram)."""
    w = weight.detach()
    if w.dim() == 4 and not w.is_contiguous() and w.is_contiguous(memory_format=torch.channels_last):
        w = w.permute(0, 2, 3, 1)  # a contiguous view of a channels-last weight: no copy
    a = w.numpy().reshape(-1)
    return np.abs(a[a != 0])


def _decades(mags: Mapping[str, np.ndarray]) -> tuple[int, int]:
    """Whole decades from the smallest to the largest nonzero magnitude of all layers."""
    present = [m for m in mags.values() if m.size]
    if not present:
        return -3, 0
    lo = math.floor(math.log10(float(min(m.min() for m in present))))
    hi = math.ceil(math.log10(float(max(m.max() for m in present))))
    return lo, max(hi, lo + 1)


def shared_edges(weights: Mapping[str, torch.Tensor]) -> np.ndarray:
    """Log-spaced bin edges covering every nonzero |w| of ``weights`` (whole decades)."""
    lo, hi = _decades({k: _magnitudes(w) for k, w in weights.items()})
    return np.logspace(lo, hi, (hi - lo) * BINS_PER_DECADE + 1)


def weight_histogram(weights: Mapping[str, torch.Tensor], *, model: str, checkpoint: str) -> list[dict]:
    """One row per (layer, bin), zero counts included, layers in the order given.

    A nonzero value goes to bin ``floor((log10|w| - lo) * BINS_PER_DECADE)`` (bins are
    ``[bin_lo, bin_hi)``; the top edge itself falls in the last bin); zeros are not counted. A few
    vectorized passes over the nonzero weights only, exact integer counts.
    """
    mags = {k: _magnitudes(w) for k, w in weights.items()}
    lo, hi = _decades(mags)
    n_bins = (hi - lo) * BINS_PER_DECADE
    edges = np.logspace(lo, hi, n_bins + 1)
    rows = []
    for layer, m in mags.items():
        slot = np.floor((np.log10(m, dtype=np.float64) - lo) * BINS_PER_DECADE).astype(np.int64)
        counts = np.bincount(np.clip(slot, 0, n_bins - 1), minlength=n_bins)
        rows += [
            {
                "model": model,
                "checkpoint": checkpoint,
                "layer": layer,
                "bin_lo": float(edges[i]),
                "bin_hi": float(edges[i + 1]),
                "count": int(counts[i]),
            }
            for i in range(n_bins)
        ]
    return rows


__all__ = ["BINS_PER_DECADE", "HIST_COLUMNS", "shared_edges", "weight_histogram"]
