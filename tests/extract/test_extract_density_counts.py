"""Every measured density equals an independent count on the same tensors.

The extractor counts with forward pre-hooks during a batched inference pass. Here the same numbers
are recomputed a second way: the network is re-run by hand, layer by layer (plain module calls and
torch functional ops, no hooks), and every tensor is counted by an elementwise comparison in float64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sparse_hw.extract import extract, load_layer_records
from sparse_hw.train.models import create_model
from tests.extract.helpers import (
    LENET_DIGITS,
    lenet_checkpoint,
    magnitude_prune,
    model_checkpoint,
    seeded_batches,
)


def _count(t: torch.Tensor) -> tuple[int, int]:
    """Nonzeros by elementwise comparison in float64 (the extractor itself uses numpy's count_nonzero)."""
    a = t.detach().to(torch.float64)
    return int((a != 0).sum()), int(np.prod(a.shape))


def _add(total: dict, key: str, t: torch.Tensor) -> None:
    nnz, size = _count(t)
    old = total.get(key, (0, 0))
    total[key] = (old[0] + nnz, old[1] + size)


def test_lenet_densities_equal_a_manual_recount(tmp_path: Path) -> None:
    ckpt = lenet_checkpoint(tmp_path / "lenet.pt", sparsity=0.6)
    batches = seeded_batches((1, 8, 8), n=40, batch=16, seed=3)
    result = extract(ckpt, out=tmp_path / "ex", batches=batches, seed=3)
    recs = {r.layer: r for r in result.records}

    model = create_model("lenet5", **LENET_DIGITS)
    model.load_state_dict(torch.load(ckpt, weights_only=True)["state_dict"])
    model.eval()
    counts: dict[str, tuple[int, int]] = {}
    with torch.no_grad():
        for x in batches:
            _add(counts, "conv1.in", x)
            a1 = F.max_pool2d(F.relu(model.conv1(x)), 2, ceil_mode=True)
            _add(counts, "conv2.in", a1)
            a2 = torch.flatten(F.max_pool2d(F.relu(model.conv2(a1)), 2, ceil_mode=True), 1)
            _add(counts, "fc1.in", a2)
            a3 = F.relu(model.fc1(a2))
            _add(counts, "fc2.in", a3)
            a4 = F.relu(model.fc2(a3))
            _add(counts, "fc3.in", a4)
            _add(counts, "fc3.out", model.fc3(a4))
    consumer = {"conv1": "conv2.in", "conv2": "fc1.in", "fc1": "fc2.in", "fc2": "fc3.in", "fc3": "fc3.out"}
    for name, rec in recs.items():
        nnz, size = counts[f"{name}.in"]
        assert (rec.input_nnz, rec.input_numel) == (nnz, size), name
        assert rec.input_density == nnz / size
        onnz, osize = counts[consumer[name]]
        assert (rec.output_nnz, rec.output_numel) == (onnz, osize), name
        assert rec.output_density == onnz / osize
        w_nnz, w_size = _count(getattr(model, name).weight)
        assert (rec.weight_nnz, rec.params) == (w_nnz, w_size)
        assert rec.weight_density == w_nnz / w_size
        assert rec.calib_samples == 40 and rec.calib_batches == 3 and rec.calib_seed == 3
    # the written files carry the same full-precision numbers
    assert load_layer_records(result.out) == list(result.records)


def test_resnet_block_densities_equal_a_manual_recount(tmp_path: Path) -> None:
    """Residual adds and downsample shortcuts: the output density is the next block's input density."""
    kwargs = {"num_classes": 10, "in_channels": 3, "stem": "small", "width": 0.125}
    torch.manual_seed(1)
    model = magnitude_prune(create_model("resnet18", **kwargs), 0.5).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics so that ReLU zeros vary by layer
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    ckpt = model_checkpoint(tmp_path / "r.pt", model, "resnet18", kwargs, input_shape=[3, 16, 16])
    batches = seeded_batches((3, 16, 16), n=24, batch=8, seed=5)
    result = extract(ckpt, out=tmp_path / "ex", batches=batches, seed=5)
    recs = {r.layer: r for r in result.records}

    counts: dict[str, tuple[int, int]] = {}
    with torch.no_grad():
        for x in batches:
            _add(counts, "conv1.in", x)
            h = F.relu(model.bn1(model.conv1(x)))
            for stage in ("layer1", "layer2", "layer3", "layer4"):
                for i in range(2):
                    block = getattr(model, stage)[i]
                    p = f"{stage}.{i}"
                    _add(counts, f"{p}.conv1.in", h)
                    if block.downsample is not None:
                        _add(counts, f"{p}.downsample.0.in", h)
                    mid = F.relu(block.bn1(block.conv1(h)))
                    _add(counts, f"{p}.conv2.in", mid)
                    identity = h if block.downsample is None else block.downsample(h)
                    h = F.relu(block.bn2(block.conv2(mid)) + identity)
            pooled = torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)
            _add(counts, "fc.in", pooled)
            _add(counts, "fc.out", model.fc(pooled))
    assert len(recs) == 21
    for name, rec in recs.items():
        assert (rec.input_nnz, rec.input_numel) == counts[f"{name}.in"], name
        key = "fc.out" if name == "fc" else f"{rec.output_consumer}.in"
        assert (rec.output_nnz, rec.output_numel) == counts[key], name
        assert rec.output_density == counts[key][0] / counts[key][1]
    # the consumer of a block's last conv is the next block's first layer (after bn, add, relu)
    assert recs["layer1.0.conv2"].output_consumer == "layer1.1.conv1"
    assert recs["layer1.1.conv2"].output_consumer in ("layer2.0.conv1", "layer2.0.downsample.0")
    assert "add" in recs["layer1.0.conv2"].output_density_source
    assert recs["layer4.1.conv2"].output_consumer == "fc"
    # ReLU sparsity is real: inputs after a ReLU are measurably below 1, the raw image is dense
    assert recs["conv1"].input_density == 1.0
    assert 0.05 < recs["layer2.0.conv2"].input_density < 0.95


