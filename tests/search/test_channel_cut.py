"""The search's structured cut is channel-complete: a cut channel's output is exactly zero, as if removed.

Zeroing a conv's output-channel weights alone leaves the bias and the following batch norm's shift (beta),
so after ReLU the channel is often non-zero and the next layer's input density does not drop.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from sparse_hw.search.prune import following_norms, prune_model


class _Seq(nn.Module):
    """conv+BN+ReLU, conv+BN+ReLU (both in Sequentials), then a classifier."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.block = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                   nn.Conv2d(8, 6, 1, bias=False), nn.BatchNorm2d(6), nn.ReLU())
        self.fc = nn.Linear(6, 3)
        for bn in (self.block[1], self.block[4]):  # non-trivial norms: shifts that keep a channel alive
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(0.2, 1.0)
            bn.running_mean.uniform_(-1.0, 1.0)
            bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.block(x).mean(dim=(2, 3)))


class _Attr(nn.Module):
    """Layer and norm as attributes (no Sequential), and a linear layer followed by BatchNorm1d."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv, self.bn = nn.Conv1d(3, 8, 1), nn.BatchNorm1d(8)
        self.lin, self.bn1 = nn.Linear(8, 6, bias=False), nn.BatchNorm1d(6)
        self.out = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv(x))).amax(dim=2)
        return self.out(torch.relu(self.bn1(self.lin(h))))


def _cut_rows(w: torch.Tensor) -> list[int]:
    return (w.detach().reshape(w.shape[0], -1).abs().sum(dim=1) == 0).nonzero().flatten().tolist()


@pytest.mark.parametrize("example", [True, False])
def test_structured_cut_zeroes_bias_and_following_norm(example):
    net = _Seq()
    x = torch.randn(4, 2, 5, 5)
    kept = prune_model(net, {"block.0": 0.5, "block.3": 0.5, "fc": 0.0}, "structured", 0.0,
                       example=x if example else None)
    cut0, cut3 = _cut_rows(net.block[0].weight), _cut_rows(net.block[3].weight)
    assert len(cut0) == 4 and len(cut3) == 3
    assert kept == {"block.0.bias": cut0, "block.1.weight": cut0, "block.1.bias": cut0,
                    "block.1.running_mean": cut0, "block.4.weight": cut3, "block.4.bias": cut3,
                    "block.4.running_mean": cut3}
    for name, idx in kept.items():
        assert torch.all(net.get_parameter(name)[idx] == 0) if "running" not in name \
            else torch.all(net.get_buffer(name)[idx] == 0)
    for mode in (True, False):  # batch statistics and running statistics alike
        net.train(mode)
        h = net.block[:3](torch.randn(16, 2, 5, 5) * 3 + 1)
        assert torch.count_nonzero(h[:, cut0]) == 0
        kept_channels = [c for c in range(8) if c not in cut0]
        assert torch.count_nonzero(h[:, kept_channels]) > 0


def test_norms_found_by_trace_outside_sequentials():
    net = _Attr()
    x = torch.randn(4, 3, 10)
    assert following_norms(net, x) == {"conv": "bn", "lin": "bn1"}
    assert following_norms(net) == {}  # module order needs a Sequential
    kept = prune_model(net, {"conv": 0.5, "lin": 0.5, "out": 0.0}, "structured,l1", 0.0, example=x)
    cut = _cut_rows(net.conv.weight)
    assert len(kept["conv.bias"]) == 2 and set(kept["conv.bias"]) <= set(cut)  # the structured share: 1-sqrt(.5)
    assert kept["bn.bias"] == kept["bn.weight"] == kept["conv.bias"]
    assert "lin.bias" not in kept and kept["bn1.weight"] == kept["bn1.bias"]
    net.eval()
    h = torch.relu(net.bn(net.conv(torch.randn(8, 3, 10))))
    assert torch.count_nonzero(h[:, kept["conv.bias"]]) == 0


def test_l1_leaves_biases_and_norms_alone():
    net = _Seq()
    layers = ("block.0.weight", "block.3.weight", "fc.weight")
    before = {k: v.clone() for k, v in net.state_dict().items() if k not in layers}
    assert prune_model(net, {"block.0": 0.5, "block.3": 0.5, "fc": 0.5}, "l1", 0.0,
                       example=torch.randn(2, 2, 5, 5)) == {}
    after = net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert float((net.block[0].weight == 0).float().mean()) == pytest.approx(0.5, abs=0.02)


def _input_density(extract_dir: Path, layer: str) -> float:
    import csv

    with open(extract_dir / "layers.csv", newline="", encoding="utf-8") as f:
        return next(float(r["input_density"]) for r in csv.DictReader(f) if r["layer"] == layer)


def test_cut_channels_stay_zero_through_the_finetune(tmp_path):
    """Dense PointNet++ (tiny) -> structured cut of sa1.mlp.3 -> fine-tune -> extract: the cut channels'
    bias/norm entries stay zero, their output after ReLU is exactly zero, and sa1.mlp.6's measured input
    density is at most the kept share of channels."""
    from sparse_hw.search.config import SearchConfig
    from sparse_hw.search.prune import layer_names
    from sparse_hw.search.space import Decoded
    from sparse_hw.search.trial import build_network
    from sparse_hw.train import TrainConfig, train
    from sparse_hw.train.checkpoint import build_model, load_checkpoint

    cfg = SearchConfig.model_validate({
        "name": "cut", "seed": 0, "out": str(tmp_path / "out"), "model": "pointnet2", "data": "synthetic-shapes",
        "data_options": {"n_points": 64, "per_class_train": 6, "per_class_test": 4, "classes": 4},
        "model_kwargs": {"width": 0.25, "npoint": [16, 8], "nsample": [8, 8]},
        "train": {"epochs": 1, "batch_size": 8}, "archs": ["eyeriss_v2"], "budget": {"trials": 2},
        "space": {"layers": {"*": [0.0, 0.9]}, "methods": ["structured"], "finetune_epochs": 1}, "extract": {"calib_samples": 8},
    })
    dense = train(TrainConfig.model_validate({**cfg.dense_train_config(), "out": str(tmp_path / "dense.pt")}))
    per_layer = {n: 0.0 for n in layer_names(cfg)} | {"sa1.mlp.3": 0.5}
    net = build_network(cfg, dense.checkpoint, Decoded(per_layer, "structured", 1, 0.5), tmp_path / "trial")

    state, meta = load_checkpoint(net.checkpoint)
    model = build_model(meta, state).eval()
    cut = _cut_rows(model.sa1.mlp[3].weight)
    assert len(cut) == 8 and meta.schedule["kept_zeros"]["sa1.mlp.4.bias"] == cut
    bn = model.sa1.mlp[4]
    assert all(torch.count_nonzero(t[cut]) == 0 for t in (bn.weight, bn.bias, bn.running_mean))
    assert torch.count_nonzero(bn.bias) > 0  # the kept channels trained on
    seen = []
    model.sa1.mlp[5].register_forward_hook(lambda _m, _i, out: seen.append(out))
    model(torch.randn(3, 3, 64) * 2)
    assert torch.count_nonzero(seen[0][:, cut]) == 0
    assert _input_density(net.extract_dir, "sa1.mlp.6") <= 0.5


def test_kept_zeros_apply_only_the_listed_entries_and_refuse_unknown_ones():
    from sparse_hw.errors import CheckpointError
    from sparse_hw.train.api import KeptZeros

    net = _Seq()
    with torch.no_grad():
        net.block[0].bias[3] = 0.0  # a zero nobody listed: it trains freely
    masks = KeptZeros(net, {"block.1.bias": [1, 2], "block.1.running_mean": [2]})
    assert masks and not masks.masks
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net.block[1].running_mean.add_(1.0)
    masks.apply(net)
    assert torch.count_nonzero(net.block[1].bias[[1, 2]]) == 0 and net.block[1].running_mean[2] == 0
    assert torch.count_nonzero(net.block[1].bias) == 6 and net.block[0].bias[3] == 1.0
    for bad in ({"block.9.bias": [0]}, {"block.1.bias": [8]}, {"block.0.weight": [0]}):
        with pytest.raises(CheckpointError, match="kept_zeros"):
            KeptZeros(net, bad)


def test_no_norm_zeroes_the_bias_only():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Conv2d(2, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 9, 3))
    with torch.no_grad():
        net[0].bias.uniform_(0.5, 1.0)  # positive: the channel would stay alive after ReLU
    x = torch.randn(4, 2, 5, 5)
    kept = prune_model(net, {"0": 0.5, "3": 0.0}, "structured", 0.0, example=x)
    cut = _cut_rows(net[0].weight)
    assert kept == {"0.bias": cut} and len(cut) == 3
    assert torch.count_nonzero(net[1](net[0](torch.randn(8, 2, 5, 5)))[:, cut]) == 0
