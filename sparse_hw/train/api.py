"""``train(config) -> TrainResult``: dense training, the pruning methods in order, fine-tuning, checkpoint.

The run is deterministic for a given seed: Python, numpy and torch are seeded, torch runs with
deterministic algorithms, shuffling uses seeded generators, and the dataset is generated or split
from the same seed. Same seed -> identical checkpoint tensors.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError, ConfigError
from .checkpoint import CheckpointMeta, build_model, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import adapt_model_kwargs, load_dataset
from .loop import EpochLog, Trainer, TrainProgress
from .metrics import measure_latency
from .models import create_model, resolve_model_kwargs
from .prune import PRUNE_METHODS, MaskSet, PruneContext
from .sparsity import (
    LayerSparsity,
    SizeEstimate,
    global_sparsity,
    layer_stats,
    select_prunable,
    size_estimate,
    weight_layers,
)

log = logging.getLogger(__name__)

LATENCY_BATCHES = (1, 32)


@dataclass(frozen=True)
class ModelFigures:
    """Model-level figures of one state of the model (dense before pruning, or the final one)."""

    size: SizeEstimate
    accuracy: float
    macro_f1: float
    latency_ms: dict[int, float] = field(default_factory=dict)
    """Median CPU forward time per batch size (empty when latency was not measured)."""


@dataclass(frozen=True)
class TrainResult:
    """What ``train`` produced: the model, its metadata, the figures before/after pruning, the history."""

    config: TrainConfig
    meta: CheckpointMeta
    model: nn.Module
    before: ModelFigures
    after: ModelFigures
    history: list[EpochLog]
    wall_seconds: float
    checkpoint: Path | None = None
    checkpoint_bytes: int | None = None

    @property
    def per_layer(self) -> list[LayerSparsity]:
        return self.meta.per_layer


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch intra-op threads for the block (None keeps torch's setting), restored afterwards."""
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)


@contextlib.contextmanager
def seeded(seed: int, threads: int | None) -> Iterator[None]:
    """Seed every RNG and force deterministic torch algorithms (and a thread count) for the block."""
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    try:
        with torch_threads(threads):
            yield
    finally:
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)


def _init_model(config: TrainConfig, fresh: nn.Module, model_kwargs: dict) -> tuple[nn.Module, CheckpointMeta | None]:
    """The starting model: ``fresh``, or the weights (and structured history) of ``init_checkpoint``."""
    if config.init_checkpoint is None:
        return fresh, None
    state, meta = load_checkpoint(config.init_checkpoint, trust=config.trust_checkpoint)
    if meta is None:
        try:
            fresh.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"init checkpoint does not fit {config.model!r}: {exc}", file=config.init_checkpoint,
                                  fix="start from a checkpoint of the same model and arguments") from None
        return fresh, None
    if meta.model_name != config.model or meta.model_kwargs != model_kwargs:
        raise ConfigError(
            f"init checkpoint is {meta.model_name!r} {meta.model_kwargs}, "
            f"the run asks for {config.model!r} {model_kwargs}",
            file=config.init_checkpoint, key_path="init_checkpoint",
            fix="use the same model, model_kwargs and dataset as the checkpoint")
    return build_model(meta, state), meta


