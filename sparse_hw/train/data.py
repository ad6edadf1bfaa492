"""Datasets by name, and the calibration batches the extractor measures activations on.

``load_dataset(spec, seed=...)`` accepts:

* ``synthetic-shapes`` — procedurally generated, seeded point clouds of 12 kinds of solids
  (options ``n_points``, ``per_class_train``, ``per_class_test``, ``noise``, ``rotation``, ``classes``);
* ``digits`` — scikit-learn's bundled 8x8 handwritten digits, split with a seeded stratified split
  (option ``test_fraction``);
* ``modelnet:PATH`` — ModelNet10/40 ``modelnet40_normal_resampled`` layout (``classes``, ``n_points``, ``normals``);
* ``cifar10:PATH`` — the CIFAR-10 python batches (unpickled with an array-only allow-list);
* ``imagefolder:PATH`` — one sub-folder of images per class (``image_size``, ``grayscale``, ``test_fraction``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError
from . import _readers, _shapes
from ._readers import ArrayDataset

DATASET_KINDS = ("synthetic-shapes", "digits", "modelnet", "cifar10", "imagefolder")

# Options each dataset kind accepts, with defaults; anything else is a DataError.
DATASET_OPTIONS: dict[str, dict[str, Any]] = {
    "synthetic-shapes": {"n_points": 1024, "per_class_train": 100, "per_class_test": 40, "noise": 0.01,
                         "rotation": "z", "scale_low": 0.8, "scale_high": 1.25, "classes": 12},
    "digits": {"test_fraction": 0.25},
    "modelnet": {"classes": None, "n_points": 1024, "normals": False},
    "cifar10": {},
    "imagefolder": {"image_size": 32, "grayscale": False, "test_fraction": 0.2},
}


@dataclass(frozen=True)
class DatasetBundle:
    """A dataset ready for training: both splits plus what a model needs to know to fit it."""

    name: str
    train: Dataset
    test: Dataset
    num_classes: int
    input_shape: tuple[int, ...]
    input_kind: str
    class_names: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0


def parse_spec(spec: str) -> tuple[str, Path | None]:
    """Split ``kind[:PATH]`` and check the kind; file-backed kinds need a PATH."""
    kind, sep, rest = spec.partition(":")
    if kind not in DATASET_KINDS:
        close = difflib.get_close_matches(kind, DATASET_KINDS, n=1)
        raise DataError(
            f"unknown dataset {spec!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
            key_path="data",
            fix="use synthetic-shapes, digits, modelnet:PATH, cifar10:PATH or imagefolder:PATH",
        )
    needs_path = kind in ("modelnet", "cifar10", "imagefolder")
    if needs_path and not rest:
        raise DataError(f"dataset {kind!r} needs a folder: {kind}:PATH", key_path="data",
                        fix=f"write e.g. {kind}:/data/{kind}")
    if not needs_path and sep:
        raise DataError(f"dataset {kind!r} is built in and takes no path", key_path="data", fix=f"write just {kind}")
    return kind, (Path(rest).expanduser() if needs_path else None)


def resolve_options(kind: str, opts: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults of ``kind`` updated with ``opts``; unknown options raise ``DataError``."""
    allowed = DATASET_OPTIONS[kind]
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise DataError(f"dataset {kind!r} has no option(s) {', '.join(unknown)}", key_path="data_options",
                        fix=f"use only: {', '.join(sorted(allowed)) or '(no options)'}")
    return {**allowed, **dict(opts)}


def load_dataset(spec: str, *, seed: int, **opts: Any) -> DatasetBundle:
    """Load (or generate) the dataset named by ``spec``; every random choice follows ``seed``.

    Raises:
        DataError: unknown name or option, or a missing/malformed folder (naming the path and what
            was expected).
    """
    kind, path = parse_spec(spec)
    o = resolve_options(kind, opts)
    if kind == "synthetic-shapes":
        return _synthetic_shapes(spec, seed, o)
    if kind == "digits":
        return _digits(spec, seed, o)
    if kind == "modelnet":
        train, test, names = _readers.modelnet(path, classes=o["classes"], n_points=int(o["n_points"]),
                                               normals=bool(o["normals"]))
        shape = (6 if o["normals"] else 3, int(o["n_points"]))
        return DatasetBundle(spec, train, test, len(names), shape, "points", names, o, seed)
    if kind == "cifar10":
        train, test, names = _readers.cifar10(path)
        return DatasetBundle(spec, train, test, len(names), (3, 32, 32), "image", names, o, seed)
    train, test, names = _readers.imagefolder(path, image_size=int(o["image_size"]), grayscale=bool(o["grayscale"]),
                                              test_fraction=float(o["test_fraction"]), seed=seed)
    shape = (1 if o["grayscale"] else 3, int(o["image_size"]), int(o["image_size"]))
    return DatasetBundle(spec, train, test, len(names), shape, "image", names, o, seed)


