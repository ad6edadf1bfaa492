"""What one weight of each layer costs on the searched hardware: the basis of ``global``'s tilt.

Plain global magnitude pruning ranks every weight by |w| alone, so it prunes where weights are small,
whatever they cost. The tilt ranks |w| / ratio^tilt instead (`.space.global_scale`), where ratio is the
layer's *marginal* hardware cost per weight over the network's: how much the objective falls, per weight
removed, when that layer's weights are thinned, as the engine computes it on every searched architecture.

It is measured once per search on the dense network's own problems (from its extract): each layer is
evaluated with its weight density at 1 and at `THIN`, every other density as measured, through the
search's bucketed mapping cache. Why marginal and not MACs per weight: on Eyeriss v2 the first
convolution of LeNet-5 does 64 MACs per weight yet its energy hardly moves with its weight density (its
inputs and outputs dominate), while the classifier's weights are each fetched once per inference.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..io import atomic_write, dump_yaml, load_yaml
from .hardware import HardwareModel

#: The thinned weight density of the measurement (the marginal is taken between it and dense).
THIN = 0.25
#: A layer whose weights cost (next to) nothing still gets this much of the network's mean ratio, so that
#: ratio^tilt stays finite and the layer is pruned last rather than never.
FLOOR = 1e-3


def _with_weight_density(problem: Path, density: float, folder: Path) -> Path:
    data = load_yaml(problem)
    densities = data["problem"]["instance"].setdefault("densities", {})
    spec = densities.get("Weights")
    if isinstance(spec, dict):
        densities["Weights"] = {**spec, "density": density}
    else:
        densities["Weights"] = {"distribution": "hypergeometric", "density": density}
    target = folder / f"{problem.stem}.w{density:g}.yaml"
    atomic_write(target, dump_yaml(data))
    return target


def marginal_ratios(hw: HardwareModel, problems: dict[str, Path], numels: dict[str, int],
                    objective: str = "energy") -> dict[str, float]:
    """Per layer: the objective saved per weight removed (summed over the architectures), over the
    numel-weighted mean of the network; floored at `FLOOR`. ``objective`` cycles uses cycles; energy and
    edp use energy (a layer's EDP share is not additive)."""
    names = list(problems)
    with tempfile.TemporaryDirectory(prefix="sparse-hw-tilt-") as tmp:
        folder = Path(tmp)
        dense = hw.evaluate([_with_weight_density(problems[n], 1.0, folder) for n in names])
        thin = hw.evaluate([_with_weight_density(problems[n], THIN, folder) for n in names])
    field = "cycles" if objective == "cycles" else "energy_pj"
    saved = {}
    for i, n in enumerate(names):
        drop = sum(getattr(dense.layers[a][i], field) - getattr(thin.layers[a][i], field) for a in hw.archs)
        saved[n] = max(0.0, drop) / ((1.0 - THIN) * max(1, numels[n]))
    mean = sum(saved[n] * numels[n] for n in names) / max(1, sum(numels[n] for n in names))
    if mean <= 0:  # no architecture rewards weight sparsity: every layer alike (plain global)
        return {n: 1.0 for n in names}
    return {n: max(FLOOR, saved[n] / mean) for n in names}
