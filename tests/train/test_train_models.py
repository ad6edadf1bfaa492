"""Model registry: every registered model builds, runs and rejects bad names/arguments clearly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparse_hw.errors import ConfigError, SparseHwError
from sparse_hw.train.models import create_model, list_models, model_entry
from sparse_hw.train.models.pointnet2 import ball_query, farthest_point_sample
from sparse_hw.train.sparsity import weight_layers
from tests.train._tiny_models import TINY


def test_registry_lists_the_five_models():
    assert list_models() == ["lenet5", "mobilenetv2", "pointnet2", "resnet18", "vit"]
    assert list_models("res*") == ["resnet18"]
    assert model_entry("pointnet2").input_kind == "points"
    assert model_entry("lenet5").input_kind == "image"


@pytest.mark.parametrize("name", list_models())
def test_every_model_builds_and_runs(name):
    kwargs, shape = TINY[name]
    model = create_model(name, **kwargs).eval()
    out = model(torch.randn(*shape))
    assert out.shape == (shape[0], kwargs.get("num_classes", 10))
    assert torch.isfinite(out).all()


def test_unknown_model_names_the_closest_match():
    with pytest.raises(SparseHwError, match="resnet18"):
        create_model("resnet19")


def test_unknown_model_argument_is_a_config_error_with_a_hint():
    with pytest.raises(ConfigError, match="did you mean 'width'"):
        create_model("resnet18", widht=0.5)


def test_invalid_model_argument_value_is_a_config_error():
    with pytest.raises(ConfigError, match="stem"):
        create_model("resnet18", stem="cifar")


def test_pointnet2_default_config_has_exactly_twelve_prunable_layers():
    layers = weight_layers(create_model("pointnet2"))
    kinds = [type(m) for _, m in layers]
    assert len(layers) == 12
    assert kinds.count(nn.Conv2d) == 9 and kinds.count(nn.Linear) == 3
    assert all(m.kernel_size == (1, 1) for _, m in layers if isinstance(m, nn.Conv2d))


def test_pointnet2_paper_configuration_builds():
    model = create_model("pointnet2", width=1.0, npoint=[512, 128], nsample=[32, 64])
    convs = [m for _, m in weight_layers(model) if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 128, 256, 256, 512, 1024]
    assert convs[3].in_channels == 128 + 3 and convs[6].in_channels == 256 + 3


def test_pointnet2_is_deterministic_across_calls():
    kwargs, shape = TINY["pointnet2"]
    model = create_model("pointnet2", **kwargs).eval()
    x = torch.randn(*shape)
    assert torch.equal(model(x), model(x))


def test_farthest_point_sampling_spreads_points():
    line = torch.arange(10, dtype=torch.float32).view(1, 10, 1).expand(1, 10, 3).contiguous()
    idx = farthest_point_sample(line, 3, torch.tensor([0]))
    assert idx.tolist() == [[0, 9, 4]]  # start, the far end, then the middle (ties to the lowest index)


def test_ball_query_returns_only_points_inside_the_radius():
    gen = torch.Generator().manual_seed(1)
    xyz = torch.rand(2, 200, 3, generator=gen)
    centres = xyz[:, :5]
    idx = ball_query(xyz, centres, 0.2, 8)
    assert idx.shape == (2, 5, 8)
    picked = torch.stack([xyz[b, idx[b]] for b in range(2)])  # [B, S, K, 3]
    dist = (picked - centres.unsqueeze(2)).norm(dim=-1)
    assert (dist <= 0.2 + 1e-6).all()


@pytest.mark.parametrize("size, flat", [(8, 16 * 2 * 2), (28, 16 * 5 * 5), (32, 16 * 6 * 6)])
def test_lenet5_adapts_to_the_image_size(size, flat):
    model = create_model("lenet5", image_size=size)
    assert model.fc1.in_features == flat
    assert model(torch.randn(2, 1, size, size)).shape == (2, 10)


def test_resnet18_stems():
    big = create_model("resnet18", width=0.125)
    small = create_model("resnet18", width=0.125, stem="small")
    assert big.conv1.kernel_size == (7, 7) and big.conv1.stride == (2, 2)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert len(weight_layers(big)) == 21  # 20 convs (incl. 3 projections) + fc
