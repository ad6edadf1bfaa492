"""The search's channel cut (`space.channels`) really removes channels: smaller layers, same function as
zeroing them, widths rounded for the consumer, the history replayed by every later stage."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparse_hw.search.channels import kept_channels, remove_channels, smooth


@pytest.mark.parametrize(("channels", "cut", "extras", "max_prime", "kept"), [
    (64, 0.3, [3], 7, 45),      # PointNet++ sa1.mlp.6: 45 = 3^2 5, and its consumer reads 3 + 45 = 48
    (64, 0.05, [3], 7, 60),     # 61 is prime, 62 + 3 = 65 = 5 13, 63 + 3 = 66 = 2 3 11: 60 and 63
    (32, 0.25, [], 7, 24),
    (64, 0.125, [], 7, 56),
    (64, 0.09375, [], 7, 60),   # target 58 (2 29): 56 and 60 are as near; the larger is kept
    (32, 0.0, [], 7, 32),       # no cut: every channel, smooth or not
    (67, 0.0, [], 7, 67),
    (3, 0.4, [10], 2, 3),       # no width fits below 3: no cut
    (10, 0.5, [], 2, 4),        # powers of two only
])
def test_kept_widths_have_no_large_prime_factor(channels, cut, extras, max_prime, kept):
    assert kept_channels(channels, cut, extras, max_prime) == kept


def test_smooth():
    assert smooth(63, 7) and smooth(48, 3) and smooth(1, 2)
    assert not smooth(67, 7) and not smooth(22, 7) and not smooth(48, 2)


class _Concat(nn.Module):
    """conv+BN+ReLU whose output is concatenated with 3 extra channels before the next conv (PointNet++'s
    relative coordinates), then a classifier."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.bn_a = nn.Conv1d(3, 16, 1), nn.BatchNorm1d(16)
        self.b, self.bn_b = nn.Conv1d(16 + 3, 12, 1), nn.BatchNorm1d(12)
        self.out = nn.Linear(12, 4)
        for bn in (self.bn_a, self.bn_b):
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(0.2, 1.0)
            bn.running_mean.uniform_(-1.0, 1.0)
            bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn_a(self.a(x)))
        h = torch.relu(self.bn_b(self.b(torch.cat([x, h], dim=1))))
        return self.out(h.amax(dim=2))


def test_removal_narrows_producer_and_consumer_and_keeps_the_function():
    from sparse_hw.train.prune.channel_check import zero_channels

    net = _Concat().eval()
    x = torch.randn(4, 3, 10)
    reference = None
    weights = net.a.weight.detach().abs().reshape(16, -1).sum(dim=1)
    history, kept = remove_channels(net, {"a": 0.3, "b": 0.0, "out": 0.5}, x, 7, "out")
    assert kept == {"a": 12}  # 16 * 0.7 = 11.2 -> 11 is prime, 12 (b reads 3 + 12 = 15) is the nearest
    assert net.a.weight.shape[0] == 12 and net.bn_a.num_features == 12
    assert net.b.weight.shape[1] == 15 and net.out.weight.shape[0] == 4  # the classifier keeps its rows
    cut = sorted(torch.argsort(weights, stable=True)[:4].tolist())  # least L1 norm
    assert history == [("a", True, cut)]
    reference = zero_channels(_Concat(), {"a": cut, "bn_a": cut})
    with torch.no_grad():
        assert torch.allclose(reference.eval()(x), net(x), atol=1e-5)


def test_a_removal_that_changes_the_function_is_refused(monkeypatch):
    from sparse_hw.errors import ConfigError
    from sparse_hw.train.prune import channel_check

    monkeypatch.setattr(channel_check, "within_tolerance", lambda diff, scale: False)
    with pytest.raises(ConfigError, match="does not compute what zeroing them computes") as err:
        remove_channels(_Concat().eval(), {"a": 0.5}, torch.randn(2, 3, 10), 7, "out")
    assert err.value.key_path == "space.channels"


def test_space_searches_channels_per_layer_and_baselines_cut_none(tmp_path):
    from sparse_hw.search.config import SearchConfig
    from sparse_hw.search.space import baseline_trials, decode, distributions
    from tests.search._tiny import tiny_config

    layers = ["conv1", "conv2", "fc1", "fc2", "fc3"]
    numels = {n: 100 for n in layers}
    cfg = SearchConfig.model_validate(tiny_config(tmp_path, space={
        "global_target": [0.3, 0.9], "allocation": [1.0, 1.0], "tilt": [0.0, 0.0], "channels": [0.0, 0.4],
        "methods": ["l1"], "finetune_epochs": 0}))
    dists = distributions(cfg, layers)
    assert {f"channels.{n}" for n in layers} <= set(dists)
    assert (dists["channels.conv1"].low, dists["channels.conv1"].high) == (-0.4, 0.4)  # half the prior: no cut
    for _label, params in baseline_trials(cfg, layers):
        assert all(params[f"channels.{n}"] == 0.0 for n in layers)
    decoded = decode(cfg, {"global_target": 0.5, "method": "l1", "channels.conv2": 0.25, "channels.fc1": -0.3},
                     layers, numels)
    assert decoded.channels == {"conv1": 0.0, "conv2": 0.25, "fc1": 0.0, "fc2": 0.0, "fc3": 0.0}
    off = SearchConfig.model_validate(tiny_config(tmp_path))
    assert not any(k.startswith("channels.") for k in distributions(off, layers))
    assert decode(off, {"sparsity.conv1": 0.5, "method": "l1"}, layers, numels).channels is None


