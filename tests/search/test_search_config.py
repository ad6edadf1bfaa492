"""Bad search configs: one clear error and exit 2, before anything trains or is written."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sparse_hw.cli import app
from tests.search._tiny import tiny_config, write_config

runner = CliRunner()


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"space": {"layers": {"conv9*": [0.0, 0.5]}, "methods": ["l1"]}}, "layer glob 'conv9*' matches no"),
        ({"space": {"layers": {"conv*": [0.0, 1.0]}, "methods": ["l1"]}}, "sparsity outside [0, 1)"),
        ({"baselines": {"uniform": [1.2]}}, "sparsity outside [0, 1)"),
        ({"space": {"layers": {}, "methods": ["l1"]}}, "empty search space"),
        ({"space": {"layers": {"*": [0.0, 0.0]}, "methods": ["l1"]}}, "empty search space"),
        ({"space": {"layers": {"*": [0.0, 0.5]}, "methods": []}}, "empty search space"),
        ({"space": {"layers": {"*": [0.0, 0.5]}, "methods": ["l2"]}}, "unknown method 'l2'"),
        ({"space": {"layers": {"*": [0.0, 0.5]}, "tilt": [0.5, 0.1]}}, "tilt is [low, high]"),
        ({"space": {"layers": {"*": [0.0, 0.5]}, "tilt": [-1.0, 0.5]}}, "tilt is [low, high]"),
        ({"storage": "postgresql://nobody@127.0.0.1:1/nothing"}, "the storage is unreachable"),
        ({"archs": ["eyeriss_v9"]}, "eyeriss_v9"),
        ({"trials": [{"sparsity.conv1": 0.5}]}, "parameters missing"),
        ({"model": "pointnet2", "data": "synthetic-shapes", "data_options": {"rotation": "xyz"},
          "space": {"layers": {"*": [0.0, 0.5]}}}, "rotation must be none, z or so3"),
    ],
)
def test_bad_config_exits_2_before_training(tmp_path, change, needle):
    cfg = write_config(tmp_path / "search.yaml", tiny_config(tmp_path, **change))
    result = runner.invoke(app, ["search", str(cfg)])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert not (tmp_path / "out" / "dense").exists()  # nothing trained


def test_storage_option_overrides_the_config(tmp_path):
    cfg = write_config(tmp_path / "search.yaml", tiny_config(tmp_path))
    result = runner.invoke(app, ["search", str(cfg), "--storage", "mysql://x@127.0.0.1:1/y"])
    assert result.exit_code == 2
    assert "storage" in result.output
    assert not (tmp_path / "out" / "dense").exists()


def test_allocation_keeps_the_global_target():
    from sparse_hw.search.space import MAX_LAYER_SPARSITY, allocate

    numels = {"a": 100, "b": 1000, "c": 10}
    per_layer = allocate(0.95, {"a": 1.0, "b": 4.0, "c": 0.5}, numels)
    assert per_layer["b"] == MAX_LAYER_SPARSITY  # capped, the rest spread over the others
    mean = sum(per_layer[n] * numels[n] for n in numels) / sum(numels.values())
    assert mean == pytest.approx(0.95)
    assert per_layer["a"] > per_layer["c"]


def test_dataset_options_reach_the_dense_training(tmp_path):
    """PointNet++ on shapes in any orientation: the search passes data_options (rotation=so3) through."""
    from sparse_hw.search.config import load_search_config
    from sparse_hw.search.prune import layer_names

    data_options = {"rotation": "so3", "n_points": 64, "per_class_train": 2, "per_class_test": 1}
    cfg = load_search_config(write_config(tmp_path / "search.yaml", tiny_config(
        tmp_path, model="pointnet2", data="synthetic-shapes", data_options=data_options,
        space={"layers": {"sa*": [0.0, 0.9], "head.*": [0.0, 0.95]}})))
    assert cfg.dense_train_config()["data_options"] == data_options
    assert layer_names(cfg)[0] == "sa1.mlp.0" and len(layer_names(cfg)) == 12
