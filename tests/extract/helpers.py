"""Small builders shared by the extractor tests: pruned models, checkpoints, calibration batches."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sparse_hw.train.checkpoint import CheckpointMeta, save_checkpoint
from sparse_hw.train.models import create_model

LENET_DIGITS = {"num_classes": 10, "in_channels": 1, "image_size": 8}


def magnitude_prune(model: nn.Module, sparsity: float) -> nn.Module:
    """Zero the smallest |w| of every conv/linear weight (ties included), in place."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear):
                w = m.weight
                k = max(1, int(sparsity * w.numel()))
                threshold = w.abs().flatten().kthvalue(k).values
                w[w.abs() <= threshold] = 0.0
    return model


def nm_prune(weight: torch.Tensor, n: int, m: int) -> None:
    """Keep the n largest |w| of every m consecutive weights along the flattened input axis, in place."""
    with torch.no_grad():
        rows = weight.reshape(weight.shape[0], -1)
        groups = rows.reshape(-1, m)
        drop = groups.abs().argsort(dim=1)[:, : m - n]
        groups.scatter_(1, drop, 0.0)
        weight.copy_(groups.reshape(weight.shape))


def lenet_checkpoint(path: Path, *, sparsity: float = 0.7, seed: int = 0, **meta_fields) -> Path:
    """A LeNet-5 sized for the 8x8 digits, magnitude-pruned, saved in our checkpoint format."""
    torch.manual_seed(seed)
    model = magnitude_prune(create_model("lenet5", **LENET_DIGITS), sparsity)
    fields = {
        "model_name": "lenet5", "model_kwargs": LENET_DIGITS, "method": ["l1"], "target_sparsity": sparsity,
        "dataset": "digits", "input_shape": [1, 8, 8], "num_classes": 10, "accuracy_after": 0.9, "seed": seed,
        "created": "2026-01-01T00:00:00+00:00",
    } | meta_fields  # fmt: skip
    return save_checkpoint(path, model, CheckpointMeta(**fields))


def model_checkpoint(path: Path, model: nn.Module, name: str, kwargs: dict, **meta_fields) -> Path:
    """Save ``model`` in our format (fixed creation time so that files are reproducible)."""
    fields = {
        "model_name": name,
        "model_kwargs": kwargs,
        "created": "2026-01-01T00:00:00+00:00",
    } | meta_fields
    return save_checkpoint(path, model, CheckpointMeta(**fields))


def seeded_batches(shape: tuple[int, ...], *, n: int, batch: int, seed: int = 0) -> list[torch.Tensor]:
    """``n`` random samples of ``shape`` in batches (ReLU networks on these give activation sparsity)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=gen)
    return list(x.split(batch))


def make_record(**overrides):
    """A LayerRecord with plausible values (ResNet-18 layer3 1x1 downsample), fields overridable."""
    from sparse_hw.extract.record import LayerRecord

    fields = {
        "model": "resnet18", "checkpoint_id": "0123456789ab", "layer": "layer3.0.downsample.0", "order": 12,
        "op": "pointwise", "N": 1, "C": 128, "M": 256, "R": 1, "S": 1, "P": 14, "Q": 14, "G": 1,
        "stride_h": 2, "stride_w": 2, "dilation_h": 1, "dilation_w": 1, "pad_h": 0, "pad_w": 0,
        "weight_density": 0.3, "input_density": 0.5, "output_density": 1.0, "params": 32768,
        "weight_nnz": 9830, "input_nnz": 100, "input_numel": 200, "output_nnz": 50, "output_numel": 50,
        "pattern": "unstructured", "pattern_detail": "random zeros", "density_model": "hypergeometric",
        "weight_density_source": "measured", "input_density_source": "measured",
        "output_density_source": "measured", "output_consumer": "layer3.1.conv1", "calib_samples": 256,
        "calib_batches": 4, "calib_seed": 0, "module_type": "Conv2d", "method": "gmp", "target_sparsity": 0.7,
        "accuracy": 0.91, "input_h": 28, "input_w": 28, "input_window_nnz": 90, "input_window_numel": 180,
    }  # fmt: skip
    fields.update(overrides)
    fields.setdefault("input_density_padded", fields["input_density"])  # no border unless a test says so
    return LayerRecord(**fields)
