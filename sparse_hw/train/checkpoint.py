"""Our checkpoint format: a tensors-only ``state_dict`` plus ``CheckpointMeta``, loadable with
``torch.load(weights_only=True)``.

File layout::

    {"format": "sparse-hw-checkpoint", "meta": <CheckpointMeta as JSON-compatible data>,
     "state_dict": {name: tensor}}

Pruning masks are folded into the weights before saving (no ``weight_orig``/``weight_mask``), so
pruned weights are exact zeros. A structured (channel) prune is stored as Torch-Pruning's pruning
history — plain ``[module name, is_out_channel, indices]`` triples — and ``build_model`` replays it on
the registered architecture, so a shape-changed model rebuilds without pickled modules
(STYLE.md rule 8; ``torch_pruning/serialization.py`` pickles modules, which we refuse to load).
"""

from __future__ import annotations

import datetime as _dt
import io
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn

from .. import __version__
from ..errors import CheckpointError
from ..io import atomic_write
from .sparsity import LayerSparsity, Structure

FORMAT = "sparse-hw-checkpoint"
FORMAT_VERSION = 1
TRUST_FLAG = "--trust-checkpoint"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class CheckpointMeta(BaseModel):
    """What a checkpoint is: the model to rebuild, how it was pruned and trained, and how well it does."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    """Version of this layout; bumped on incompatible changes."""
    model_name: str
    """Registry key of the model (``sparse-hw train --help`` lists them)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Complete constructor arguments (defaults filled in), so the model rebuilds exactly."""
    method: list[str] = Field(default_factory=lambda: ["none"])
    """Pruning methods applied, in order (``none gmp l1 global structured admm``)."""
    schedule: dict[str, Any] = Field(default_factory=dict)
    """Settings of each method and of the training phases (learning rates, GMP steps, ADMM rho, ...)."""
    target_sparsity: float | None = None
    """Requested fraction of prunable weights removed (zeroed or cut away); None for dense training."""
    achieved_weight_sparsity: float = 0.0
    """Measured fraction of prunable weights that are zero or removed, relative to the dense model."""
    per_layer: list[LayerSparsity] = Field(default_factory=list)
    """One entry per conv/linear layer of the stored model."""
    structure: Structure = "dense"
    """Overall pattern: ``unstructured`` if any zeros were introduced, else ``channel`` if channels were removed."""
    pruning_history: list[tuple[str, bool, list[int]]] | None = None
    """Torch-Pruning history (module name, out-channel pruning?, indices), replayed by ``build_model``."""
    accuracy_before: float | None = None
    """Top-1 test accuracy of the dense model, before pruning."""
    accuracy_after: float | None = None
    """Top-1 test accuracy of the stored model."""
    macro_f1_before: float | None = None
    """Macro-averaged F1 on the test split before pruning."""
    macro_f1_after: float | None = None
    """Macro-averaged F1 on the test split of the stored model."""
    dataset: str = ""
    """Dataset spec the model was trained on (``synthetic-shapes``, ``digits``, ``cifar10:PATH``, ...)."""
    dataset_options: dict[str, Any] = Field(default_factory=dict)
    """Options passed to ``load_dataset`` (pass them again to get the same data)."""
    input_shape: list[int] = Field(default_factory=list)
    """Shape of one input sample (``[1, 8, 8]`` or ``[3, 1024]``)."""
    input_kind: Literal["image", "points"] = "image"
    """``image`` (``[B, C, H, W]``) or ``points`` (``[B, C, N]``)."""
    num_classes: int | None = None
    """Number of output classes."""
    epochs: int = 0
    """Dense training epochs."""
    finetune_epochs: int = 0
    """Fine-tuning epochs after pruning."""
    seed: int = 0
    """Seed of every random choice (data split/generation, initialization, shuffling)."""
    prunable_layers: list[str] = Field(default_factory=list)
    """Names of the layers the pruning methods were allowed to touch."""
    dense_prunable_params: int | None = None
    """Prunable weight count of the dense model (the denominator of ``achieved_weight_sparsity``)."""
    sparse_hw_version: str = __version__
    torch_version: str = torch.__version__
    created: str = Field(default_factory=_now)
    """ISO-8601 time the checkpoint was written (UTC)."""


def folded_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's tensors with pruning masks folded in (``weight_orig * weight_mask`` -> ``weight``)."""
    raw = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"state_dict entry {key!r} is a {type(value).__name__}, not a tensor",
                                  fix="keep only tensors in the model state")
        if key.endswith("_mask") and key[: -len("_mask")] + "_orig" in raw:
            continue
        if key.endswith("_orig") and key[: -len("_orig")] + "_mask" in raw:
            base = key[: -len("_orig")]
            mask = raw[base + "_mask"].bool()
            out[base] = torch.where(mask, value, torch.zeros_like(value)).detach().clone().contiguous()
            continue
        out[key] = value.detach().cpu().clone().contiguous()
    return out


def save_checkpoint(path: str | Path, model: nn.Module, meta: CheckpointMeta) -> Path:
    """Write ``model`` (masks folded) and ``meta`` atomically to ``path``; returns the path."""
    payload = {"format": FORMAT, "meta": meta.model_dump(mode="json"), "state_dict": folded_state_dict(model)}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write(path, buffer.getvalue())


def _unsafe_globals(path: Path, exc: Exception) -> list[str] | None:
    """The globals the weights-only unpickler refused; None when the file is no pickle at all (corrupt)."""
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # noqa: BLE001 - legacy (non-zip) files cannot be scanned by torch; read the opcodes
        found = _legacy_pickle_globals(path)
        if found is None:
            return None
    return found or sorted(set(re.findall(r"GLOBAL ([\w.]+)", str(exc))))


