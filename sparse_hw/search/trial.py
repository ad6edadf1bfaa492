"""One trial's network: the dense checkpoint pruned per layer, fine-tuned, then measured by extract.

Training goes through `sparse_hw.train.train` (seeded, so the same trial gives the same checkpoint in
any worker) and measurement through `sparse_hw.pipeline.extract`; nothing here re-implements them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import SearchConfig
from .space import Decoded

#: TrainConfig keys of the dense run that a fine-tune does not inherit (it sets its own length and method).
_DENSE_ONLY = ("epochs", "prune_epochs", "finetune_epochs", "methods", "sparsity", "init_checkpoint", "out")


@dataclass
class TrialNetwork:
    checkpoint: Path
    extract_dir: Path
    accuracy: float
    weight_sparsity: dict[str, float]
    """Measured per-layer weight sparsity of the fine-tuned checkpoint, against the dense layer's weights (a
    removed channel's weights count as pruned)."""
    train_s: float
    extract_s: float
    channels: dict[str, int] = field(default_factory=dict)
    """Kept output channels of each layer the channel cut narrowed (`.channels`)."""


def _finetune_config(cfg: SearchConfig, init: Path, epochs: int, out: Path):
    from ..train.config import TrainConfig

    base = {k: v for k, v in cfg.dense_train_config().items() if k not in _DENSE_ONLY}
    return TrainConfig.model_validate({**base, "epochs": epochs, "init_checkpoint": str(init), "out": str(out)})


def _cut(dense: Path, decoded: Decoded, scale: float, out: Path, max_prime: int,
         remove: bool = True) -> tuple[Path, dict[str, int], dict[str, int]]:
    """The dense checkpoint pruned to ``scale`` times each target, written with the method recorded and
    the structured cut's bias and norm entries as ``schedule['kept_zeros']``, which the fine-tune keeps zero
    (``train.api.train``), so that a cut channel stays cut. With ``remove`` the trial's channel cut comes
    first (`.channels`: channels really removed, the history in the checkpoint); the weight targets then
    apply to the weights it leaves. Returns the checkpoint, the kept widths and the dense layers' numels."""
    from ..train.checkpoint import build_model, example_inputs, load_checkpoint, save_checkpoint
    from ..train.sparsity import weight_layers
    from .channels import remove_channels
    from .prune import prune_model

    state, meta = load_checkpoint(dense)
    model = build_model(meta, state)
    numels = {r.name: r.numel for r in meta.per_layer}
    example = example_inputs(meta) if meta.input_shape else None  # finds each layer's norm (traced forward)
    history, kept_widths = [], {}
    if remove and decoded.channels and any(v > 0 for v in decoded.channels.values()):
        if example is None:
            raise ValueError("a channel cut needs the checkpoint's input_shape (meta.input_shape) to trace the model")
        history, kept_widths = remove_channels(model, decoded.channels, example, max_prime,
                                               weight_layers(model)[-1][0])
    per_layer = {n: s * scale for n, s in decoded.per_layer.items()}
    kept = prune_model(model, per_layer, decoded.method.replace("gmp", "l1"), decoded.global_target * scale,
                       decoded.global_scale, example)
    schedule = {k: v for k, v in meta.schedule.items() if k != "kept_zeros"} | ({"kept_zeros": kept} if kept else {})
    update = {"method": decoded.method.split(","), "schedule": schedule}
    if history:
        update["pruning_history"] = [*(meta.pruning_history or []), *history]
    return save_checkpoint(out, model, meta.model_copy(update=update)), kept_widths, numels


def build_network(cfg: SearchConfig, dense: Path, decoded: Decoded, folder: Path, *, epochs: int | None = None,
                  calib_samples: int | None = None) -> TrialNetwork:
    """Prune ``dense`` as ``decoded`` says, fine-tune ``epochs`` (default the trial's), extract into ``folder``.

    gmp reaches its targets gradually: one pruning step per fine-tune epoch on Zhu & Gupta's cubic
    schedule, each followed by that epoch's training (the zeros of one step stay masked in the next)."""
    from ..pipeline import extract, train

    folder.mkdir(parents=True, exist_ok=True)
    epochs = decoded.finetune_epochs if epochs is None else epochs
    ckpt = folder / "model.pt"
    started = time.perf_counter()
    max_prime = cfg.space.channel_max_prime
    if "gmp" in decoded.method.split(",") and epochs > 1:
        start, kept_widths, numels = dense, {}, {}
        for e in range(1, epochs + 1):
            scale = 1.0 - (1.0 - e / epochs) ** 3
            cut, widths, seen = _cut(start, decoded, scale, folder / "cut.pt", max_prime, remove=e == 1)
            if e == 1:  # the channels go once, at the first step; later steps start from the narrowed model
                kept_widths, numels = widths, seen
            result = train(_finetune_config(cfg, cut, 1, ckpt))
            start = ckpt
    else:
        cut, kept_widths, numels = _cut(dense, decoded, 1.0, folder / "cut.pt", max_prime)
        result = train(_finetune_config(cfg, cut, epochs, ckpt))
    (folder / "cut.pt").unlink(missing_ok=True)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    ex = extract(ckpt, out=folder / "extract", calib_samples=calib_samples or cfg.extract.calib_samples,
                 seed=cfg.seed, force=True)
    sparsity = {r.name: 1.0 - r.density * r.numel / numels.get(r.name, r.numel)
                for r in result.per_layer if r.name in decoded.per_layer}
    return TrialNetwork(ckpt, ex.out, float(result.after.accuracy), sparsity, train_s,
                        time.perf_counter() - started, kept_widths)
