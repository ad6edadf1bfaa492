"""The extracted layer lists and shapes of PointNet++, ResNet-18, LeNet-5 and MobileNetV2.

The expected tables are written out by hand from the architectures (papers' tables and the layer
arithmetic out = (in + 2 pad - dilation (k - 1) - 1) / stride + 1), not computed from the model code.
Convention: P = output width (with R = kernel width), Q = output height (with S = kernel height);
C and M per group, G groups.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sparse_hw.extract import extract
from sparse_hw.train.models import create_model
from tests.extract.helpers import model_checkpoint, seeded_batches

# layer, op, C, M, R, S, P, Q, G, stride
Row = tuple[str, str, int, int, int, int, int, int, int, int]


def _run(tmp_path: Path, name: str, kwargs: dict, shape: tuple[int, ...], n: int = 1) -> dict[str, object]:
    torch.manual_seed(0)
    model = create_model(name, **kwargs).eval()
    ckpt = model_checkpoint(tmp_path / f"{name}.pt", model, name, kwargs)
    result = extract(ckpt, out=tmp_path / "ex", batches=seeded_batches(shape, n=n, batch=n))
    return {r.layer: r for r in result.records}


def _table(records: dict) -> list[Row]:
    return [(r.layer, r.op, r.C, r.M, r.R, r.S, r.P, r.Q, r.G, r.stride_h) for r in records.values()]


LENET5_28: list[Row] = [
    ("conv1", "conv2d", 1, 6, 5, 5, 28, 28, 1, 1),  # padding 2 keeps 28x28
    ("conv2", "conv2d", 6, 16, 5, 5, 10, 10, 1, 1),  # 14x14 after pooling, no padding: 14 - 4 = 10
    ("fc1", "linear", 400, 120, 1, 1, 1, 1, 1, 1),  # 16 x 5 x 5 after the second pooling
    ("fc2", "linear", 120, 84, 1, 1, 1, 1, 1, 1),
    ("fc3", "linear", 84, 10, 1, 1, 1, 1, 1, 1),
]

# ResNet-18, ImageNet stem, 224x224: the reference Timeloop layers resnet18_conv2x (64/56),
# resnet18_conv4x (256/14), resnet18_ds1x1 (128 -> 256, 1x1/2, 14) and resnet18_fc (512 -> 1000) among them.
RESNET18_224: list[Row] = [
    ("conv1", "conv2d", 3, 64, 7, 7, 112, 112, 1, 2),
    ("layer1.0.conv1", "conv2d", 64, 64, 3, 3, 56, 56, 1, 1),
    ("layer1.0.conv2", "conv2d", 64, 64, 3, 3, 56, 56, 1, 1),
    ("layer1.1.conv1", "conv2d", 64, 64, 3, 3, 56, 56, 1, 1),
    ("layer1.1.conv2", "conv2d", 64, 64, 3, 3, 56, 56, 1, 1),
    ("layer2.0.conv1", "conv2d", 64, 128, 3, 3, 28, 28, 1, 2),
    ("layer2.0.conv2", "conv2d", 128, 128, 3, 3, 28, 28, 1, 1),
    ("layer2.0.downsample.0", "pointwise", 64, 128, 1, 1, 28, 28, 1, 2),
    ("layer2.1.conv1", "conv2d", 128, 128, 3, 3, 28, 28, 1, 1),
    ("layer2.1.conv2", "conv2d", 128, 128, 3, 3, 28, 28, 1, 1),
    ("layer3.0.conv1", "conv2d", 128, 256, 3, 3, 14, 14, 1, 2),
    ("layer3.0.conv2", "conv2d", 256, 256, 3, 3, 14, 14, 1, 1),
    ("layer3.0.downsample.0", "pointwise", 128, 256, 1, 1, 14, 14, 1, 2),
    ("layer3.1.conv1", "conv2d", 256, 256, 3, 3, 14, 14, 1, 1),
    ("layer3.1.conv2", "conv2d", 256, 256, 3, 3, 14, 14, 1, 1),
    ("layer4.0.conv1", "conv2d", 256, 512, 3, 3, 7, 7, 1, 2),
    ("layer4.0.conv2", "conv2d", 512, 512, 3, 3, 7, 7, 1, 1),
    ("layer4.0.downsample.0", "pointwise", 256, 512, 1, 1, 7, 7, 1, 2),
    ("layer4.1.conv1", "conv2d", 512, 512, 3, 3, 7, 7, 1, 1),
    ("layer4.1.conv2", "conv2d", 512, 512, 3, 3, 7, 7, 1, 1),
    ("fc", "linear", 512, 1000, 1, 1, 1, 1, 1, 1),
]


def _ir(
    i: int, cin: int, hidden: int, cout: int, size_in: int, stride: int, expand: bool = True
) -> list[Row]:
    """One inverted residual block features.i: 1x1 expand, 3x3 depthwise, 1x1 project."""
    size_out = size_in // stride
    rows = (
        [(f"features.{i}.conv.0.0", "pointwise", cin, hidden, 1, 1, size_in, size_in, 1, 1)] if expand else []
    )
    j = 1 if expand else 0
    rows.append((f"features.{i}.conv.{j}.0", "depthwise", 1, 1, 3, 3, size_out, size_out, hidden, stride))
    rows.append((f"features.{i}.conv.{j + 1}.0", "pointwise", hidden, cout, 1, 1, size_out, size_out, 1, 1))
    return rows


# MobileNetV2 1.0, 224x224 (Sandler et al. 2018, Table 2: t, c, n, s).
MOBILENETV2_224: list[Row] = [
    ("features.0.0", "conv2d", 3, 32, 3, 3, 112, 112, 1, 2),
    *_ir(1, 32, 32, 16, 112, 1, expand=False),  # t=1, c=16, n=1, s=1
    *_ir(2, 16, 96, 24, 112, 2), *_ir(3, 24, 144, 24, 56, 1),  # t=6, c=24, n=2, s=2
    *_ir(4, 24, 144, 32, 56, 2), *_ir(5, 32, 192, 32, 28, 1), *_ir(6, 32, 192, 32, 28, 1),  # c=32, n=3, s=2
    *_ir(7, 32, 192, 64, 28, 2), *_ir(8, 64, 384, 64, 14, 1), *_ir(9, 64, 384, 64, 14, 1),
    *_ir(10, 64, 384, 64, 14, 1),  # c=64, n=4, s=2
    *_ir(11, 64, 384, 96, 14, 1), *_ir(12, 96, 576, 96, 14, 1), *_ir(13, 96, 576, 96, 14, 1),  # c=96, n=3, s=1
    *_ir(14, 96, 576, 160, 14, 2), *_ir(15, 160, 960, 160, 7, 1), *_ir(16, 160, 960, 160, 7, 1),  # c=160, s=2
    *_ir(17, 160, 960, 320, 7, 1),  # c=320, n=1, s=1
    ("features.18.0", "pointwise", 320, 1280, 1, 1, 7, 7, 1, 1),
    ("classifier.1", "linear", 1280, 1000, 1, 1, 1, 1, 1, 1),
]  # fmt: skip

# PointNet++ SSG, default config: width 0.5 (SA 32-32-64, 64-64-128, 128-256-512; FC 256-128),
# npoint 128/32, nsample 16/16, 1024 input points. A set-abstraction 1x1 conv runs over
# [B, C, nsample, npoint]: P = npoint (width), Q = nsample (height); SA3 groups all 32 points: P=1, Q=32.
POINTNET2_DEFAULT: list[Row] = [
    ("sa1.mlp.0", "pointwise", 3, 32, 1, 1, 128, 16, 1, 1),  # relative xyz only
    ("sa1.mlp.3", "pointwise", 32, 32, 1, 1, 128, 16, 1, 1),
    ("sa1.mlp.6", "pointwise", 32, 64, 1, 1, 128, 16, 1, 1),
    ("sa2.mlp.0", "pointwise", 67, 64, 1, 1, 32, 16, 1, 1),  # 64 features + 3 xyz
    ("sa2.mlp.3", "pointwise", 64, 64, 1, 1, 32, 16, 1, 1),
    ("sa2.mlp.6", "pointwise", 64, 128, 1, 1, 32, 16, 1, 1),
    ("sa3.mlp.0", "pointwise", 131, 128, 1, 1, 1, 32, 1, 1),  # 128 features + 3 xyz = 131, a prime
    ("sa3.mlp.3", "pointwise", 128, 256, 1, 1, 1, 32, 1, 1),
    ("sa3.mlp.6", "pointwise", 256, 512, 1, 1, 1, 32, 1, 1),
    ("head.0", "linear", 512, 256, 1, 1, 1, 1, 1, 1),
    ("head.4", "linear", 256, 128, 1, 1, 1, 1, 1, 1),
    ("head.8", "linear", 128, 40, 1, 1, 1, 1, 1, 1),
]


def test_lenet5_layers(tmp_path: Path) -> None:
    recs = _run(tmp_path, "lenet5", {"num_classes": 10, "in_channels": 1, "image_size": 28}, (1, 28, 28), n=2)
    assert _table(recs) == LENET5_28
    assert (recs["conv1"].pad_h, recs["conv1"].pad_w, recs["conv2"].pad_h) == (2, 2, 0)
    assert recs["conv2"].macs == 6 * 16 * 25 * 10 * 10
    assert all(r.N == 1 and r.dilation_h == r.dilation_w == 1 for r in recs.values())


def test_resnet18_layers_match_the_reference_layers(tmp_path: Path) -> None:
    recs = _run(
        tmp_path,
        "resnet18",
        {"num_classes": 1000, "in_channels": 3, "stem": "imagenet", "width": 1.0},
        (3, 224, 224),
    )
    assert _table(recs) == RESNET18_224
    assert [r.order for r in recs.values()] == list(range(21))
    assert (recs["conv1"].pad_h, recs["conv1"].pad_w) == (3, 3)
    assert recs["layer3.0.downsample.0"].stride_w == 2
    assert sum(r.macs for r in recs.values()) == 1_814_073_344  # ResNet-18's well-known 1.81 GMACs
    assert sum(r.params for r in recs.values()) == 11_678_912  # conv + fc weights (no biases, no bn)
    assert not any(r.prime_dims for r in recs.values())


def test_mobilenetv2_layers(tmp_path: Path) -> None:
    recs = _run(
        tmp_path,
        "mobilenetv2",
        {"num_classes": 1000, "in_channels": 3, "width_mult": 1.0, "small_input": False, "dropout": 0.2},
        (3, 224, 224),
    )
    assert len(recs) == 53
    assert _table(recs) == MOBILENETV2_224
    dw = recs["features.2.conv.1.0"]
    assert (dw.op, dw.C, dw.M, dw.G, dw.params) == ("depthwise", 1, 1, 96, 96 * 9)
    assert dw.macs == 96 * 9 * 56 * 56
    assert sum(r.macs for r in recs.values()) == 300_774_272  # MobileNetV2 1.0: ~300 MMACs


def test_pointnet2_has_twelve_layers_and_flags_the_prime_channel_counts(tmp_path: Path) -> None:
    recs = _run(tmp_path, "pointnet2", {}, (3, 1024), n=2)
    assert len(recs) == 12
    assert _table(recs) == POINTNET2_DEFAULT
    flagged = {r.layer: dict(r.prime_dims) for r in recs.values() if r.prime_dims}
    assert flagged == {"sa2.mlp.0": {"C": 67}, "sa3.mlp.0": {"C": 131}}


@pytest.mark.parametrize(
    "groups, out, op, c, m, g",
    [
        (1, 12, "conv2d", 8, 12, 1),
        (4, 12, "grouped", 2, 3, 4),
        (8, 16, "depthwise", 1, 2, 8),
    ],  # dw multiplier 2
)
def test_grouped_and_depthwise_shapes(
    tmp_path: Path, groups: int, out: int, op: str, c: int, m: int, g: int
) -> None:
    conv = torch.nn.Conv2d(8, out, 3, stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=groups)
    model = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.Conv2d(out, 4, 1))
    torch.save(model, tmp_path / "m.pt")
    result = extract(
        tmp_path / "m.pt", out=tmp_path / "ex", trust=True, batches=seeded_batches((8, 10, 9), n=2, batch=2)
    )
    r = result.records[0]
    # height: (10 + 2*1 - 2*(3-1) - 1)/1 + 1 = 8 -> Q; width: (9 - 1*(3-1) - 1)/2 + 1 = 4 -> P
    assert (r.op, r.C, r.M, r.G, r.S, r.R, r.Q, r.P) == (op, c, m, g, 3, 3, 8, 4)
    assert (r.stride_h, r.stride_w, r.dilation_h, r.dilation_w, r.pad_h, r.pad_w) == (1, 2, 2, 1, 1, 0)
    assert r.macs == g * c * m * 3 * 3 * 8 * 4
    assert r.params == conv.weight.numel() == g * c * m * 9
    assert result.records[1].op == "pointwise"
