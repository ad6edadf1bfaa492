"""ResNet-18 (He et al. 2016) in plain torch, with an ImageNet stem and a small-image stem.

``stem="imagenet"``: 7x7/2 convolution + 3x3/2 max-pool (224x224 inputs). ``stem="small"``: one
3x3/1 convolution and no pooling, the usual CIFAR variant for 32x32 and smaller images. ``width``
scales every channel count (64-128-256-512 at 1.0) so that tests can use a tiny network.
"""

from __future__ import annotations

import torch
from torch import nn

from . import register_model


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18: stem, four stages of two basic blocks, global average pool, linear classifier."""

    def __init__(self, num_classes: int, in_channels: int, stem: str, width: float) -> None:
        super().__init__()
        if stem not in ("imagenet", "small"):
            raise ValueError(f"stem must be 'imagenet' or 'small', not {stem!r}")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        planes = [max(1, round(c * width)) for c in (64, 128, 256, 512)]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, planes[0], 7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, planes[0], 3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(planes[0])
        self.relu = nn.ReLU()
        stages = []
        in_planes = planes[0]
        for i, p in enumerate(planes):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(in_planes, p, stride), BasicBlock(p, p, 1)))
            in_planes = p
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(planes[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model(
    "resnet18",
    default_kwargs={"num_classes": 1000, "in_channels": 3, "stem": "imagenet", "width": 1.0},
    input_kind="image",
)
def resnet18(num_classes: int, in_channels: int, stem: str, width: float) -> nn.Module:
    """ResNet-18 with an ImageNet (7x7/2 + max-pool) or small-image (3x3/1) stem."""
    return ResNet18(num_classes, in_channels, stem, float(width))
