"""Readers of datasets kept in local folders: ModelNet (resampled, with normals), CIFAR-10, image folders.

Each reader validates the folder layout up front and raises ``DataError`` naming the path and what
was expected, so that a typo fails before any training starts.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError


class ArrayDataset(Dataset):
    """Samples and integer labels held in memory as tensors."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if len(x) != len(y):
            raise ValueError(f"{len(x)} samples but {len(y)} labels")
        self.x, self.targets = x, y.long()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.targets[i]


class LazyDataset(Dataset):
    """Samples read from files on demand by ``load(item)``; labels are known up front."""

    def __init__(self, items: Sequence, labels: Sequence[int], load: Callable[[object], torch.Tensor]) -> None:
        self.items, self.targets, self._load = list(items), torch.as_tensor(list(labels), dtype=torch.long), load

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._load(self.items[i]), self.targets[i]


# ------------------------------------------------------------------------------------------ ModelNet
def normalize_cloud(points: np.ndarray) -> np.ndarray:
    """Centre xyz on the centroid and scale it into the unit sphere (the PointNet++ loader's pc_normalize)."""
    xyz = points[:, :3] - points[:, :3].mean(axis=0)
    radius = np.linalg.norm(xyz, axis=1).max()
    out = points.copy()
    out[:, :3] = xyz / (radius if radius > 0 else 1.0)
    return out


def modelnet(root: Path, *, classes: int | None, n_points: int, normals: bool):
    """ModelNet10/40 in the ``modelnet40_normal_resampled`` layout.

    Expects ``<root>/modelnet{10,40}_{train,test}.txt`` (one shape id per line, e.g. ``chair_0001``)
    and ``<root>/<class>/<shape id>.txt`` with comma-separated ``x,y,z,nx,ny,nz`` lines.
    """
    if not root.is_dir():
        raise DataError(f"ModelNet folder {root} does not exist",
                        fix="pass modelnet:PATH with PATH the modelnet40_normal_resampled folder")
    if classes is None:
        classes = 40 if (root / "modelnet40_train.txt").is_file() else 10
    if classes not in (10, 40):
        raise DataError(f"ModelNet has 10 or 40 classes, not {classes}", key_path="classes", fix="use classes=10 or 40")
    lists = {split: root / f"modelnet{classes}_{split}.txt" for split in ("train", "test")}
    missing = [str(p.name) for p in lists.values() if not p.is_file()]
    if missing:
        raise DataError(
            f"{root} is not a ModelNet{classes} folder: missing {', '.join(missing)}",
            fix=f"point at the modelnet40_normal_resampled folder holding modelnet{classes}_train.txt/_test.txt",
        )
    ids = {s: [line.strip() for line in p.read_text().splitlines() if line.strip()] for s, p in lists.items()}
    names_file = root / f"modelnet{classes}_shape_names.txt"
    if names_file.is_file():
        class_names = [line.strip() for line in names_file.read_text().splitlines() if line.strip()]
    else:
        class_names = sorted({_modelnet_class(i, lists["train"]) for i in ids["train"] + ids["test"]})
    index = {c: k for k, c in enumerate(class_names)}
    splits = {}
    for split, shape_ids in ids.items():
        files, labels = [], []
        for shape_id in shape_ids:
            cls = _modelnet_class(shape_id, lists[split])
            if cls not in index:
                raise DataError(f"{lists[split]}: shape {shape_id!r} has class {cls!r}, not listed in {names_file.name}",
                                fix="use matching shape-name and split files")
            files.append(root / cls / f"{shape_id}.txt")
            labels.append(index[cls])
        absent = [f for f in files if not f.is_file()]
        if absent:
            raise DataError(
                f"{len(absent)} shape files listed in {lists[split]} are missing, e.g. {absent[0]}",
                fix="download the complete modelnet40_normal_resampled archive",
            )
        channels = 6 if normals else 3
        splits[split] = LazyDataset(files, labels, lambda f, c=channels: _read_modelnet_shape(f, n_points, c))
    return splits["train"], splits["test"], class_names


def _modelnet_class(shape_id: str, listing: Path) -> str:
    match = re.fullmatch(r"(.+)_\d+", shape_id)
    if not match:
        raise DataError(f"shape id {shape_id!r} is not '<class>_<number>'",
                        fix="use the original ModelNet split files")
    return match.group(1)


def _read_modelnet_shape(path: Path, n_points: int, channels: int) -> torch.Tensor:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(line)
            if len(rows) == n_points:
                break
    try:
        data = np.array([[float(v) for v in r.replace(",", " ").split()[:6]] for r in rows], dtype=np.float32)
    except ValueError as exc:
        raise DataError(f"{path} has a non-numeric line: {exc}",
                        fix="each line must be x,y,z,nx,ny,nz") from None
    if data.ndim != 2 or data.shape[0] < n_points or data.shape[1] < channels:
        raise DataError(f"{path} holds {data.shape[0]} points of {data.shape[1] if data.ndim == 2 else 0} values; "
                        f"need {n_points} points of {channels}", fix="use the resampled files")
    return torch.from_numpy(normalize_cloud(data[:, :channels]).T.copy())


