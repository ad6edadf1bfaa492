"""Any checkpoint -> a runnable ``nn.Module`` plus what is known about how it was pruned.

Accepted inputs:

* our checkpoints (``sparse-hw train``): the model is rebuilt from the registry and its metadata,
  replaying a structured-pruning history (shape-changed models);
* a plain ``state_dict`` (also wrapped as ``{"state_dict": ...}`` / ``{"model": ...}``, or saved from
  ``nn.DataParallel`` with ``module.`` prefixes) together with ``--model NAME``; the head and input
  channels are sized from the state dict, the rest from the calibration dataset;
* a ``torch.nn.utils.prune`` state dict: ``weight_orig`` and ``weight_mask`` become
  ``weight = weight_orig * weight_mask``;
* a foreign structurally pruned state dict whose shapes differ from the registered model's: each
  conv/linear/batch-norm layer whose shape differs is rebuilt with the checkpoint's shape;
* with ``--trust-checkpoint`` only: a pickled ``nn.Module``.

Files load with ``torch.load(weights_only=True)`` (through :func:`sparse_hw.train.checkpoint.load_checkpoint`)
unless trusted, so an untrusted pickle is refused with the names of its blocked globals.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError, ConfigError, SparseHwError
from ..io import sha256_file

#: The checkpoint id is this many leading hex digits of the sha256 of the checkpoint's tensors.
CHECKPOINT_ID_LENGTH = 12

_REBUILDABLE = (nn.Conv1d, nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d)


@dataclass(frozen=True)
class RawCheckpoint:
    """The file's contents before a model is built."""

    path: Path
    sha256: str
    """Of the file (provenance in manifests)."""
    weights_sha256: str
    """Of the tensors alone (:func:`tensors_sha256`): the same weights give the same id whatever the
    metadata says (a retrained checkpoint with the same seed differs only in its recorded timings)."""
    state_dict: dict[str, torch.Tensor] | None
    meta: Any | None
    """``CheckpointMeta`` of our checkpoints, else None."""
    module: nn.Module | None = None
    """A pickled module (trusted files only)."""
    folded: tuple[str, ...] = ()
    """Weights rebuilt from ``*_orig`` x ``*_mask`` (torch.nn.utils.prune)."""
    notes: tuple[str, ...] = ()

    @property
    def checkpoint_id(self) -> str:
        return self.weights_sha256[:CHECKPOINT_ID_LENGTH]

    @property
    def source(self) -> str:
        if self.meta is not None:
            return "sparse-hw checkpoint"
        if self.module is not None:
            return "pickled nn.Module"
        return "torch.nn.utils.prune state_dict" if self.folded else "state_dict"


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for calibration, with its name, arguments and the shapes before channel pruning."""

    model: nn.Module
    model_name: str
    model_kwargs: dict[str, Any]
    raw: RawCheckpoint
    dense_shapes: dict[str, tuple[int, ...]]
    """Weight shape of every conv/linear layer in the unpruned architecture (empty when unknown)."""
    rebuilt: tuple[str, ...] = ()
    """Layers rebuilt with the checkpoint's (smaller) shapes, as ``name: old -> new``."""
    notes: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------------------------------------- read
def fold_prune_masks(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], tuple[str, ...]]:
    """``X_orig`` and ``X_mask`` -> ``X = X_orig * X_mask`` (torch.nn.utils.prune's reparametrization)."""
    out: dict[str, torch.Tensor] = {}
    folded = []
    for key, value in state.items():
        if key.endswith("_mask") and key[: -len("_mask")] + "_orig" in state:
            continue
        if key.endswith("_orig") and key[: -len("_orig")] + "_mask" in state:
            base = key[: -len("_orig")]
            mask = state[base + "_mask"]
            if mask.shape != value.shape:
                raise CheckpointError(
                    f"{base}_mask has shape {list(mask.shape)} but {base}_orig has {list(value.shape)}",
                    key_path=base + "_mask",
                    fix="save the state_dict of the pruned model unchanged",
                )
            out[base] = torch.where(mask != 0, value, torch.zeros_like(value))
            folded.append(base)
            continue
        out[key] = value
    return out, tuple(folded)


