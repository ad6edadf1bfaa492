"""MobileNetV2 (Sandler et al. 2018) in plain torch, with a width multiplier and a small-image variant.

Inverted residual blocks: 1x1 expansion, 3x3 depthwise, 1x1 linear projection. ``small_input=True``
uses stride 1 in the stem and in the first strided stage (the usual CIFAR adaptation), so 32x32
inputs keep a 4x4 map before the classifier instead of 1x1.
"""

from __future__ import annotations

import torch
from torch import nn

from . import register_model

# (expansion t, output channels c, repeats n, first stride s), Table 2 of the paper.
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of ``divisor`` without dropping more than 10% (reference impl.)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def _conv_bn(inp: int, out: int, kernel: int, stride: int, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out),
    ]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """Expansion (1x1) - depthwise (3x3) - projection (1x1, linear); residual when shapes match."""

    def __init__(self, inp: int, out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inp * expand
        self.use_residual = stride == 1 and inp == out
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn(inp, hidden, 1, 1))
        layers.append(_conv_bn(hidden, hidden, 3, stride, groups=hidden))
        layers.append(_conv_bn(hidden, out, 1, 1, act=False))
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 classifier."""

    def __init__(self, num_classes: int, in_channels: int, width_mult: float, small_input: bool, dropout: float):
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        first = _make_divisible(32 * width_mult)
        last = _make_divisible(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [_conv_bn(in_channels, first, 3, 1 if small_input else 2)]
        inp = first
        for stage, (t, c, n, s) in enumerate(_SETTINGS):
            out = _make_divisible(c * width_mult)
            stride = 1 if (small_input and stage == 1) else s
            for i in range(n):
                features.append(InvertedResidual(inp, out, stride if i == 0 else 1, t))
                inp = out
        features.append(_conv_bn(inp, last, 1, 1))
        self.features = nn.Sequential(*features)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


@register_model(
    "mobilenetv2",
    default_kwargs={"num_classes": 1000, "in_channels": 3, "width_mult": 1.0, "small_input": False, "dropout": 0.2},
    input_kind="image",
)
def mobilenetv2(num_classes: int, in_channels: int, width_mult: float, small_input: bool, dropout: float) -> nn.Module:
    """MobileNetV2 with a width multiplier; ``small_input`` for 32x32-class images."""
    return MobileNetV2(num_classes, in_channels, float(width_mult), bool(small_input), float(dropout))
