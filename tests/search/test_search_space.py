"""The pieces of a trial: decoding parameters, baselines, per-layer pruning, density buckets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparse_hw.search.config import SearchConfig
from sparse_hw.search.hardware import bucket_density
from sparse_hw.search.prune import prune_model
from sparse_hw.search.space import baseline_trials, decode, distributions

LAYERS = ["conv1", "conv2", "fc1"]
NUMELS = {"conv1": 150, "conv2": 2400, "fc1": 7680}


def _cfg(**space) -> SearchConfig:
    return SearchConfig.model_validate({
        "name": "t", "model": "lenet5", "archs": ["eyeriss_v2"], "budget": {"trials": 4},
        "space": {"methods": ["l1", "structured,l1"], **space},
        "baselines": {"uniform": [0.5, 0.9], "global": [0.8]},
    })


def test_per_layer_space_and_baselines():
    cfg = _cfg(layers={"conv*": [0.0, 0.6], "fc1": [0.1, 0.95]}, finetune_epochs=[0, 2])
    dists = distributions(cfg, LAYERS)
    assert set(dists) == {"sparsity.conv1", "sparsity.conv2", "sparsity.fc1", "method", "finetune_epochs",
                          "global_tilt"}
    assert (dists["global_tilt"].low, dists["global_tilt"].high) == (0.0, 1.0)
    assert dists["method"].choices == ("l1", "structured,l1", "global")
    seeds = dict(baseline_trials(cfg, LAYERS))
    assert seeds["uniform-0.9"]["sparsity.conv1"] == 0.6  # clipped into the layer's range
    assert seeds["uniform-0.9"]["sparsity.fc1"] == 0.9 and seeds["uniform-0.9"]["method"] == "l1"
    assert seeds["global-0.8"]["method"] == "global" and seeds["global-0.8"]["finetune_epochs"] == 0
    assert seeds["global-0.8"]["global_tilt"] == 0.0  # the baseline is plain global magnitude
    d = decode(cfg, seeds["uniform-0.5"], LAYERS, NUMELS)
    assert d.per_layer == {"conv1": 0.5, "conv2": 0.5, "fc1": 0.5} and d.global_target == pytest.approx(0.5)


def test_global_target_space_decodes_to_the_target():
    cfg = _cfg(global_target=[0.5, 0.9])
    dists = distributions(cfg, LAYERS)
    assert {"global_target", "alloc.conv1", "alloc.fc1"} <= set(dists)
    params = {"global_target": 0.8, "alloc.conv1": 0.5, "alloc.conv2": 1.0, "alloc.fc1": 2.0, "method": "l1"}
    d = decode(cfg, params, LAYERS, NUMELS)
    mean = sum(d.per_layer[n] * NUMELS[n] for n in LAYERS) / sum(NUMELS.values())
    assert mean == pytest.approx(0.8)
    assert d.per_layer["fc1"] > d.per_layer["conv2"] > d.per_layer["conv1"]


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.fc1 = nn.Linear(32, 10)


def _sparsity(w: torch.Tensor) -> float:
    return float((w == 0).sum()) / w.numel()


def test_prune_methods_reach_their_per_layer_targets():
    net = _Net()
    prune_model(net, {"conv1": 0.5, "fc1": 0.75}, "l1", 0.0)
    assert _sparsity(net.conv1.weight) == pytest.approx(0.5, abs=0.02)
    assert _sparsity(net.fc1.weight) == pytest.approx(0.75, abs=0.01)

    net = _Net()
    prune_model(net, {"conv1": 0.5, "fc1": 0.5}, "structured", 0.0)
    rows = net.conv1.weight.detach().reshape(8, -1)
    assert int((rows.abs().sum(dim=1) == 0).sum()) == 4  # whole output channels
    assert _sparsity(net.fc1.weight) == pytest.approx(0.5, abs=0.01)  # the classifier: l1 instead

    net = _Net()
    prune_model(net, {"conv1": 0.0, "fc1": 0.0}, "global", 0.6)
    total = net.conv1.weight.numel() + net.fc1.weight.numel()
    zeros = int((net.conv1.weight == 0).sum() + (net.fc1.weight == 0).sum())
    assert zeros / total == pytest.approx(0.6, abs=0.01)


def test_density_buckets():
    assert bucket_density(0.51, 0.05) == bucket_density(0.54, 0.05) == 0.525
    assert bucket_density(0.56, 0.05) == 0.575
    assert bucket_density(1.0, 0.05) == 1.0


def test_no_tilt_range_no_tilt_parameter():
    assert "global_tilt" not in distributions(_cfg(layers={"*": [0.0, 0.9]}, tilt=[0.0, 0.0]), LAYERS)


def test_tilt_scales_by_the_cost_ratio_and_allocation():
    ratios = {"conv1": 0.2, "conv2": 3.0, "fc1": 0.9}
    cfg = _cfg(global_target=[0.5, 0.9])
    params = {"global_target": 0.8, "alloc.conv1": 1.0, "alloc.conv2": 2.0, "alloc.fc1": 1.0, "method": "global",
              "global_tilt": 0.5}
    d = decode(cfg, params, LAYERS, NUMELS, ratios)
    assert d.global_scale["conv1"] == pytest.approx(ratios["conv1"] ** 0.5)
    assert d.global_scale["conv2"] == pytest.approx(2.0 * ratios["conv2"] ** 0.5)
    assert decode(cfg, params | {"method": "l1"}, LAYERS, NUMELS, ratios).global_scale is None
    plain = params | {"global_tilt": 0.0, "alloc.conv2": 1.0}
    assert decode(cfg, plain, LAYERS, NUMELS, ratios).global_scale is None  # plain global magnitude
    with pytest.raises(ValueError, match="cost ratios"):  # a tilt is never silently dropped
        decode(cfg, params, LAYERS, NUMELS)


def test_tilted_global_prunes_the_costly_layer_harder_and_caps_it():
    base = _Net()
    prune_model(base, {"conv1": 0.0, "fc1": 0.0}, "global", 0.5)
    tilted = _Net()
    prune_model(tilted, {"conv1": 0.0, "fc1": 0.0}, "global", 0.5, {"conv1": 4.0, "fc1": 1.0})
    assert _sparsity(tilted.conv1.weight) > _sparsity(base.conv1.weight) + 0.1
    total = tilted.conv1.weight.numel() + tilted.fc1.weight.numel()
    zeros = int((tilted.conv1.weight == 0).sum() + (tilted.fc1.weight == 0).sum())
    assert zeros / total == pytest.approx(0.5, abs=0.005)  # the global target still holds
    capped = _Net()  # a huge scale would empty conv1: it stops at the cap, fc1 takes the rest
    prune_model(capped, {"conv1": 0.0, "fc1": 0.0}, "global", 0.5, {"conv1": 1e9, "fc1": 1.0})
    from sparse_hw.search.space import MAX_LAYER_SPARSITY

    assert 0 < (capped.conv1.weight != 0).sum() and _sparsity(capped.conv1.weight) <= MAX_LAYER_SPARSITY
    zeros = int((capped.conv1.weight == 0).sum() + (capped.fc1.weight == 0).sum())
    assert zeros / total == pytest.approx(0.5, abs=0.005)
