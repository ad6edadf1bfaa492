"""The tilt's basis: each layer's marginal hardware cost per weight, from two evaluations of the dense network."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparse_hw.search.hardware import HardwareCost, LayerCost
from sparse_hw.search.tilt import FLOOR, THIN, marginal_ratios


class _Engine:
    """Stands in for HardwareModel: per layer, energy = base + per_weight * numel * weight density."""

    archs = ["a", "b"]

    def __init__(self, per_weight: dict[str, dict[str, float]], numels: dict[str, int]) -> None:
        self.per_weight, self.numels, self.seen = per_weight, numels, []

    def evaluate(self, files: list[Path]) -> HardwareCost:
        import yaml

        cost = HardwareCost()
        densities = [yaml.safe_load(f.read_text())["problem"]["instance"]["densities"]["Weights"]["density"]
                     for f in files]
        self.seen.append(densities)
        for arch in self.archs:
            cost.layers[arch] = [LayerCost(100.0 + self.per_weight[arch][n] * self.numels[n] * d, 7.0 * d, False)
                                 for n, d in zip(self.numels, densities)]
        return cost


def _problem(tmp: Path, name: str) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text("problem:\n  instance:\n    C: 1\n    densities:\n"
                    "      Weights: {distribution: hypergeometric, density: 0.4}\n")
    return path


def test_marginal_ratios_measure_the_saving_per_weight_on_every_architecture(tmp_path):
    numels = {"conv": 100, "fc": 900, "free": 1000}
    engine = _Engine({"a": {"conv": 3.0, "fc": 1.0, "free": 0.0}, "b": {"conv": 1.0, "fc": 1.0, "free": 0.0}},
                     numels)
    ratios = marginal_ratios(engine, {n: _problem(tmp_path, n) for n in numels}, numels)
    assert engine.seen == [[1.0] * 3, [THIN] * 3]  # dense, then thinned, whatever the measured density was
    mean = (4.0 * 100 + 2.0 * 900) / 2000  # saved per weight summed over a and b, numel-weighted
    assert ratios["conv"] == pytest.approx(4.0 / mean) and ratios["fc"] == pytest.approx(2.0 / mean)
    assert ratios["free"] == FLOOR  # weights that save nothing are pruned last, not never


def test_no_architecture_rewards_weight_sparsity_gives_plain_global(tmp_path):
    numels = {"conv": 100, "fc": 900}
    engine = _Engine({a: {"conv": 0.0, "fc": 0.0} for a in ("a", "b")}, numels)
    assert marginal_ratios(engine, {n: _problem(tmp_path, n) for n in numels}, numels) == {"conv": 1.0, "fc": 1.0}
    # the cycles objective measures cycles: 7 per layer at density 1 in both, so every layer alike
    engine = _Engine({a: {"conv": 5.0, "fc": 1.0} for a in ("a", "b")}, numels)
    ratios = marginal_ratios(engine, {n: _problem(tmp_path, n) for n in numels}, numels, "cycles")
    assert ratios["conv"] / ratios["fc"] == pytest.approx(9.0)  # same cycles saved by 9x fewer weights