def _strip_prefix(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str | None]:
    for prefix in ("module.", "_orig_mod."):
        if state and all(k.startswith(prefix) for k in state):
            return {k[len(prefix) :]: v for k, v in state.items()}, prefix
    return state, None


def read_checkpoint(path: str | Path, *, trust: bool = False) -> RawCheckpoint:
    """Read a checkpoint file safely (``weights_only=True`` unless ``trust``).

    Raises:
        CheckpointError: missing, corrupt or untrusted file (naming the blocked globals and the flag).
    """
    from ..train.checkpoint import load_checkpoint

    path = Path(path)
    if path.is_dir():
        raise CheckpointError("is a folder, not a checkpoint file", file=path, fix="pass the .pt file itself")
    if trust and path.is_file():
        obj = _trusted_load(path)
        if isinstance(obj, nn.Module):
            from ..train.checkpoint import check_finite

            module = obj.cpu().eval()
            check_finite(module.state_dict(), path)
            return RawCheckpoint(
                path,
                sha256_file(path),
                tensors_sha256(module.state_dict()),
                None,
                None,
                module=module,
                notes=(f"loaded a pickled {type(obj).__name__} (trusted)",),
            )
    state, meta = load_checkpoint(path, trust=trust)
    notes = []
    state, prefix = _strip_prefix(dict(state))
    if prefix:
        notes.append(f"stripped the {prefix!r} prefix of every key")
    state, folded = fold_prune_masks(state)
    if folded:
        notes.append(
            f"folded torch.nn.utils.prune masks into {len(folded)} weights (weight = weight_orig * weight_mask)"
        )
    return RawCheckpoint(path, sha256_file(path), tensors_sha256(state), state, meta, folded=folded,
                         notes=tuple(notes))


def tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order (the weights' identity)."""
    digest = hashlib.sha256()
    for name in sorted(state):
        value = state[name]
        if not isinstance(value, torch.Tensor):
            digest.update(f"{name}={value!r};".encode())
            continue
        tensor = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _trusted_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        zipfile.BadZipFile,
        AttributeError,
        ImportError,
        ModuleNotFoundError,
        KeyError,
        IndexError,
        TypeError,
    ) as exc:
        raise CheckpointError(
            f"checkpoint is corrupt or cannot be unpickled: {exc}",
            file=path,
            fix="re-save the checkpoint (torch.save(model.state_dict(), path))",
        ) from None


# ---------------------------------------------------------------------------------------------- build
def _weight_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    from .layers import extractable_layers

    return {
        n: tuple(m.weight.shape)
        for n, m in extractable_layers(model).items()
        if getattr(m, "weight", None) is not None
    }


def _registered_shapes(name: str, kwargs: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Weight shapes of the unpruned registered model.

    Built on the CPU: the meta device would be cheaper in memory, but its random initializers import
    torch's compiler stack (over a second per process).
    """
    from ..train.models import create_model

    return _weight_shapes(create_model(name, **dict(kwargs)))


def _infer_kwargs(name: str, kwargs: dict[str, Any], state: Mapping[str, torch.Tensor],
                  file: Path | None = None) -> dict[str, Any]:
    """``num_classes`` and ``in_channels`` read off the state dict's last and first layer."""
    from ..train.models import create_model, model_entry
    from .layers import extractable_layers

    entry = model_entry(name)
    _check_size(name, kwargs, state, file)
    skeleton = create_model(name, **kwargs)

    layers = list(extractable_layers(skeleton).items())
    if not layers:
        return kwargs
    out = dict(kwargs)
    first_name, first = layers[0]
    last_name, _ = layers[-1]
    w_first, w_last = state.get(f"{first_name}.weight"), state.get(f"{last_name}.weight")
    if "in_channels" in entry.default_kwargs and w_first is not None and w_first.dim() >= 2:
        out["in_channels"] = int(w_first.shape[1]) * int(getattr(first, "groups", 1))
    if "num_classes" in entry.default_kwargs and w_last is not None:
        out["num_classes"] = int(w_last.shape[0])
    return out


def _check_size(name: str, kwargs: Mapping[str, Any], state: Mapping[str, torch.Tensor],
                file: Path | None = None) -> None:
    """Refuse arguments that make ``name`` far larger than the weights at hand (counted on the meta device)."""
    from ..train.checkpoint import check_model_size, stored_elements

    stored = stored_elements(state)
    check_model_size(name, kwargs, stored_numel=stored, file=file, key_path="model_kwargs",
                     fix="pass the model arguments the checkpoint was trained with (--model-kwargs)")


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, new)


