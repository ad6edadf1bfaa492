"""PointNet++ single-scale-grouping classifier (Qi et al. 2017) in plain torch.

Three set-abstraction (SA) levels and a fully connected head, exactly 12 prunable layers:

* SA1, SA2: farthest point sampling picks ``npoint`` centroids, a ball query of ``radius`` groups
  ``nsample`` neighbours per centroid, and a shared MLP of three 1x1 ``Conv2d`` runs over the
  grouped tensor laid out ``[B, C, nsample, npoint]`` (relative xyz concatenated with features),
  followed by a max over the neighbours;
* SA3 (global): the same shared MLP over all remaining points (``[B, C+3, N, 1]``) and a max;
* head: three ``Linear`` layers (with batch norm and dropout between them).

Channel widths are the paper's (SA 64-64-128, 128-128-256, 256-512-1024; FC 512-256) times ``width``.
The defaults (``width=0.5``, 128/32 centroids, 16 neighbours) train on two CPU cores in minutes; pass
``width=1.0, npoint=(512, 128), nsample=(32, 64)`` for the paper's configuration.

Sampling and grouping run without gradients and are deterministic: farthest point sampling starts
from indices drawn from a generator seeded with ``fps_seed`` on every call, and ties go to the lowest
index.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from . import register_model

_PAPER_SA = ((64, 64, 128), (128, 128, 256), (256, 512, 1024))
_PAPER_FC = (512, 256)


def farthest_point_sample(xyz: torch.Tensor, npoint: int, start: torch.Tensor) -> torch.Tensor:
    """Indices ``[B, npoint]`` of iteratively farthest points of ``xyz`` ``[B, N, 3]``, from ``start`` ``[B]``."""
    batch, n, _ = xyz.shape
    if npoint > n:
        raise ValueError(f"cannot sample {npoint} centroids from {n} points")
    rows = torch.arange(batch, device=xyz.device)
    idx = torch.empty(batch, npoint, dtype=torch.long, device=xyz.device)
    dist = torch.full((batch, n), float("inf"), dtype=xyz.dtype, device=xyz.device)
    farthest = start
    for i in range(npoint):
        idx[:, i] = farthest
        centroid = xyz[rows, farthest].unsqueeze(1)
        dist = torch.minimum(dist, ((xyz - centroid) ** 2).sum(-1))
        farthest = dist.argmax(-1)
    return idx


def ball_query(xyz: torch.Tensor, centroids: torch.Tensor, radius: float, nsample: int) -> torch.Tensor:
    """Indices ``[B, S, nsample]`` of the first ``nsample`` points (by index) within ``radius`` of each centroid.

    Balls with fewer points repeat their first member, as in the reference CUDA kernel; the centroid
    itself is a point of the cloud, so every ball holds at least one.
    """
    n = xyz.shape[1]
    k = min(nsample, n)
    sqr = torch.cdist(centroids, xyz).pow_(2)  # [B, S, N]
    order = torch.arange(n, device=xyz.device).expand_as(sqr)
    key = torch.where(sqr <= radius * radius, order, torch.full_like(order, n))
    idx = torch.topk(key, k, dim=-1, largest=False, sorted=True).values
    first = idx[..., :1].expand_as(idx)
    idx = torch.where(idx == n, first, idx)
    if k < nsample:
        idx = torch.cat([idx, idx[..., :1].expand(*idx.shape[:-1], nsample - k)], dim=-1)
    return idx


def _gather_points(values: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``values`` ``[B, C, N]`` at ``idx`` ``[B, *S]`` -> ``[B, C, *S]`` (channel-first, differentiable)."""
    batch, channels, _ = values.shape
    flat = idx.reshape(batch, 1, -1).expand(batch, channels, -1)
    return torch.gather(values, 2, flat).reshape(batch, channels, *idx.shape[1:])


