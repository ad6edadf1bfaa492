"""The one Pareto-front computation of sparse-hw: which points no other point dominates.

Used by the architecture sweep (energy against cycles) and by the sparsity search (accuracy against
energy, cycles or EDP). Every objective is minimized here; a caller maximizing one passes it negated.
"""

from __future__ import annotations

from collections.abc import Sequence


def pareto_mask(*objectives: Sequence[float], keep_ties: bool = True) -> list[bool]:
    """True where no other point is at least as good on every objective and better on one (lower is better).

    ``keep_ties=False`` keeps only the first of several identical non-dominated points (in the given
    order), so a front lists each trade-off once."""
    points = list(zip(*objectives, strict=True))
    mask = []
    for i, p in enumerate(points):
        dominated = any(all(a <= b for a, b in zip(q, p)) and q != p for q in points)
        repeated = not keep_ties and any(q == p for q in points[:i])
        mask.append(not dominated and not repeated)
    return mask
