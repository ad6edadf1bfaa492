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

import io
import math
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from torch import nn

from .. import __version__
from ..errors import CheckpointError
from ..io import atomic_write
from .sparsity import LayerSparsity, Structure

FORMAT = "sparse-hw-checkpoint"
FORMAT_VERSION = 1
TRUST_FLAG = "--trust-checkpoint"
#: Bounds on what metadata may ask for. An 80 KB file whose metadata named a huge ``input_shape`` or
#: model arguments once drove extract to 7 GB and to 160 GB allocation attempts (issue 15, item 3).
MAX_INPUT_DIM = 2**20
MAX_INPUT_NUMEL = 2**22
"""Elements of one input sample (a 3x1024x1024 image is 3 Mi)."""
MAX_NUM_CLASSES = 10**6
MIN_MODEL_NUMEL = 2**24
"""A model the metadata implies may always hold this many elements (64 MiB of float32) ..."""
MODEL_NUMEL_RATIO = 64
"""... or this many times the elements stored in the file (channel pruning stores fewer than it builds)."""


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
    target_sparsity: float | None = Field(None, ge=0, le=1)  # a fraction: 7.0 reached layers.csv
    """Requested fraction of prunable weights removed (zeroed or cut away); None for dense training."""
    achieved_weight_sparsity: float = Field(0.0, ge=0, le=1)
    """Measured fraction of prunable weights that are zero or removed, relative to the dense model."""
    per_layer: list[LayerSparsity] = Field(default_factory=list)
    """One entry per conv/linear layer of the stored model."""
    structure: Structure = "dense"
    """Overall pattern: ``unstructured`` if any zeros were introduced, else ``channel`` if channels were removed."""
    pruning_history: list[tuple[str, bool, list[int]]] | None = None
    """Torch-Pruning history (module name, out-channel pruning?, indices), replayed by ``build_model``."""
    accuracy_before: float | None = Field(None, ge=0, le=1)
    """Top-1 test accuracy of the dense model, before pruning."""
    accuracy_after: float | None = Field(None, ge=0, le=1)
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
    created: str | None = None
    """Not written any more (older checkpoints carry their ISO-8601 write time): the same inputs and seed
    give the same checkpoint bytes, and a retrained checkpoint keeps its id and every cached result."""

    @field_validator("input_shape")
    @classmethod
    def _bounded_shape(cls, value: list[int]) -> list[int]:
        if any(not 1 <= d <= MAX_INPUT_DIM for d in value):
            raise ValueError(f"every dimension must be in 1..{MAX_INPUT_DIM}, got {value}")
        if value and math.prod(value) > MAX_INPUT_NUMEL:
            raise ValueError(f"one sample of shape {value} has more than {MAX_INPUT_NUMEL} elements")
        return value

    @field_validator("num_classes")
    @classmethod
    def _bounded_classes(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_NUM_CLASSES:
            raise ValueError(f"must be in 1..{MAX_NUM_CLASSES}, got {value}")
        return value

    @field_validator("dataset_options")
    @classmethod
    def _bounded_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        from .config import dataset_option_problems

        problems = dataset_option_problems(value)
        if problems:
            raise ValueError("; ".join(f"{key}: {msg}" for key, msg in problems))
        return value


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


#: Elements a model may have when training builds it from user arguments (2^27 float32 is 512 MiB).
MAX_TRAIN_NUMEL = 2**27


class _SkipInit(torch.overrides.TorchFunctionMode):
    """Skip in-place initializers (``normal_``, ``kaiming_uniform_``...) of meta tensors: they have no
    values, and torch's meta kernels for random fills import its compiler stack (1.5 s for MobileNetV2)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        target = args[0] if args else kwargs.get("tensor")
        if name.endswith("_") and not name.endswith("__") and isinstance(target, torch.Tensor) and target.is_meta:
            return target
        return func(*args, **kwargs)


def implied_numel(name: str, kwargs: Mapping[str, Any]) -> int:
    """Elements (parameters and buffers) of the registered model ``name`` built with ``kwargs``, counted
    on the meta device: nothing is allocated however large the arguments are.

    Raises:
        ConfigError: unknown model or arguments the model cannot be built with.
    """
    from ..errors import ConfigError, SparseHwError
    from .models import create_model

    try:
        with torch.device("meta"), _SkipInit():
            model = create_model(name, **dict(kwargs))
    except SparseHwError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a constructor fed odd arguments is the arguments'
        raise ConfigError(f"cannot build model {name!r} with {dict(kwargs)}: {type(exc).__name__}: {exc}",
                          key_path="model_kwargs", fix="check the model arguments") from None
    return sum(t.numel() for t in (*model.parameters(), *model.buffers()))


def check_model_size(name: str, kwargs: Mapping[str, Any], *, stored_numel: int | None = None,
                     file: str | Path | None = None, key_path: str = "meta.model_kwargs",
                     fix: str = "re-create the checkpoint with sparse-hw train") -> int:
    """Refuse a model whose size the arguments blow up, before it is built for real.

    With ``stored_numel`` (the elements a checkpoint file actually holds) the model may have at most
    ``max(MIN_MODEL_NUMEL, MODEL_NUMEL_RATIO * stored_numel)`` elements: metadata cannot make an 80 KB
    file allocate gigabytes. Without it (training from user arguments) the cap is ``MAX_TRAIN_NUMEL``.

    Raises:
        CheckpointError (with ``stored_numel``) or ConfigError: the model is too large, or cannot be built.
    """
    from ..errors import ConfigError, SparseHwError

    problem = _forward_cost_problem(kwargs)
    if problem:
        cls = ConfigError if stored_numel is None else CheckpointError
        raise cls(problem, file=file, key_path=key_path, fix=fix)
    try:
        numel = implied_numel(name, kwargs)
    except SparseHwError as exc:
        if stored_numel is None:
            raise
        raise CheckpointError(exc.problems[0].message, file=file, key_path=key_path, fix=fix) from None
    if stored_numel is None:
        if numel > MAX_TRAIN_NUMEL:
            raise ConfigError(f"model {name!r} with {dict(kwargs)} would have {numel:,} parameters, more than the "
                              f"{MAX_TRAIN_NUMEL:,} sparse-hw trains", file=file, key_path=key_path, fix=fix)
        return numel
    limit = max(MIN_MODEL_NUMEL, MODEL_NUMEL_RATIO * stored_numel)
    if numel > limit:
        raise CheckpointError(
            f"the metadata asks for a {name!r} with {numel:,} parameters, but the file holds only "
            f"{stored_numel:,} weights (at most {limit:,} are allowed for it)", file=file, key_path=key_path,
            fix=fix)
    return numel


#: Arguments that size the work of a forward pass but not the parameters (PointNet++ sampling): each value
#: at most the first bound, and npoint x nsample of each level at most ``MAX_GROUPED_POINTS`` (the grouped
#: tensor of a batch of 64 with 131 channels is then about 2 GB).
_FORWARD_BOUNDS = {"npoint": 8192, "nsample": 1024, "depth": 256, "heads": 256}
MAX_GROUPED_POINTS = 2**16
#: Patches of a vision transformer: attention costs their square per head and sample.
MAX_TOKENS = 4096


def _forward_cost_problem(kwargs: Mapping[str, Any]) -> str | None:
    """What is wrong with the arguments in ``kwargs`` that size a forward pass (or its construction loop),
    or None."""
    levels: dict[str, list[int]] = {}
    for key, bound in _FORWARD_BOUNDS.items():
        value = kwargs.get(key)
        if value is None:
            continue
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= bound for v in items):
            return f"{key} must be whole numbers in 1..{bound}, got {value!r}"
        levels[key] = items
    size, patch = kwargs.get("image_size"), kwargs.get("patch_size")
    if isinstance(size, int) and isinstance(patch, int) and patch >= 1 and (size // patch) ** 2 > MAX_TOKENS:
        return f"image_size {size} / patch_size {patch} makes {(size // patch) ** 2:,} tokens, more than {MAX_TOKENS:,}"
    if "npoint" in levels and "nsample" in levels:
        for npoint, nsample in zip(levels["npoint"], levels["nsample"]):
            if npoint * nsample > MAX_GROUPED_POINTS:
                return (f"npoint {npoint} x nsample {nsample} groups {npoint * nsample:,} points per cloud, more "
                        f"than {MAX_GROUPED_POINTS:,}")
    return None


def non_finite_tensors(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of floating-point tensors holding NaN or infinity (a diverged training run)."""
    return [k for k, v in state.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def save_checkpoint(path: str | Path, model: nn.Module, meta: CheckpointMeta) -> Path:
    """Write ``model`` (masks folded) and ``meta`` atomically to ``path``; returns the path.

    Raises:
        CheckpointError: the weights hold NaN or infinity (nothing is written: later stages would turn
            them into numbers).
    """
    state = folded_state_dict(model)
    bad = non_finite_tensors(state)
    if bad:
        raise CheckpointError(
            f"training diverged: {len(bad)} tensors hold NaN or infinite values (e.g. {', '.join(bad[:3])}); "
            "no checkpoint was written", file=path, key_path="lr",
            fix="lower the learning rate (--lr, --finetune-lr) or the ADMM rho and train again")
    payload = {"format": FORMAT, "meta": meta.model_dump(mode="json"), "state_dict": state}
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
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, AttributeError, ImportError,
            KeyError, IndexError, TypeError, OverflowError, MemoryError) as exc:
        # garbage bytes fail inside the unpickler in many ways (a text file: KeyError from its memo)
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch file: "
                              f"{type(exc).__name__}: {_first_line(exc) if str(exc) else 'no details'}",
                              fix="re-create the checkpoint (sparse-hw train ... --out)") from None
    return _interpret(obj, path)


