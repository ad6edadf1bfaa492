"""Datasets: built-in ones are seeded and sized right; folder datasets validate their layout."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from sparse_hw.errors import DataError
from sparse_hw.train.data import adapt_model_kwargs, calibration_batches, load_dataset

SMALL_SHAPES = {"n_points": 64, "per_class_train": 3, "per_class_test": 2}


def test_synthetic_shapes_is_seeded_and_has_at_least_ten_classes():
    a = load_dataset("synthetic-shapes", seed=3, **SMALL_SHAPES)
    b = load_dataset("synthetic-shapes", seed=3, **SMALL_SHAPES)
    c = load_dataset("synthetic-shapes", seed=4, **SMALL_SHAPES)
    assert a.num_classes >= 10 and len(a.class_names) == a.num_classes
    assert {"sphere", "cube", "cylinder", "cone", "torus"} <= set(a.class_names)
    assert a.input_shape == (3, 64) and a.input_kind == "points"
    assert len(a.train) == 3 * a.num_classes and len(a.test) == 2 * a.num_classes
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.targets, b.test.targets)
    assert not torch.equal(a.train.x, c.train.x)
    assert sorted(torch.bincount(a.train.targets).tolist()) == [3] * a.num_classes


def test_synthetic_clouds_are_normalized_and_noisy():
    bundle = load_dataset("synthetic-shapes", seed=0, **SMALL_SHAPES, noise=0.0, scale_low=1.0, scale_high=1.0)
    radius = bundle.train.x.norm(dim=1).amax(dim=1)
    assert torch.allclose(radius, torch.ones_like(radius), atol=1e-5)
    centroid = bundle.train.x.mean(dim=2)
    assert centroid.abs().max() < 1e-5


def test_synthetic_option_errors():
    with pytest.raises(DataError, match="no option"):
        load_dataset("synthetic-shapes", seed=0, n_pionts=5)
    with pytest.raises(DataError, match="rotation"):
        load_dataset("synthetic-shapes", seed=0, rotation="x")


def test_digits_split_is_stratified_and_seeded():
    a = load_dataset("digits", seed=0)
    b = load_dataset("digits", seed=1)
    assert a.input_shape == (1, 8, 8) and a.num_classes == 10
    assert len(a.train) + len(a.test) == 1797
    assert not torch.equal(a.test.targets, b.test.targets)
    assert a.train.x.min() >= -1 and a.train.x.max() <= 1
    counts = torch.bincount(a.test.targets)
    assert counts.min() >= 40


def test_calibration_batches_are_a_deterministic_test_subset():
    bundle = load_dataset("digits", seed=0)
    first = list(calibration_batches(bundle, n_samples=10, batch_size=4, seed=5))
    again = list(calibration_batches(bundle, n_samples=10, batch_size=4, seed=5))
    other = list(calibration_batches(bundle, n_samples=10, batch_size=4, seed=6))
    assert [len(b) for b in first] == [4, 4, 2]
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    assert not torch.equal(first[0], other[0])
    rows = {tuple(r.flatten().tolist()) for r in bundle.test.x}
    assert all(tuple(r.flatten().tolist()) in rows for r in torch.cat(first))


def test_calibration_falls_back_to_train_when_test_is_tiny():
    bundle = load_dataset("synthetic-shapes", seed=0, **SMALL_SHAPES)
    got = torch.cat(list(calibration_batches(bundle, n_samples=30, batch_size=8, seed=0)))
    assert len(got) == 30 and len(bundle.test) < 30


@pytest.mark.parametrize("spec, match", [
    ("mnist", "unknown dataset"),
    ("digitz", "did you mean 'digits'"),
    ("cifar10", "needs a folder"),
    ("digits:/tmp", "takes no path"),
])
def test_bad_specs(spec, match):
    with pytest.raises(DataError, match=match):
        load_dataset(spec, seed=0)


@pytest.mark.parametrize("kind", ["modelnet", "cifar10", "imagefolder"])
def test_missing_folders_name_the_path(kind, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        load_dataset(f"{kind}:{missing}", seed=0)
    assert str(missing) in err.value.render()


def test_adapt_model_kwargs():
    digits = load_dataset("digits", seed=0)
    assert adapt_model_kwargs("lenet5", digits) == {"num_classes": 10, "in_channels": 1, "image_size": 8}
    assert adapt_model_kwargs("resnet18", digits) == {"num_classes": 10, "in_channels": 1, "stem": "small"}
    assert adapt_model_kwargs("mobilenetv2", digits)["small_input"] is True
    with pytest.raises(DataError, match="points"):
        adapt_model_kwargs("pointnet2", digits)


# ---------------------------------------------------------------------------------------- ModelNet
def _write_modelnet(root, classes=("chair", "desk"), per_split=2, points=40):
    root.mkdir()
    rng = np.random.default_rng(0)
    lists = {"train": [], "test": []}
    for c in classes:
        (root / c).mkdir()
        for i in range(2 * per_split):
            sid = f"{c}_{i + 1:04d}"
            data = rng.normal(size=(points, 6)) * 3 + 5
            (root / c / f"{sid}.txt").write_text("\n".join(",".join(f"{v:.6f}" for v in row) for row in data))
            lists["train" if i < per_split else "test"].append(sid)
    for split, ids in lists.items():
        (root / f"modelnet10_{split}.txt").write_text("\n".join(ids) + "\n")
    (root / "modelnet10_shape_names.txt").write_text("\n".join(classes) + "\n")


def test_modelnet_layout_loads_normalized_clouds(tmp_path):
    root = tmp_path / "modelnet40_normal_resampled"
    _write_modelnet(root)
    bundle = load_dataset(f"modelnet:{root}", seed=0, n_points=32, normals=True)
    assert bundle.num_classes == 2 and bundle.class_names == ["chair", "desk"]
    assert bundle.input_shape == (6, 32) and len(bundle.train) == 4
    x, y = bundle.test[0]
    assert x.shape == (6, 32) and int(y) == 0
    assert x[:3].norm(dim=0).max() == pytest.approx(1.0, abs=1e-5)


def test_modelnet_missing_shape_file_is_reported(tmp_path):
    root = tmp_path / "mn"
    _write_modelnet(root)
    (root / "desk" / "desk_0004.txt").unlink()
    with pytest.raises(DataError, match="missing"):
        load_dataset(f"modelnet:{root}", seed=0, n_points=32)


def test_modelnet_without_split_files_says_what_is_expected(tmp_path):
    (tmp_path / "mn").mkdir()
    with pytest.raises(DataError, match="modelnet10_train.txt"):
        load_dataset(f"modelnet:{tmp_path / 'mn'}", seed=0, classes=10)


# ---------------------------------------------------------------------------------------- CIFAR-10
def _write_cifar(root, n=4):
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, n)], b"batch_label": b"x"}
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))


def test_cifar10_batches_load(tmp_path):
    _write_cifar(tmp_path / "cifar-10-batches-py")
    bundle = load_dataset(f"cifar10:{tmp_path}", seed=0)
    assert len(bundle.train) == 20 and len(bundle.test) == 4
    assert bundle.input_shape == (3, 32, 32) and bundle.class_names[0] == "airplane"
    assert bundle.train[0][0].shape == (3, 32, 32)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar10_refuses_arbitrary_pickles(tmp_path):
    root = tmp_path / "c"
    _write_cifar(root)
    (root / "test_batch").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}))
    with pytest.raises(DataError, match="builtins.print is not allowed"):
        load_dataset(f"cifar10:{root}", seed=0)


# ---------------------------------------------------------------------------------------- image folder
def test_imagefolder_split_and_resize(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cats", "dogs"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(5):
            arr = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / "imgs" / c / f"{i}.png")
    bundle = load_dataset(f"imagefolder:{tmp_path / 'imgs'}", seed=0, image_size=16, test_fraction=0.4)
    assert bundle.class_names == ["cats", "dogs"] and bundle.input_shape == (3, 16, 16)
    assert len(bundle.train) == 6 and len(bundle.test) == 4
    x, _ = bundle.train[0]
    assert x.shape == (3, 16, 16) and -1 <= float(x.min()) and float(x.max()) <= 1


def test_imagefolder_without_class_folders_is_an_error(tmp_path):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(b"")
    with pytest.raises(DataError, match="fewer than 2 class folders"):
        load_dataset(f"imagefolder:{tmp_path / 'flat'}", seed=0)