def _rebuild_like(name: str, mod: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module | None:
    """A module of ``mod``'s kind with the shapes the state dict holds, or None when they already fit."""
    w = state.get(f"{name}.weight")
    if isinstance(mod, nn.BatchNorm1d | nn.BatchNorm2d):
        ref = state.get(f"{name}.running_mean", w)
        if ref is None or int(ref.shape[0]) == mod.num_features:
            return None
        cls = nn.BatchNorm2d if isinstance(mod, nn.BatchNorm2d) else nn.BatchNorm1d
        return cls(
            int(ref.shape[0]),
            eps=mod.eps,
            momentum=mod.momentum,
            affine=mod.affine,
            track_running_stats=mod.track_running_stats,
        )
    if w is None or tuple(w.shape) == tuple(mod.weight.shape):
        return None
    bias = f"{name}.bias" in state
    if isinstance(mod, nn.Linear):
        return nn.Linear(int(w.shape[1]), int(w.shape[0]), bias=bias)
    if tuple(w.shape[2:]) != tuple(mod.weight.shape[2:]):
        raise CheckpointError(
            f"layer {name!r} has kernel {list(w.shape[2:])} in the checkpoint but {list(mod.weight.shape[2:])} "
            "in the registered model",
            key_path=f"{name}.weight",
            fix='pass the model arguments the checkpoint was trained with (--model-kwargs, e.g. \'{"stem": "small"}\')',
        )
    out_ch = int(w.shape[0])
    if mod.groups == 1:
        groups, in_ch = 1, int(w.shape[1])
    elif mod.groups == mod.in_channels:  # depthwise: one input channel per group, keep the multiplier
        multiplier = mod.out_channels // mod.groups
        groups = in_ch = out_ch // multiplier
    else:
        groups, in_ch = mod.groups, int(w.shape[1]) * mod.groups
    cls = nn.Conv2d if isinstance(mod, nn.Conv2d) else nn.Conv1d
    return cls(
        in_ch,
        out_ch,
        mod.kernel_size,
        stride=mod.stride,
        padding=mod.padding,
        dilation=mod.dilation,
        groups=groups,
        bias=bias,
        padding_mode=mod.padding_mode,
    )


def fit_to_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> tuple[str, ...]:
    """Rebuild every conv/linear/batch-norm layer whose shape differs from the state dict's."""
    changed = []
    for name, mod in list(model.named_modules()):
        if not name or not isinstance(mod, _REBUILDABLE):
            continue
        new = _rebuild_like(name, mod, state)
        if new is None:
            continue
        old = tuple(getattr(mod, "weight", torch.empty(getattr(mod, "num_features", 0))).shape)
        _set_module(model, name, new)
        changed.append(f"{name}: {list(old)} -> {list(getattr(new, 'weight', torch.empty(0)).shape)}")
    return tuple(changed)


def _load_weights(model: nn.Module, state: Mapping[str, torch.Tensor], raw: RawCheckpoint, name: str) -> None:
    from ..train.checkpoint import check_parameter_dtypes

    check_parameter_dtypes(model, state, raw.path)
    result = model.load_state_dict(dict(state), strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    unexpected = list(result.unexpected_keys)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} (e.g. {', '.join(missing[:4])})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} (e.g. {', '.join(unexpected[:4])})")
        raise CheckpointError(
            f"the state_dict does not fit model {name!r}: {'; '.join(parts)} keys",
            file=raw.path,
            key_path="state_dict",
            fix=f"check --model (it must be the architecture the weights were trained with; "
            f"registered: {', '.join(_model_names())})",
        )


def _model_names() -> list[str]:
    from ..train.models import list_models

    return list_models()