# ------------------------------------------------------------------------------------------ CIFAR-10
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, lists, dicts, strings and bytes; any other global is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        if module == "_codecs":
            import codecs

            return codecs.encode  # how protocol-2 pickles written by Python 3 spell bytes
        if name == "_reconstruct":
            return np._core.multiarray._reconstruct  # type: ignore[attr-defined]
        if name == "scalar":
            return np._core.multiarray.scalar  # type: ignore[attr-defined]
        return getattr(np, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            batch = _ArrayOnlyUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DataError(f"{path} is not a CIFAR-10 python batch: {exc}",
                        fix="use the 'CIFAR-10 python version' archive (cifar-10-batches-py)") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path} does not hold a dict", fix="use the cifar-10-batches-py files")
    data, labels = batch.get(b"data", batch.get("data")), batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataError(f"{path} lacks 'data' (uint8 array) or 'labels'",
                        fix="use the cifar-10-batches-py files")
    data = np.asarray(data, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{path}: data has shape {data.shape}, expected [n, 3072] with n labels",
                        fix="use the cifar-10-batches-py files")
    return data.reshape(-1, 3, 32, 32), labels


def cifar10(root: Path):
    """CIFAR-10 python batches ``data_batch_1..5`` and ``test_batch`` (also inside ``cifar-10-batches-py/``)."""
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    if not root.is_dir():
        raise DataError(f"CIFAR-10 folder {root} does not exist",
                        fix="pass cifar10:PATH with PATH the extracted cifar-10-batches-py folder")
    wanted = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [w for w in wanted if not (root / w).is_file()]
    if missing:
        raise DataError(f"{root} is not a CIFAR-10 folder: missing {', '.join(missing)}",
                        fix="extract cifar-10-python.tar.gz and point at cifar-10-batches-py")
    parts = [_read_cifar_batch(root / w) for w in wanted]
    train_x = np.concatenate([p[0] for p in parts[:5]])
    train_y = np.concatenate([p[1] for p in parts[:5]])
    return _cifar_dataset(train_x, train_y), _cifar_dataset(*parts[5]), list(CIFAR_CLASSES)


def _cifar_dataset(x: np.ndarray, y: np.ndarray) -> ArrayDataset:
    mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    xt = (torch.from_numpy(x).float() / 255.0 - mean) / std
    return ArrayDataset(xt, torch.from_numpy(y))


# ------------------------------------------------------------------------------------------ image folder
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def _scan_classes(folder: Path) -> dict[str, list[Path]]:
    return {
        d.name: sorted(f for f in d.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")
    }


def imagefolder(root: Path, *, image_size: int, grayscale: bool, test_fraction: float, seed: int):
    """Class sub-folders of images; ``train/`` and ``test/`` (or ``val/``) sub-folders when present,
    otherwise a seeded stratified split."""
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist",
                        fix="pass imagefolder:PATH with one sub-folder of images per class")
    split_dirs = {"train": root / "train", "test": root / "test" if (root / "test").is_dir() else root / "val"}
    if split_dirs["train"].is_dir() and split_dirs["test"].is_dir():
        scans = {s: _scan_classes(d) for s, d in split_dirs.items()}
        class_names = sorted(scans["train"])
        extra = sorted(set(scans["test"]) - set(class_names))
        if extra:
            raise DataError(f"{split_dirs['test']} has classes missing from train/: {', '.join(extra)}",
                            fix="use the same class folders in both splits")
        items = {s: [(f, class_names.index(c)) for c in class_names for f in scans[s].get(c, [])] for s in scans}
    else:
        scan = _scan_classes(root)
        class_names = sorted(scan)
        rng = np.random.default_rng(seed)
        items = {"train": [], "test": []}
        for k, c in enumerate(class_names):
            files = [scan[c][i] for i in rng.permutation(len(scan[c]))]
            n_test = int(round(len(files) * test_fraction)) if len(files) > 1 else 0
            items["test"] += [(f, k) for f in files[:n_test]]
            items["train"] += [(f, k) for f in files[n_test:]]
    empty = [c for c in class_names if not any(lbl == class_names.index(c) for _, lbl in items["train"])]
    if len(class_names) < 2 or empty:
        what = f"classes without training images: {', '.join(empty)}" if empty else "fewer than 2 class folders"
        raise DataError(f"{root} is not an image folder dataset ({what})",
                        fix=f"put images ({', '.join(sorted(IMAGE_SUFFIXES))}) in one sub-folder per class")

    def load(path: Path) -> torch.Tensor:
        return _read_image(path, image_size, grayscale)

    datasets = [LazyDataset([f for f, _ in items[s]], [lbl for _, lbl in items[s]], load) for s in ("train", "test")]
    return datasets[0], datasets[1], class_names


def _read_image(path: Path, image_size: int, grayscale: bool) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("L" if grayscale else "RGB").resize((image_size, image_size), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image {path}: {exc}", fix="remove or replace the file") from None
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return (torch.from_numpy(arr.copy()) - 0.5) / 0.5