@pytest.mark.parametrize("bad", [[0.5, 0.2], [0.0, 1.0], [-0.1, 0.3], [0.1]])
def test_bad_channel_ranges_are_refused(tmp_path, bad):
    from pydantic import ValidationError

    from sparse_hw.search.config import SearchConfig
    from tests.search._tiny import tiny_config

    with pytest.raises(ValidationError, match="channels"):
        SearchConfig.model_validate(tiny_config(tmp_path, space={
            "layers": {"*": [0.0, 0.9]}, "methods": ["l1"], "channels": bad}))


def test_trial_removes_channels_and_every_stage_sees_the_smaller_layers(tmp_path):
    """Dense PointNet++ (tiny) -> channel cut of sa1.mlp.6 plus l1 -> fine-tune -> extract: the checkpoint
    replays narrower layers (45 kept, the consumer reads 3 + 45 = 48 channels), the extracted problems
    have the smaller M and C, and the reported sparsity counts the removed weights as pruned."""
    import csv

    from sparse_hw.search.config import SearchConfig
    from sparse_hw.search.prune import layer_names
    from sparse_hw.search.space import Decoded
    from sparse_hw.search.trial import build_network
    from sparse_hw.train import TrainConfig, train
    from sparse_hw.train.checkpoint import build_model, load_checkpoint

    cfg = SearchConfig.model_validate({
        "name": "chan", "seed": 0, "out": str(tmp_path / "out"), "model": "pointnet2", "data": "synthetic-shapes",
        "data_options": {"n_points": 64, "per_class_train": 6, "per_class_test": 4, "classes": 4},
        "model_kwargs": {"width": 0.5, "npoint": [16, 8], "nsample": [8, 8]},
        "train": {"epochs": 1, "batch_size": 8}, "archs": ["eyeriss_v2"], "budget": {"trials": 2},
        "space": {"layers": {"*": [0.0, 0.9]}, "methods": ["l1"], "finetune_epochs": 1, "channels": [0.0, 0.5]},
        "extract": {"calib_samples": 8},
    })
    dense = train(TrainConfig.model_validate({**cfg.dense_train_config(), "out": str(tmp_path / "dense.pt")}))
    layers = layer_names(cfg)
    per_layer = {n: 0.5 for n in layers}
    channels = {n: 0.0 for n in layers} | {"sa1.mlp.6": 0.3}
    net = build_network(cfg, dense.checkpoint, Decoded(per_layer, "l1", 1, 0.5, channels=channels),
                        tmp_path / "trial")
    assert net.channels == {"sa1.mlp.6": 45}
    state, meta = load_checkpoint(net.checkpoint)
    model = build_model(meta, state)
    assert model.sa1.mlp[6].weight.shape[0] == 45 and model.sa2.mlp[0].weight.shape[1] == 48
    assert [(name, out, len(idx)) for name, out, idx in meta.pruning_history] == [("sa1.mlp.6", True, 19)]
    with open(net.extract_dir / "layers.csv", newline="", encoding="utf-8") as f:
        rows = {r["layer"]: r for r in csv.DictReader(f)}
    assert (rows["sa1.mlp.6"]["M"], rows["sa2.mlp.0"]["C"]) == ("45", "48")
    # 64 -> 45 channels, half of what is left pruned: 1 - 0.5 * 45 / 64 of the dense layer's weights
    assert net.weight_sparsity["sa1.mlp.6"] == pytest.approx(1 - 0.5 * 45 / 64, abs=0.01)


def test_tiny_search_with_channel_cuts_records_widths_and_its_front_feeds_extract(tmp_path, shared_cache):
    """LeNet-5 (conv -> flatten -> linear): sampled trials narrow layers, trials.csv and front.csv list the kept
    widths, every front checkpoint replays its narrower layers in `extract`, and a rerun with the same seed
    writes the same bytes."""
    import pandas as pd

    from sparse_hw.pipeline import extract
    from sparse_hw.search import search
    from sparse_hw.train.checkpoint import build_model, load_checkpoint
    from tests.search._tiny import tiny_config, write_config

    outs = []
    for run in ("a", "b"):
        cfg = write_config(tmp_path / f"search-{run}.yaml", tiny_config(
            tmp_path / run, cache=str(shared_cache), budget={"trials": 6}, baselines={"uniform": [0.5], "global": []},
            space={"global_target": [0.3, 0.9], "allocation": [1.0, 1.0], "tilt": [0.0, 0.0], "methods": ["l1"],
                   "channels": [0.0, 0.5], "finetune_epochs": 0}))
        outs.append(search(cfg))
    for name in ("trials.csv", "front.csv", "summary.md"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    out = outs[0]
    trials = pd.read_csv(out / "trials.csv")
    kept = trials.filter(like="channels_kept.")
    assert len(trials) == 6 and not kept.empty and kept.notna().any(axis=None)
    assert kept.iloc[0].isna().all()  # the uniform baseline removes no channel
    front = pd.read_csv(out / "front.csv")
    assert front.filter(like="channels_kept.").notna().any(axis=None)  # narrowed points made the front
    for _, row in front.iterrows():
        state, meta = load_checkpoint(out / row["checkpoint"])
        model = build_model(meta, state)
        widths = {n: int(m.weight.shape[0]) for n, m in model.named_modules() if n in ("conv1", "conv2", "fc1", "fc2")}
        narrowed = {c.split(".", 1)[1]: int(v) for c, v in row.items() if c.startswith("channels_kept.") and pd.notna(v)}
        assert {n: widths[n] for n in narrowed} == narrowed
        ex = extract(out / row["checkpoint"], out=tmp_path / f"ex{int(row['number'])}", calib_samples=8, seed=0)
        layers = pd.read_csv(ex.out / "layers.csv").set_index("layer")
        assert all(int(layers.loc[n, "M"]) == w for n, w in narrowed.items() if n in layers.index)