def _synthetic_shapes(spec: str, seed: int, o: dict[str, Any]) -> DatasetBundle:
    names = list(_shapes.SHAPES)
    n_classes = int(o["classes"])
    if not 2 <= n_classes <= len(names):
        raise DataError(f"synthetic-shapes has 2..{len(names)} classes, not {n_classes}", key_path="data_options.classes",
                        fix=f"choose classes between 2 and {len(names)}")
    if o["rotation"] not in ("none", "z", "so3"):
        raise DataError(f"rotation must be none, z or so3, not {o['rotation']!r}", key_path="data_options.rotation",
                        fix="use rotation: z (about the up axis) or so3 (any orientation)")
    if int(o["n_points"]) < 16:
        raise DataError("synthetic-shapes needs n_points >= 16", key_path="data_options.n_points", fix="use e.g. 1024")
    names = names[:n_classes]
    scale = (float(o["scale_low"]), float(o["scale_high"]))
    common = dict(noise=float(o["noise"]), rotation=o["rotation"], scale=scale)
    splits = []
    for split, per_class in (("train", o["per_class_train"]), ("test", o["per_class_test"])):
        x, y = _shapes.make_split(seed, split, int(per_class), int(o["n_points"]), names, **common)
        splits.append(ArrayDataset(torch.from_numpy(x), torch.from_numpy(y)))
    return DatasetBundle(spec, splits[0], splits[1], n_classes, (3, int(o["n_points"])), "points", names, o, seed)


def _digits(spec: str, seed: int, o: dict[str, Any]) -> DatasetBundle:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    frac = float(o["test_fraction"])
    if not 0.0 < frac < 1.0:
        raise DataError(f"test_fraction must be in (0, 1), not {frac}", key_path="data_options.test_fraction",
                        fix="use e.g. 0.25")
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0 - 0.5) / 0.5
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=frac, random_state=seed, stratify=y)
    train = ArrayDataset(torch.from_numpy(x_tr).unsqueeze(1), torch.from_numpy(y_tr))
    test = ArrayDataset(torch.from_numpy(x_te).unsqueeze(1), torch.from_numpy(y_te))
    return DatasetBundle(spec, train, test, 10, (1, 8, 8), "image", [str(d) for d in range(10)], o, seed)


def calibration_batches(bundle: DatasetBundle, *, n_samples: int, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Inputs only, ``n_samples`` of them in batches of ``batch_size``: a seeded subset of the test split.

    The training split is used instead when the test split has fewer than ``n_samples`` samples
    (and the training split has more); if neither has enough, all samples of the larger split are used.
    """
    if n_samples < 1 or batch_size < 1:
        raise DataError(f"calibration needs n_samples >= 1 and batch_size >= 1 (got {n_samples}, {batch_size})",
                        key_path="calib_samples", fix="use a positive number of samples")
    source = bundle.test
    if len(source) < n_samples and len(bundle.train) > len(source):
        source = bundle.train
    order = np.random.default_rng([seed, 7]).permutation(len(source))[:n_samples]
    for start in range(0, len(order), batch_size):
        yield torch.stack([source[int(i)][0] for i in order[start:start + batch_size]])


def adapt_model_kwargs(model_name: str, bundle: DatasetBundle) -> dict[str, Any]:
    """Model arguments that make ``model_name`` fit ``bundle``: classes, input channels, image size/stem.

    Only keys the model takes are returned; the caller's explicit ``model_kwargs`` win over these.
    """
    from .models import model_entry

    entry = model_entry(model_name)
    if entry.input_kind != bundle.input_kind:
        raise DataError(
            f"model {model_name!r} takes {entry.input_kind} inputs but dataset {bundle.name!r} holds {bundle.input_kind}",
            key_path="data",
            fix="pair pointnet2 with synthetic-shapes/modelnet and image models with digits/cifar10/imagefolder",
        )
    out: dict[str, Any] = {"num_classes": bundle.num_classes, "in_channels": bundle.input_shape[0]}
    if bundle.input_kind == "image":
        side = min(bundle.input_shape[1:])
        out["image_size"] = side
        out["stem"] = "small" if side <= 64 else "imagenet"
        out["small_input"] = side <= 64
    return {k: v for k, v in out.items() if k in entry.default_kwargs}