def _interpret(obj: Any, path: Path) -> tuple[dict[str, torch.Tensor], CheckpointMeta | None]:
    if isinstance(obj, nn.Module):
        return {k: v for k, v in obj.state_dict().items() if isinstance(v, torch.Tensor)}, None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint {path} holds a {type(obj).__name__}, not a state_dict",
                              fix="save model.state_dict() or use sparse-hw train")
    if obj.get("format") == FORMAT:
        _check_meta_size(obj.get("meta"), path)
        try:
            meta = CheckpointMeta.model_validate(obj.get("meta"))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in ("meta", *first["loc"]))
            raise CheckpointError(
                f"invalid metadata ({len(exc.errors())} problem(s)), e.g. {first['msg'].removeprefix('Value error, ')}",
                file=path,
                key_path=where, fix="re-create the checkpoint with sparse-hw train (this version)") from None
        if meta.format_version > FORMAT_VERSION:
            raise CheckpointError(f"checkpoint {path} has format version {meta.format_version}; this sparse-hw "
                                  f"reads up to {FORMAT_VERSION}", fix="upgrade sparse-hw")
        return _tensors(obj.get("state_dict"), path), meta
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj.get(key), Mapping):
            return _tensors(obj[key], path), None
    return _tensors(obj, path), None


#: Budget of the metadata walk: nodes (plus 1 per 64 characters of text) and nesting depth. A pickle can
#: reference one list from ten places at every level, so 90 KB unfold to 10^8 strings when validated or
#: dumped (that took 2.4 GB and never finished); real metadata has a few thousand nodes.
MAX_META_NODES = 2_000_000
MAX_META_DEPTH = 32