def _shared_mlp(in_channels: int, widths: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        in_channels = width
    return nn.Sequential(*layers)


class SetAbstraction(nn.Module):
    """One SA level: sample + group (or group everything when ``npoint`` is None), shared MLP, max-pool."""

    def __init__(self, npoint: int | None, radius: float, nsample: int, in_channels: int, widths: Sequence[int],
                 fps_seed: int) -> None:
        super().__init__()
        self.npoint, self.radius, self.nsample, self.fps_seed = npoint, radius, nsample, fps_seed
        self.mlp = _shared_mlp(in_channels + 3, widths)

    def forward(self, xyz: torch.Tensor, features: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor]:
        """``xyz`` ``[B, 3, N]``, ``features`` ``[B, D, N]`` -> new xyz ``[B, 3, S]`` (None if global), ``[B, C, S]``."""
        if self.npoint is None:
            grouped = xyz if features is None else torch.cat([xyz, features], dim=1)
            out = self.mlp(grouped.unsqueeze(-1))  # [B, C, N, 1]
            return None, out.max(dim=2).values
        with torch.no_grad():
            points = xyz.transpose(1, 2).contiguous()
            gen = torch.Generator(device="cpu").manual_seed(self.fps_seed)
            start = torch.randint(points.shape[1], (points.shape[0],), generator=gen).to(points.device)
            centers = farthest_point_sample(points, self.npoint, start)  # [B, S]
            new_points = points[torch.arange(points.shape[0], device=points.device).unsqueeze(1), centers]
            groups = ball_query(points, new_points, self.radius, self.nsample).transpose(1, 2)  # [B, K, S]
            new_xyz = new_points.transpose(1, 2).contiguous()  # [B, 3, S]
            rel = _gather_points(xyz, groups) - new_xyz.unsqueeze(2)  # [B, 3, K, S]
        grouped = rel if features is None else torch.cat([rel, _gather_points(features, groups)], dim=1)
        out = self.mlp(grouped)  # [B, C, K, S]
        return new_xyz, out.max(dim=2).values


class PointNet2SSG(nn.Module):
    """PointNet++ SSG classifier over ``[B, C, N]`` point clouds (xyz first, then optional features)."""

    def __init__(self, num_classes: int, in_channels: int, width: float, npoint: Sequence[int],
                 radius: Sequence[float], nsample: Sequence[int], dropout: float, fps_seed: int) -> None:
        super().__init__()
        if in_channels < 3:
            raise ValueError(f"in_channels must be >= 3 (xyz first), got {in_channels}")
        if not (len(npoint) == len(radius) == len(nsample) == 2):
            raise ValueError("npoint, radius and nsample each take two values (SA1, SA2)")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        sa = [[max(1, round(c * width)) for c in level] for level in _PAPER_SA]
        fc = [max(1, round(c * width)) for c in _PAPER_FC]
        self.in_channels = in_channels
        self.sa1 = SetAbstraction(int(npoint[0]), float(radius[0]), int(nsample[0]), in_channels - 3, sa[0], fps_seed)
        self.sa2 = SetAbstraction(int(npoint[1]), float(radius[1]), int(nsample[1]), sa[0][-1], sa[1], fps_seed)
        self.sa3 = SetAbstraction(None, 0.0, 0, sa[1][-1], sa[2], fps_seed)
        self.head = nn.Sequential(
            nn.Linear(sa[2][-1], fc[0], bias=False), nn.BatchNorm1d(fc[0]), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(fc[0], fc[1], bias=False), nn.BatchNorm1d(fc[1]), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(fc[1], num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xyz = x[:, :3]
        features = x[:, 3:] if self.in_channels > 3 else None
        xyz, features = self.sa1(xyz, features)
        xyz, features = self.sa2(xyz, features)
        _, features = self.sa3(xyz, features)
        return self.head(features.flatten(1))


@register_model(
    "pointnet2",
    default_kwargs={
        "num_classes": 40, "in_channels": 3, "width": 0.5, "npoint": (128, 32), "radius": (0.2, 0.4),
        "nsample": (16, 16), "dropout": 0.4, "fps_seed": 0,
    },
    input_kind="points",
)
def pointnet2(num_classes: int, in_channels: int, width: float, npoint: Sequence[int], radius: Sequence[float],
              nsample: Sequence[int], dropout: float, fps_seed: int) -> nn.Module:
    """PointNet++ SSG classifier (FPS + ball query in plain torch); 12 prunable layers."""
    return PointNet2SSG(num_classes, in_channels, float(width), tuple(npoint), tuple(radius), tuple(nsample),
                        float(dropout), int(fps_seed))