def _legacy_pickle_globals(path: Path) -> list[str] | None:
    """Globals a plain pickle file names, read from its opcodes without executing any (None: not a pickle)."""
    import pickletools

    found: set[str] = set()
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(path.read_bytes()):
            if op.name == "GLOBAL":
                found.add(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.add(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # noqa: BLE001 - any parse failure means the bytes are not a pickle
        return None
    return sorted(found)


def _first_line(exc: Exception) -> str:
    """The informative line of torch's long unpickling messages (e.g. ``Unsupported operand 103``)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for line in lines:
        if line.startswith(("Unsupported", "Invalid", "invalid")):
            return line
    return lines[0] if lines else type(exc).__name__


def load_checkpoint(path: str | Path, *, trust: bool = False) -> tuple[dict[str, torch.Tensor], CheckpointMeta | None]:
    """Read a checkpoint: ours (state_dict + meta) or a plain state_dict (meta None).

    Loads with ``weights_only=True`` unless ``trust=True``. Also accepts ``{"state_dict": ...}`` and
    ``{"model": ...}`` wrappers and, when trusted, a pickled ``nn.Module``.

    Raises:
        CheckpointError: missing or corrupt file, globals outside the allow-list (named, with the
            opt-in flag), or metadata that does not validate.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist", fix="check the path")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as exc:
        if trust:
            raise CheckpointError(f"checkpoint {path} cannot be unpickled: {exc}",
                                  fix="re-save the checkpoint") from None
        blocked = _unsafe_globals(path, exc)
        if blocked is None:  # nothing to trust: the bytes are not a pickle at all
            raise CheckpointError(f"checkpoint {path} is corrupt or not a torch file: {_first_line(exc)}",
                                  fix="re-create the checkpoint (sparse-hw train ... --out)") from None
        raise CheckpointError(
            f"checkpoint {path} holds objects outside the weights-only allow-list"
            + (f" (blocked globals: {', '.join(blocked)})" if blocked else ""),
            fix=f"re-save it as a plain state_dict, or pass {TRUST_FLAG} (trust=True) if you trust its source: "
                "unpickling can run arbitrary code",
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, AttributeError, ImportError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch file: {exc}",
                              fix="re-create the checkpoint (sparse-hw train ... --out)") from None
    return _interpret(obj, path)


def _interpret(obj: Any, path: Path) -> tuple[dict[str, torch.Tensor], CheckpointMeta | None]:
    if isinstance(obj, nn.Module):
        return {k: v for k, v in obj.state_dict().items() if isinstance(v, torch.Tensor)}, None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint {path} holds a {type(obj).__name__}, not a state_dict",
                              fix="save model.state_dict() or use sparse-hw train")
    if obj.get("format") == FORMAT:
        try:
            meta = CheckpointMeta.model_validate(obj.get("meta"))
        except ValidationError as exc:
            raise CheckpointError(f"checkpoint {path} has invalid metadata: {exc}", key_path="meta",
                                  fix="re-create the checkpoint with this sparse-hw version") from None
        if meta.format_version > FORMAT_VERSION:
            raise CheckpointError(f"checkpoint {path} has format version {meta.format_version}; this sparse-hw "
                                  f"reads up to {FORMAT_VERSION}", fix="upgrade sparse-hw")
        return _tensors(obj.get("state_dict"), path), meta
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj.get(key), Mapping):
            return _tensors(obj[key], path), None
    return _tensors(obj, path), None


def _tensors(state: Any, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f"checkpoint {path} has no state_dict", fix="save model.state_dict()")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"checkpoint {path}: state_dict entries are not tensors: {', '.join(map(str, bad[:5]))}",
                              fix="save a plain name -> tensor state_dict")
    return dict(state)


def example_inputs(meta: CheckpointMeta, batch: int = 2) -> torch.Tensor:
    """A deterministic input batch of the checkpoint's input shape (for tracing and smoke runs)."""
    if not meta.input_shape:
        raise CheckpointError("checkpoint metadata lacks input_shape", key_path="meta.input_shape",
                              fix="re-create the checkpoint with sparse-hw train")
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, *meta.input_shape, generator=gen)


def build_model(meta: CheckpointMeta, state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Re-create the registered model, replay the structured-pruning history and load the weights.

    Raises:
        CheckpointError: unknown model, a history that does not replay, or weights that do not fit.
    """
    from ..errors import SparseHwError
    from .models import create_model

    try:
        model = create_model(meta.model_name, **meta.model_kwargs)
    except SparseHwError as exc:
        raise CheckpointError(f"cannot rebuild model {meta.model_name!r}: {exc.render()}", key_path="meta.model_name",
                              fix="use the sparse-hw version that wrote the checkpoint") from None
    if meta.pruning_history:
        replay_pruning_history(model, meta.pruning_history, example_inputs(meta))
    model.eval()
    try:
        model.load_state_dict(dict(state_dict), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"weights do not fit model {meta.model_name!r}: {exc}", key_path="state_dict",
                              fix="the checkpoint and its metadata disagree; re-create it") from None
    return model


def replay_pruning_history(model: nn.Module, history, inputs: torch.Tensor) -> None:
    """Apply a stored Torch-Pruning history to a freshly built model (channels really removed)."""
    import torch_pruning as tp

    was_training = model.training
    model.eval()
    try:
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=inputs, verbose=False)
        graph.load_pruning_history([[name, bool(out), [int(i) for i in idxs]] for name, out, idxs in history])
    except (AttributeError, KeyError, IndexError, RuntimeError) as exc:
        raise CheckpointError(f"the structured-pruning history does not replay on this model: {exc}",
                              key_path="meta.pruning_history", fix="re-create the checkpoint") from None
    finally:
        model.train(was_training)