def _check_meta_size(meta: Any, path: Path) -> None:
    """Refuse metadata whose unfolded size (shared references counted each time) is out of bounds.

    Raises:
        CheckpointError: naming the file and the key where the walk stopped.
    """
    stack: list[tuple[Any, int, str]] = [(meta, 0, "meta")]
    units = 0
    while stack:
        node, depth, where = stack.pop()
        units += 1 + (len(node) // 64 if isinstance(node, (str, bytes)) else 0)
        if units > MAX_META_NODES or depth > MAX_META_DEPTH:
            what = "nested deeper than" if depth > MAX_META_DEPTH else "larger than"
            limit = MAX_META_DEPTH if depth > MAX_META_DEPTH else f"{MAX_META_NODES:,} entries"
            raise CheckpointError(f"the metadata is {what} {limit} when unfolded (shared references repeat)",
                                  file=path, key_path=where, fix="re-create the checkpoint with sparse-hw train")
        if isinstance(node, Mapping):
            stack.extend((v, depth + 1, f"{where}.{k}" if depth < 4 else where) for k, v in node.items())
            units += len(node)
        elif isinstance(node, (list, tuple, set)):
            stack.extend((v, depth + 1, where) for v in node)


def _tensors(state: Any, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f"checkpoint {path} has no state_dict", fix="save model.state_dict()")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"checkpoint {path}: state_dict entries are not tensors: {', '.join(map(str, bad[:5]))}",
                              fix="save a plain name -> tensor state_dict")
    check_storage(state, path)
    check_finite(state, path)
    return dict(state)


