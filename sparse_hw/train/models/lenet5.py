"""LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling, sized to the input image.

Two 5x5 convolutions and three fully connected layers. For 28x28/32x32 inputs this is the classic
network (conv 6 -> pool -> conv 16 -> pool -> 120 -> 84 -> classes); for tiny images (the 8x8
scikit-learn digits) the second convolution is padded so that the feature map never vanishes.
"""

from __future__ import annotations

import torch
from torch import nn

from . import register_model


def _feature_geometry(image_size: int) -> tuple[int, int]:
    """(conv2 padding, spatial size after the second pooling) for a square input."""
    if image_size < 4:
        raise ValueError(f"image_size must be at least 4, got {image_size}")
    after_pool1 = image_size // 2  # conv1 is 'same'-padded
    pad2 = 0 if after_pool1 >= 8 else 2
    after_conv2 = after_pool1 + 2 * pad2 - 4
    return pad2, max(after_conv2 // 2, 1)


class LeNet5(nn.Module):
    """LeNet-5: conv(6,5x5) - pool - conv(16,5x5) - pool - fc120 - fc84 - fc(num_classes)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> None:
        super().__init__()
        pad2, side = _feature_geometry(int(image_size))
        self.conv1 = nn.Conv2d(in_channels, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5, padding=pad2)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.fc1 = nn.Linear(16 * side * side, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.conv1(x)))
        x = self.pool(self.act(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = self.act(self.fc1(x))
        x = self.act(self.fc2(x))
        return self.fc3(x)


@register_model(
    "lenet5",
    default_kwargs={"num_classes": 10, "in_channels": 1, "image_size": 28},
    input_kind="image",
)
def lenet5(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """LeNet-5 for small grayscale images (28x28 MNIST-like or 8x8 digits)."""
    return LeNet5(num_classes=num_classes, in_channels=in_channels, image_size=image_size)