def _named_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers by name: kept zeros are in both (biases, norms' running means)."""
    return dict(model.named_parameters()) | dict(model.named_buffers())


class KeptZeros(MaskSet):
    """The weight masks, plus the entries of non-weight tensors that an init checkpoint lists under
    ``schedule['kept_zeros']`` (``{tensor name: indices}``): kept zero through training.

    The search's structured cut (`sparse_hw.search.prune`) lists there the bias and the following batch
    norm's weight, bias and running mean of each channel it cut: with them zero the channel's output stays
    exactly zero, as if the channel were removed. Only the listed entries are kept: other zero parameters
    of a checkpoint train freely."""

    def __init__(self, model: nn.Module, kept: dict[str, list[int]] | None, *, file: str | Path | None = None) -> None:
        super().__init__()
        tensors = _named_tensors(model)
        self.kept: dict[str, list[int]] = {}
        for name, idx in (kept or {}).items():
            t = tensors.get(name)
            if t is None or t.dim() != 1 or any(not 0 <= int(i) < t.numel() for i in idx):
                raise CheckpointError(f"schedule.kept_zeros names {name!r} {list(idx)[:8]}, which the model lacks",
                                      file=file, key_path=f"schedule.kept_zeros.{name}",
                                      fix="start from a checkpoint written for this model")
            self.kept[name] = sorted({int(i) for i in idx})

    def __bool__(self) -> bool:
        return bool(self.masks) or bool(self.kept)

    def apply(self, model: nn.Module) -> None:
        super().apply(model)
        tensors = _named_tensors(model)
        with torch.no_grad():
            for name, idx in self.kept.items():
                tensors[name][idx] = 0

    def refresh_from_zeros(self, model: nn.Module) -> None:
        """After a shape change the kept entries are those still zero (as the weights' masks are)."""
        super().refresh_from_zeros(model)
        tensors = _named_tensors(model)
        self.kept = {n: (tensors[n].detach() == 0).nonzero().flatten().tolist() for n in self.kept}


def _overall_structure(rows: list[LayerSparsity]) -> str:
    if any(r.structure == "unstructured" for r in rows):
        return "unstructured"
    if any(r.structure == "channel" for r in rows):
        return "channel"
    return "dense"


def train(config: TrainConfig, *, progress: Callable[[TrainProgress], None] | None = None) -> TrainResult:
    """Train, prune (methods in order), fine-tune, measure and optionally write the checkpoint.

    Raises:
        ConfigError, DataError, CheckpointError: bad configuration, dataset or init checkpoint; nothing is
            written in that case.
    """
    started = time.perf_counter()
    with seeded(config.seed, config.threads):
        bundle = load_dataset(config.data, seed=config.seed, **config.data_options)
        model_kwargs = resolve_model_kwargs(config.model, {**adapt_model_kwargs(config.model, bundle),
                                                           **config.model_kwargs})
        model_kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in model_kwargs.items()}
        torch.manual_seed(config.seed)
        fresh = create_model(config.model, **model_kwargs)
        prunable = select_prunable(fresh, include=config.prunable, exclude=config.exclude,
                                   exclude_first=config.exclude_first, exclude_last=config.exclude_last)
        dense_layers = {n: m.weight.numel() for n, m in weight_layers(fresh)}
        dense_shapes = {n: list(m.weight.shape) for n, m in weight_layers(fresh)}
        dense_numel = sum(dense_layers[n] for n in prunable)
        output_layer = weight_layers(fresh)[-1][0]
        model, init_meta = _init_model(config, fresh, model_kwargs)
        history: list = list(init_meta.pruning_history or []) if init_meta else []

        masks = KeptZeros(model, init_meta.schedule.get("kept_zeros") if init_meta else None,
                          file=config.init_checkpoint)
        for name, module in weight_layers(model):
            if name in prunable and bool((module.weight.detach() == 0).any()):
                masks.set(name, module.weight.detach() != 0)

        trainer = Trainer(bundle, batch_size=config.batch_size, seed=config.seed, optimizer=config.optimizer,
                          momentum=config.momentum, weight_decay=config.weight_decay, progress=progress)
        trainer.fit(model, epochs=config.epochs, lr=config.lr, phase="dense", masks=masks or None)
        before_eval = trainer.evaluate(model)
        before_size = size_estimate(model)
        dense_copy = copy.deepcopy(model) if config.measure_latency else None

        example = torch.randn(2, *bundle.input_shape, generator=torch.Generator().manual_seed(config.seed))
        records: list[dict] = []
        for method, target in config.method_targets():
            entry = PRUNE_METHODS.get(method)
            ctx = PruneContext(model=model, prunable=prunable, masks=masks, target=target, dense_numel=dense_numel,
                               trainer=trainer, options=config, example_inputs=example, seed=config.seed,
                               prune_epochs=config.resolved_prune_epochs(), lr=config.lr, output_layer=output_layer,
                               history=history)
            outcome = entry.apply(ctx)
            model = outcome.model
            rows = layer_stats(model, prunable, dense_shapes)
            records.append({"method": method, "target": round(target, 6),
                            "achieved": round(global_sparsity(rows, dense_numel), 6), **dict(outcome.record)})

        finetune_epochs = config.resolved_finetune_epochs()
        trainer.fit(model, epochs=finetune_epochs, lr=config.resolved_finetune_lr(), phase="finetune",
                    masks=masks or None)
        masks.apply(model)
        model.eval()
        after_eval = trainer.evaluate(model)
        latency: dict[str, dict[int, float]] = {"before": {}, "after": {}}
        if dense_copy is not None:
            latency = measure_latency({"before": dense_copy, "after": model}, bundle.input_shape,
                                      batch_sizes=LATENCY_BATCHES, repeats=config.latency_repeats)
        before = ModelFigures(before_size, before_eval.accuracy, before_eval.macro_f1, latency["before"])
        after = ModelFigures(size_estimate(model), after_eval.accuracy, after_eval.macro_f1, latency["after"])

    rows = layer_stats(model, prunable, dense_shapes)
    methods = [m for m in (init_meta.method if init_meta else []) if m != "none"] + config.methods
    methods = [m for m in methods if m != "none"] or ["none"]
    meta = CheckpointMeta(
        model_name=config.model, model_kwargs=model_kwargs, method=methods,
        schedule={
            "epochs": config.epochs, "prune_epochs": config.resolved_prune_epochs(),
            "finetune_epochs": finetune_epochs, "lr": config.lr, "finetune_lr": config.resolved_finetune_lr(),
            "optimizer": config.optimizer, "batch_size": config.batch_size, "weight_decay": config.weight_decay,
            "methods": records,
            # the name only: a checkpoint does not depend on the folder its parent lay in
            "init_checkpoint": Path(config.init_checkpoint).name if config.init_checkpoint else None,
            "init_method": init_meta.method if init_meta else None,
            **({"kept_zeros": masks.kept} if masks.kept else {}),
        },
        target_sparsity=float(config.sparsity[-1]) if isinstance(config.sparsity, list)
        else (float(config.sparsity) if config.sparsity is not None
              else config.method_targets()[-1][1] if config.pruning_methods else None),  # nm: 1 - N/M
        achieved_weight_sparsity=global_sparsity(rows, dense_numel),
        per_layer=rows, structure=_overall_structure(rows),
        pruning_history=history or None,
        accuracy_before=before.accuracy, accuracy_after=after.accuracy,
        macro_f1_before=before.macro_f1, macro_f1_after=after.macro_f1,
        dataset=config.data, dataset_options=dict(bundle.options), input_shape=list(bundle.input_shape),
        input_kind=bundle.input_kind, num_classes=bundle.num_classes,
        epochs=config.epochs, finetune_epochs=finetune_epochs, seed=config.seed,
        prunable_layers=prunable, dense_prunable_params=dense_numel,
    )
    path = nbytes = None
    if config.out is not None:
        path = save_checkpoint(config.out, model, meta)
        nbytes = path.stat().st_size
    return TrainResult(config, meta, model, before, after, list(trainer.history), time.perf_counter() - started,
                       path, nbytes)