def test_pointnet_densities_equal_captured_tensors_counted_again(tmp_path: Path) -> None:
    """PointNet++ grouping (gather, cat): capture the tensors a second way (a second forward) and count them."""
    kwargs = {"num_classes": 5, "in_channels": 3, "width": 0.125, "npoint": (16, 8), "radius": (0.3, 0.6),
              "nsample": (8, 8), "dropout": 0.0, "fps_seed": 0}  # fmt: skip
    torch.manual_seed(2)
    model = magnitude_prune(create_model("pointnet2", **kwargs), 0.5).eval()
    ckpt = model_checkpoint(tmp_path / "p.pt", model, "pointnet2", kwargs, input_kind="points")
    batches = seeded_batches((3, 64), n=6, batch=3, seed=2)
    result = extract(ckpt, out=tmp_path / "ex", batches=batches, seed=2)

    captured: dict[str, list[torch.Tensor]] = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
            handles.append(
                m.register_forward_hook(
                    lambda mod, args, out, name=name: captured.setdefault(name, []).append(args[0].clone())
                )
            )
    outputs = []
    with torch.no_grad():
        for x in batches:
            outputs.append(model(x))
    for h in handles:
        h.remove()
    totals = {n: tuple(map(sum, zip(*(_count(t) for t in ts), strict=True))) for n, ts in captured.items()}
    assert len(result.records) == 12
    for rec in result.records:
        assert (rec.input_nnz, rec.input_numel) == totals[rec.layer]
        if rec.output_consumer:
            assert (rec.output_nnz, rec.output_numel) == totals[rec.output_consumer]
        else:
            assert rec.layer == "head.8"
            assert (rec.output_nnz, rec.output_numel) == tuple(
                map(sum, zip(*(_count(o) for o in outputs), strict=True))
            )
