"""A small Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words") for tiny images.

Patch embedding (a strided convolution), a class token and learned position embeddings, ``depth``
pre-norm encoder blocks of multi-head self-attention and a GELU MLP, and a linear head on the class
token. The defaults (2x2 patches of the 8x8 digits, width 32, 4 heads, 2 blocks) train to ~90 % in a
few epochs on one CPU core; every linear layer's input width is a multiple of 8, so 2:4 and 4:8 pruning
reach all of them.

``attention="sdpa"`` computes attention with ``F.scaled_dot_product_attention``; ``"matmul"`` spells it
out as ``q @ k^T``, softmax, ``@ v`` with ``torch.matmul``. The extractor sees both as the two
activation-by-activation matmuls QK^T and AV (``sparse_hw.extract.matmul``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import register_model

#: Tokens a ViT may have: attention costs tokens^2 per head, so an odd ``image_size`` cannot ask for 10^12.
MAX_TOKENS = 4096


class Attention(nn.Module):
    """Multi-head self-attention: one ``qkv`` projection, per-head attention, an output projection."""

    def __init__(self, dim: int, heads: int, attention: str) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        if attention not in ("sdpa", "matmul"):
            raise ValueError(f"attention must be 'sdpa' or 'matmul', got {attention!r}")
        self.heads, self.head_dim, self.attention = heads, dim // heads, attention
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if self.attention == "sdpa":
            y = F.scaled_dot_product_attention(q, k, v)
        else:
            scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.head_dim)
            y = torch.matmul(scores.softmax(dim=-1), v)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Pre-norm encoder block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, attention: str) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, attention)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_ratio * dim)
        self.fc2 = nn.Linear(mlp_ratio * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    """ViT: patch embedding + class token + position embedding, ``depth`` blocks, LayerNorm, linear head."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 8, patch_size: int = 2,
                 dim: int = 32, depth: int = 2, heads: int = 4, mlp_ratio: int = 2, attention: str = "sdpa") -> None:
        super().__init__()
        if patch_size < 1 or image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        tokens = (image_size // patch_size) ** 2 + 1
        if tokens > MAX_TOKENS:
            raise ValueError(f"{tokens} tokens (image_size {image_size}, patch_size {patch_size}), more than "
                             f"{MAX_TOKENS}")
        self.patch = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, attention) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x[:, 0]))


@register_model(
    "vit",
    default_kwargs={"num_classes": 10, "in_channels": 1, "image_size": 8, "patch_size": 2, "dim": 32, "depth": 2,
                    "heads": 4, "mlp_ratio": 2, "attention": "sdpa"},
    input_kind="image",
)
def vit(num_classes: int, in_channels: int, image_size: int, patch_size: int, dim: int, depth: int, heads: int,
        mlp_ratio: int, attention: str) -> nn.Module:
    """Small Vision Transformer (patch embedding, multi-head attention, MLP) for 8x8 digits and small images."""
    return ViT(num_classes=num_classes, in_channels=in_channels, image_size=image_size, patch_size=patch_size,
               dim=dim, depth=depth, heads=heads, mlp_ratio=mlp_ratio, attention=attention)