def _storage_elements(t: torch.Tensor) -> int:
    return t.untyped_storage().nbytes() // max(1, t.element_size())


def stored_elements(state: Mapping[str, torch.Tensor]) -> int:
    """Elements the file really holds: each storage counted once, whatever views of it the tensors are."""
    seen: dict[int, int] = {}
    for t in state.values():
        if isinstance(t, torch.Tensor):
            seen[t.untyped_storage().data_ptr()] = _storage_elements(t)
    return sum(seen.values())


def check_storage(state: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Refuse tensors that claim more elements than their storage holds (stride-0 or overlapping views).

    A 90 KB file holding ``torch.zeros(1).expand(3 * 10**8)`` loads in microseconds, and then any copy of
    it (hashing, ``load_state_dict``, ``isfinite``) allocates 1.2 GB; no saved weights look like that.

    Raises:
        CheckpointError: naming the tensor and both counts.
    """
    for name, t in state.items():
        if t.layout != torch.strided or t.is_quantized:
            kind = "quantized" if t.is_quantized else str(t.layout).removeprefix("torch.")
            raise CheckpointError(f"tensor is {kind}; sparse-hw reads dense (strided) weights", file=path,
                                  key_path=f"state_dict.{name}",
                                  fix="save dense float weights (tensor.to_dense() / tensor.dequantize())")
        have = _storage_elements(t)
        if t.numel() > have:
            raise CheckpointError(
                f"tensor claims {t.numel():,} elements (shape {list(t.shape)}) but its storage in the file holds "
                f"only {have:,}: a crafted view, not saved weights", file=path, key_path=f"state_dict.{name}",
                fix="save real tensors (torch.save(model.state_dict(), path)); do not use this file")


def check_finite(state: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Refuse weights holding NaN or infinity: every density and cost computed from them would be noise.

    Raises:
        CheckpointError: naming the file and the first such tensor.
    """
    bad = non_finite_tensors(state)
    if bad:
        raise CheckpointError(
            f"{len(bad)} tensors hold NaN or infinite values (e.g. {', '.join(map(str, bad[:3]))})",
            file=path, key_path=f"state_dict.{bad[0]}",
            fix="the training run that wrote it diverged; train again with a lower learning rate (--lr)")


def example_inputs(meta: CheckpointMeta, batch: int = 2) -> torch.Tensor:
    """A deterministic input batch of the checkpoint's input shape (for tracing and smoke runs)."""
    if not meta.input_shape:
        raise CheckpointError("checkpoint metadata lacks input_shape", key_path="meta.input_shape",
                              fix="re-create the checkpoint with sparse-hw train")
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, *meta.input_shape, generator=gen)


