"""Extract from a model in memory: any ``nn.Module`` and a DataLoader, an iterable of tensors or a dataset spec.

The model goes through the same code as a checkpoint file (``extract.api.extract`` on a
``RawCheckpoint`` built here), so a user model and the state dict it saves give the same layer table.
The caller's module is never changed: a copy is calibrated (extraction switches it to eval mode and,
for images, to channels-last memory format).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import DataError
from .api import CalibrationInfo, ExtractResult, _write
from .api import extract as extract_checkpoint
from .loader import LoadedModel, RawCheckpoint, tensors_sha256
from .record import LayerRecord, layer_table

IN_MEMORY_SOURCE = "in-memory module"


def raw_from_module(model: nn.Module, *, path: str | Path | None = None, file_sha256: str | None = None,
                    notes: Sequence[str] = ()) -> RawCheckpoint:
    """A ``RawCheckpoint`` holding ``model`` itself; its id is the sha256 of its tensors, as for a file of them."""
    state = {k: v for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}
    weights = tensors_sha256(state)
    name = Path(path) if path is not None else Path(f"{type(model).__name__}.in-memory")
    return RawCheckpoint(name, file_sha256 or weights, weights, None, None, module=model, notes=tuple(notes))


def _first_tensor(item: Any) -> torch.Tensor:
    """The input of a batch: the tensor itself, or the first tensor of an ``(inputs, labels)`` pair or dict."""
    if isinstance(item, torch.Tensor):
        return item
    values = item.values() if isinstance(item, dict) else item if isinstance(item, (list, tuple)) else ()
    for v in values:
        if isinstance(v, torch.Tensor):
            return v
    raise DataError(f"a calibration batch is a {type(item).__name__}, not a tensor or a tuple holding one",
                    key_path="data", fix="yield input tensors [B, ...] or (inputs, labels) pairs")


def _limited(batches: Iterable[Any], n_samples: int) -> Iterator[torch.Tensor]:
    """At most ``n_samples`` samples of ``batches`` (the last batch is cut)."""
    done = 0
    for item in batches:
        x = _first_tensor(item)
        if done >= n_samples:
            return
        x = x[: n_samples - done]
        done += int(x.shape[0])
        yield x


def calibration_inputs(data: Any, *, calib_samples: int, batch_size: int) -> tuple[str | None, Iterable | None]:
    """``(dataset spec, None)`` for a spec, else ``(None, batches)`` for tensors, loaders and datasets."""
    if isinstance(data, str):
        return data, None
    if isinstance(data, torch.Tensor):
        if data.dim() < 2:
            raise DataError(f"a calibration tensor needs a batch axis, got shape {list(data.shape)}", key_path="data",
                            fix="pass a tensor [B, ...]")
        return None, _limited(data[:calib_samples].split(batch_size), calib_samples)
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.utils.data.IterableDataset):
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
        return None, _limited(loader, calib_samples)
    if isinstance(data, Iterable):
        return None, _limited(data, calib_samples)
    raise DataError(f"calibration data of type {type(data).__name__} is not understood", key_path="data",
                    fix="pass a DataLoader, an iterable of tensors [B, ...], a tensor or a dataset spec "
                        "such as 'digits'")


@dataclass
class LayerRecords(Sequence[LayerRecord]):
    """The layer records of one model: a sequence of ``LayerRecord`` with its table and where it came from."""

    records: tuple[LayerRecord, ...]
    result: ExtractResult
    notes: tuple[str, ...] = ()
    _source: dict[str, Any] = field(default_factory=dict, repr=False)
    """What writing the folder later needs (model, raw checkpoint, calibration, settings)."""

    def __getitem__(self, i):  # type: ignore[override]
        return self.records[i]

    def __len__(self) -> int:
        return len(self.records)

    def __getattr__(self, name: str) -> Any:  # the ExtractResult's paths and figures (out, layers_csv...)
        if name.startswith("_") or name in ("records", "result", "notes"):
            raise AttributeError(name)
        return getattr(self.result, name)

    @property
    def model(self) -> str:
        return self.result.model

    @property
    def checkpoint_id(self) -> str:
        return self.result.checkpoint_id

    def to_pandas(self):
        """The layer table: the rows and columns of ``layers.csv``, layers without a Timeloop form included
        (``modeled`` False, with the ``reason``)."""
        return layer_table(self.records, self.result.unmodeled)

    def write(self, out: str | Path, *, force: bool = False) -> Path:
        """Write the extract folder (atomically), as ``sparse-hw extract --out`` does; returns it."""
        if self.result.out is not None and Path(self.result.out).is_dir():
            if Path(out).resolve() == Path(self.result.out).resolve():
                return Path(out)
        if not self._source:
            raise DataError("these records hold no model to write a folder from", key_path="out",
                            fix="extract again with out=FOLDER")
        s = self._source
        _write(out, list(self.records), s["loaded"], s["raw"], s["calibration"], dialect=s["dialect"], pad=s["pad"],
               notes=list(self.notes), settings=s["settings"], force=force, unmodeled=self.result.unmodeled)
        return Path(out)


def extract_model(model: nn.Module, data: Any, *, calib_samples: int = 256, seed: int = 0, batch_size: int = 64,
                  dialect: str = "v0.4", pad: bool = False, out: str | Path | None = None, force: bool = False,
                  channels_last: bool | None = None, raw: RawCheckpoint | None = None,
                  progress: Any = None) -> LayerRecords:
    """Measure every layer and product of ``model`` on ``data``; write ``out`` too when given.

    Args:
        model: any ``nn.Module`` (left unchanged: a copy is calibrated).
        data: a DataLoader (inputs first in each batch), an iterable of tensors ``[B, ...]``, a tensor, a
            map-style Dataset, or a dataset spec (``digits``, ``cifar10:PATH``...).
        raw: the checkpoint the module was loaded from (``--model-factory``), for provenance.
    """
    if not isinstance(model, nn.Module):
        raise DataError(f"expected an nn.Module, got {type(model).__name__}", key_path="model",
                        fix="pass the model object, or a checkpoint path")
    copy_ = copy.deepcopy(model).cpu().eval()
    raw = raw_from_module(copy_) if raw is None else dataclasses.replace(raw, module=copy_)
    spec, batches = calibration_inputs(data, calib_samples=calib_samples, batch_size=batch_size)
    result = extract_checkpoint(raw, data=spec, batches=batches, calib_samples=calib_samples, seed=seed,
                                dialect=dialect, pad=pad, batch_size=batch_size, out=out, force=force,
                                channels_last=channels_last, progress=progress)
    source: dict[str, Any] = {}
    if out is None:
        loaded = LoadedModel(copy_, result.model, {}, raw, {})
        records = result.records
        samples = records[0].calib_samples if records else 0
        calibration = CalibrationInfo(
            data=spec or "caller batches", dataset_seed=seed if spec else None, seed=seed,
            samples_requested=calib_samples, samples=samples,
            batches=records[0].calib_batches if records else 0, batch_size=batch_size,
            # extract's default: channels-last for 4-D (image) inputs, which reach 2-D convolutions
            channels_last=bool(channels_last) if channels_last is not None
            else any(r.module_type == "Conv2d" for r in records))
        source = {"loaded": loaded, "raw": raw, "calibration": calibration, "dialect": dialect, "pad": pad,
                  "settings": {"calib_samples": calib_samples, "batch_size": batch_size, "dialect": dialect,
                               "pad": pad, "data": spec or "caller batches", "in_memory": True}}
    # build() calls any module a pickle; this one was handed over in memory or built by a factory
    notes = tuple(n for n in result.notes if not n.startswith("pickled module without --model"))
    return LayerRecords(tuple(result.records), result, notes, source)


def load_factory(spec: str) -> Any:
    """The callable named by ``pkg.module:fn`` (imported only now, when the user names it).

    Raises:
        ConfigError: malformed spec, module not importable, or no such callable.
    """
    import importlib

    from ..errors import ConfigError

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--model-factory expects pkg.module:function, got {spec!r}", key_path="model_factory",
                          fix="write e.g. --model-factory mypkg.models:build_net")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}", key_path="model_factory",
                          fix="put the module on PYTHONPATH (or run from its folder)") from None
    fn = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise ConfigError(f"{module_name!r} has no attribute {attr!r}", key_path="model_factory",
                              fix="name a function that returns the nn.Module")
    if not callable(fn):
        raise ConfigError(f"{spec} is not callable", key_path="model_factory", fix="name a function or class")
    return fn


def model_from_factory(spec: str, ckpt: str | Path, *,
                       kwargs: dict[str, Any] | None = None) -> tuple[nn.Module, RawCheckpoint]:
    """Build ``spec``'s module and load the checkpoint's state dict into it (``weights_only=True``).

    Raises:
        ConfigError / CheckpointError: the factory fails, returns no module, or the weights do not fit.
    """
    from ..errors import CheckpointError, ConfigError
    from ..io import sha256_file
    from .loader import read_checkpoint

    raw = read_checkpoint(ckpt, trust=False)  # weights_only: a state dict, never a pickle
    if raw.state_dict is None:
        raise CheckpointError("the checkpoint holds no state dict", file=ckpt, fix="save model.state_dict()")
    try:
        model = load_factory(spec)(**dict(kwargs or {}))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{spec} failed: {exc}", key_path="model_factory", fix="check --model-kwargs") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{spec} returned a {type(model).__name__}, not an nn.Module", key_path="model_factory",
                          fix="return the model object")
    try:
        model.load_state_dict(raw.state_dict, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"the weights do not fit {spec}: {exc}", file=ckpt,
                              fix="use the factory the checkpoint was saved from") from None
    model = model.cpu().eval()
    notes = (*raw.notes, f"model built by {spec}, state dict loaded weights_only")
    return model, raw_from_module(model, path=raw.path, file_sha256=sha256_file(raw.path), notes=notes)


__all__ = ["LayerRecords", "calibration_inputs", "extract_model", "load_factory", "model_from_factory",
           "raw_from_module"]