def build(
    raw: RawCheckpoint,
    *,
    model_name: str | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    bundle: Any | None = None,
) -> LoadedModel:
    """Turn a read checkpoint into a model in eval mode.

    Args:
        raw: from :func:`read_checkpoint`.
        model_name: registry name; required for a plain state dict, checked against our metadata.
        model_kwargs: constructor arguments that override everything else (plain state dicts only).
        bundle: the calibration dataset (sizes images, classes and input channels of a plain state dict).

    Raises:
        CheckpointError: no model name for a plain state dict, a name that contradicts the metadata,
            or weights that do not fit.
    """
    from ..train.checkpoint import build_model

    if raw.module is not None:
        name = model_name or type(raw.module).__name__
        shapes: dict[str, tuple[int, ...]] = {}
        notes = list(raw.notes)
        if model_name is not None:
            try:
                shapes = _registered_shapes(
                    model_name, _infer_kwargs(model_name, dict(model_kwargs or {}), raw.module.state_dict())
                )
            except SparseHwError as exc:
                notes.append(f"channel pruning not detected: {exc.render()}")
        else:
            notes.append(
                "pickled module without --model: channel pruning cannot be compared with an unpruned model"
            )
        return LoadedModel(raw.module.eval(), name, {}, raw, shapes, notes=tuple(notes))
    if raw.state_dict is None:
        raise CheckpointError(
            "the checkpoint holds neither a module nor a state_dict",
            file=raw.path,
            fix="save model.state_dict() with torch.save",
        )
    if raw.meta is not None:
        meta = raw.meta
        if model_name is not None and model_name != meta.model_name:
            raise CheckpointError(
                f"--model {model_name} contradicts the checkpoint, which holds a {meta.model_name}",
                file=raw.path,
                key_path="meta.model_name",
                fix="drop --model (our checkpoints name their model)",
            )
        if model_kwargs:
            raise ConfigError(
                "--model-kwargs applies to plain state_dicts only; this checkpoint records its own arguments",
                key_path="model_kwargs",
                fix="drop --model-kwargs",
            )
        model = build_model(meta, raw.state_dict, source=raw.path)
        # without a structured-pruning history the rebuilt model has the registered shapes by construction
        shapes = (
            _registered_shapes(meta.model_name, meta.model_kwargs)
            if meta.pruning_history
            else _weight_shapes(model)
        )
        for row in meta.per_layer:
            if row.dense_shape is not None:
                shapes[row.name] = tuple(row.dense_shape)
        return LoadedModel(
            model.eval(), meta.model_name, dict(meta.model_kwargs), raw, shapes, notes=raw.notes
        )
    if model_name is None:
        raise CheckpointError(
            "this is a plain state_dict without sparse-hw metadata, so the architecture is unknown",
            file=raw.path,
            fix=f"pass --model NAME (one of: {', '.join(_model_names())}) and --data with its dataset",
        )
    from ..train.data import adapt_model_kwargs
    from ..train.models import create_model, resolve_model_kwargs

    kwargs: dict[str, Any] = adapt_model_kwargs(model_name, bundle) if bundle is not None else {}
    kwargs = _infer_kwargs(model_name, resolve_model_kwargs(model_name, kwargs), raw.state_dict, raw.path)
    kwargs = resolve_model_kwargs(model_name, kwargs | dict(model_kwargs or {}))
    _check_size(model_name, kwargs, raw.state_dict, raw.path)
    model = create_model(model_name, **kwargs)
    shapes = _weight_shapes(model)  # the registered architecture, before fitting the checkpoint's shapes
    rebuilt = fit_to_state_dict(model, raw.state_dict)
    _load_weights(model, raw.state_dict, raw, model_name)
    notes = list(raw.notes)
    if rebuilt:
        notes.append(
            f"rebuilt {len(rebuilt)} layers with the checkpoint's shapes: {'; '.join(rebuilt[:6])}"
            + (" ..." if len(rebuilt) > 6 else "")
        )
    return LoadedModel(model.eval(), model_name, kwargs, raw, shapes, rebuilt=rebuilt, notes=tuple(notes))


__all__ = [
    "CHECKPOINT_ID_LENGTH",
    "LoadedModel",
    "RawCheckpoint",
    "build",
    "fit_to_state_dict",
    "fold_prune_masks",
    "read_checkpoint",
]