def build_model(meta: CheckpointMeta, state_dict: Mapping[str, torch.Tensor], *,
                source: str | Path | None = None) -> nn.Module:
    """Re-create the registered model, replay the structured-pruning history and load the weights.

    ``source`` (the checkpoint file) is named in errors. The model's size is checked on the meta device
    against the weights the file holds before anything is allocated (:func:`check_model_size`).

    Raises:
        CheckpointError: unknown model, a model far larger than the file's weights, a history that does
            not replay, or weights that do not fit.
    """
    from ..errors import SparseHwError
    from .models import create_model

    if meta.model_name in _model_names():
        stored = stored_elements(state_dict)
        check_model_size(meta.model_name, meta.model_kwargs, stored_numel=stored, file=source)
    try:
        model = create_model(meta.model_name, **meta.model_kwargs)
    except SparseHwError as exc:
        raise CheckpointError(f"cannot rebuild model {meta.model_name!r}: {exc.render()}", file=source,
                              key_path="meta.model_name",
                              fix="use the sparse-hw version that wrote the checkpoint") from None
    if meta.pruning_history:
        try:
            replay_pruning_history(model, meta.pruning_history, example_inputs(meta))
        except CheckpointError as exc:
            raise CheckpointError(exc.problems[0].message, file=source, key_path=exc.key_path, fix=exc.fix) from None
    model.eval()
    check_parameter_dtypes(model, state_dict, source)
    try:
        model.load_state_dict(dict(state_dict), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"weights do not fit model {meta.model_name!r}: {exc}", file=source, key_path="state_dict",
                              fix="the checkpoint and its metadata disagree; re-create it") from None
    return model


def check_parameter_dtypes(model: nn.Module, state: Mapping[str, torch.Tensor], path: str | Path | None) -> None:
    """Refuse weights that are not real floating-point numbers: ``load_state_dict`` would silently cast
    integers, booleans or complex values (dropping the imaginary part) into the float parameters.

    Raises:
        CheckpointError: naming the tensor and its dtype.
    """
    for name, _ in model.named_parameters():
        value = state.get(name)
        if isinstance(value, torch.Tensor) and not value.is_floating_point():
            raise CheckpointError(f"weights are {str(value.dtype).removeprefix('torch.')}, not floating point",
                                  file=path, key_path=f"state_dict.{name}",
                                  fix="save the float weights of the model (model.float().state_dict())")


def _model_names() -> list[str]:
    from .models import list_models

    return list_models()


def replay_pruning_history(model: nn.Module, history, inputs: torch.Tensor) -> None:
    """Apply a stored Torch-Pruning history to a freshly built model (channels really removed)."""
    import torch_pruning as tp

    was_training = model.training
    model.eval()
    try:
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=inputs, verbose=False)
        for step, (name, out, idxs) in enumerate(history):
            # one step at a time, each checked against the channels left: Torch-Pruning silently accepts
            # indices past the end or negative ones, and the checkpoint then loads into a wrong model
            module = model.get_submodule(name)
            channels = graph.get_out_channels(module) if out else graph.get_in_channels(module)
            indices = [int(i) for i in idxs]
            if channels is None or not indices or len(set(indices)) != len(indices) or len(indices) >= channels \
                    or min(indices) < 0 or max(indices) >= channels:
                raise CheckpointError(
                    f"step {step} removes channels {indices[:8]}{' ...' if len(indices) > 8 else ''} of {name!r}, "
                    f"which has {channels} {'output' if out else 'input'} channels at that point",
                    key_path=f"meta.pruning_history[{step}]", fix="re-create the checkpoint with sparse-hw train")
            graph.load_pruning_history([[name, bool(out), indices]])
    except (AttributeError, KeyError, IndexError, RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(f"the structured-pruning history does not replay on this model: {exc}",
                              key_path="meta.pruning_history", fix="re-create the checkpoint") from None
    finally:
        model.train(was_training)
