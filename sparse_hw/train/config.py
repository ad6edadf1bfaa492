"""``TrainConfig``: everything one training run needs, validated before any work starts."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError


class TrainConfig(BaseModel):
    """One training (and pruning) run; ``sparse-hw train`` flags and ``run`` configs map onto these fields."""

    model_config = ConfigDict(extra="forbid")

    model: str
    """Registered model name (``lenet5``, ``resnet18``, ``mobilenetv2``, ``pointnet2``)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Model arguments; classes, input channels and image size/stem are adapted to the dataset unless given."""
    data: str = "synthetic-shapes"
    """Dataset spec: ``synthetic-shapes``, ``digits``, ``modelnet:PATH``, ``cifar10:PATH``, ``imagefolder:PATH``."""
    data_options: dict[str, Any] = Field(default_factory=dict)
    """Options of the dataset (e.g. ``n_points``, ``per_class_train`` for synthetic-shapes)."""
    methods: list[str] = Field(default_factory=lambda: ["none"])
    """Pruning methods applied in order; ``"structured,l1"`` is split at commas."""
    sparsity: float | list[float] | None = None
    """Target fraction of prunable weights zeroed or removed. One number: the final target, with each of k
    methods removing an equal geometric share (keeping ``(1-s)^(1/k)`` of what is left); a list: the
    cumulative target after each pruning method."""
    epochs: int = Field(10, ge=0)
    """Dense training epochs before pruning."""
    prune_epochs: int = Field(5, ge=0)
    """Training epochs of each method that trains while pruning (gmp, admm)."""
    finetune_epochs: int | None = Field(None, ge=0)
    """Fine-tuning epochs after all methods (masks kept); default 2 when pruning, else 0."""
    lr: float = Field(3e-3, gt=0)
    """Learning rate of dense training and of the gmp/admm phases (cosine decay within each phase)."""
    finetune_lr: float | None = Field(None, gt=0)
    """Learning rate of the fine-tuning phase; default ``lr / 10`` after gmp/admm alone, ``lr`` when a
    one-shot method (l1, global, structured) is among the methods."""
    optimizer: Literal["adam", "sgd"] = "adam"
    momentum: float = Field(0.9, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(32, ge=2)
    seed: int = 0
    """Seed of the data split/generation, the initialization and the shuffling."""
    prunable: list[str] = Field(default_factory=lambda: ["*"])
    """Glob patterns of prunable conv/linear layer names (default: all of them)."""
    exclude: list[str] = Field(default_factory=list)
    """Glob patterns of layers never pruned."""
    exclude_first: bool = False
    """Keep the first conv/linear layer dense."""
    exclude_last: bool = False
    """Keep the last conv/linear layer (the classifier) dense."""
    gmp_distribution: Literal["global", "uniform", "erk"] = "global"
    """How GMP spreads the sparsity over layers: one global magnitude threshold (default), the same ratio in every
    layer (Zhu & Gupta's setting), or Erdős–Rényi-kernel (small layers stay denser). Uniform 90% cripples small
    layers (PointNet++'s first conv keeps 9 of 96 weights): on synthetic-shapes it lost 28 points where global
    lost none."""
    gmp_initial_sparsity: float = Field(0.0, ge=0, lt=1)
    gmp_start_step: int = Field(0, ge=0)
    """First pruning step, counted in optimizer steps from the start of the gmp phase."""
    gmp_end_step: int | None = Field(None, ge=0)
    """Step at which the final sparsity is reached; default 75% of the gmp phase."""
    gmp_frequency: int | None = Field(None, ge=1)
    """Steps between mask updates; default a tenth of the pruning span."""
    admm_rho: float = Field(1e-3, gt=0)
    """Initial ADMM penalty."""
    admm_rho_growth: float = Field(1.5, ge=1)
    """Factor applied to rho after every dual update."""
    admm_rho_max: float = Field(1.0, gt=0)
    admm_update_every: int | None = Field(None, ge=1)
    """Optimizer steps between Z/U updates; default one epoch."""
    structured_importance: Literal["l1", "l2"] = "l1"
    """Filter importance of structured pruning: L1 or L2 norm of the coupled weights."""
    structured_global: bool = False
    """Rank channels across layers instead of removing the same ratio from each."""
    structured_round_to: int | None = Field(None, ge=1)
    """Round remaining channel counts to a multiple of this."""
    init_checkpoint: Path | None = None
    """Start from this checkpoint's weights (e.g. a dense model; set ``epochs`` to 0 to skip dense training)."""
    trust_checkpoint: bool = False
    """Allow ``init_checkpoint`` to unpickle arbitrary objects (only for files you trust)."""
    threads: int | None = Field(1, ge=1)
    """torch intra-op threads for the run; None = torch's default. One by default: the models here run many
    small ops (PointNet++'s sampling loop, 8x8 digits), where OpenMP's thread hand-off dominates; on the
    2-core machines this project targets a PointNet++ forward+backward took 0.3 s with one thread and
    4.9 s with two."""
    measure_latency: bool = True
    """Measure CPU inference latency at batch 1 and 32 before and after pruning."""
    latency_repeats: int = Field(5, ge=1)
    out: Path | None = None
    """Where to write the checkpoint (atomically); None to keep the model in memory only."""

    @field_validator("methods", mode="before")
    @classmethod
    def _split_methods(cls, value: Any) -> Any:
        items = [value] if isinstance(value, str) else value
        if isinstance(items, (list, tuple)):
            return [part.strip() for item in items for part in str(item).split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        from .prune import PRUNE_METHODS

        for m in self.methods:
            if m not in PRUNE_METHODS:
                close = difflib.get_close_matches(m, PRUNE_METHODS.list(), n=1)
                raise ConfigError(f"unknown pruning method {m!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
                                  key_path="methods", fix=f"use one of: {', '.join(PRUNE_METHODS.list())}")
        if not self.methods:
            self.methods = ["none"]
        pruning = self.pruning_methods
        if pruning and self.sparsity is None:
            raise ConfigError(f"method(s) {', '.join(pruning)} need a target sparsity", key_path="sparsity",
                              fix="pass --sparsity S with 0 <= S < 1")
        values = self.sparsity if isinstance(self.sparsity, list) else [] if self.sparsity is None else [self.sparsity]
        bad = [v for v in values if not 0.0 <= v < 1.0]
        if bad:
            raise ConfigError(f"sparsity must be in [0, 1), got {bad[0]}", key_path="sparsity", fix="use e.g. 0.9")
        if isinstance(self.sparsity, list):
            if len(self.sparsity) != len(pruning):
                raise ConfigError(f"{len(self.sparsity)} sparsity values for {len(pruning)} pruning method(s)",
                                  key_path="sparsity", fix="give one cumulative target per method, or a single value")
            if any(b < a for a, b in zip(self.sparsity, self.sparsity[1:])):
                raise ConfigError("per-method sparsity targets are cumulative and must not decrease",
                                  key_path="sparsity", fix="e.g. --sparsity 0.3 --sparsity 0.6 for structured,l1")
        return self

    @property
    def pruning_methods(self) -> list[str]:
        return [m for m in self.methods if m != "none"]

    def method_targets(self) -> list[tuple[str, float]]:
        """``(method, cumulative target)`` for every pruning method, in order."""
        pruning = self.pruning_methods
        if not pruning:
            return []
        if isinstance(self.sparsity, list):
            return list(zip(pruning, self.sparsity))
        keep_each = (1.0 - float(self.sparsity)) ** (1.0 / len(pruning))
        targets = [1.0 - keep_each ** (i + 1) for i in range(len(pruning))]
        targets[-1] = float(self.sparsity)
        return list(zip(pruning, targets))

    def resolved_prune_epochs(self) -> int:
        return self.prune_epochs

    def resolved_finetune_epochs(self) -> int:
        if self.finetune_epochs is not None:
            return self.finetune_epochs
        return 2 if self.pruning_methods else 0

    def resolved_finetune_lr(self) -> float:
        """``lr / 10`` after methods that train while pruning (their weights have adapted already);
        the full ``lr`` once a one-shot cut (l1, global, structured) is among them, which must retrain
        (LeNet-5/digits at 80 %: l1 0.74 -> 0.89, structured 0.62 -> 0.84 in the same 2 epochs)."""
        if self.finetune_lr is not None:
            return self.finetune_lr
        from .prune import PRUNE_METHODS

        one_shot = any(not PRUNE_METHODS.get(m).trains for m in self.pruning_methods)
        return self.lr if one_shot else self.lr / 10


def load_train_config(data: dict[str, Any], *, source: str | Path | None = None, key_prefix: str = "") -> TrainConfig:
    """Validate plain data (a YAML section, CLI flags) into a ``TrainConfig``; every problem becomes one
    ``ConfigError`` naming the key path (prefixed with ``key_prefix``) and, when given, the file."""
    from ..errors import ProblemCollector

    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        problems = ProblemCollector()
        for err in exc.errors():
            path = ".".join(str(p) for p in (key_prefix, *err["loc"]) if p != "")
            fix = "remove the key" if err["type"] == "extra_forbidden" else "see `sparse-hw train --help`"
            problems.add(err["msg"], file=source, key_path=path or None, fix=fix)
        problems.raise_if_any(ConfigError)
        raise
