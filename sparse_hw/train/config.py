"""``TrainConfig``: everything one training run needs, validated before any work starts."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError
from ..limits import MAX_SEED
from ..strict_numbers import NoBoolNumbers

# Types and bounds of every dataset option (``--data-opt``, ``data_options:``, and a checkpoint's recorded
# ``dataset_options``): a bad value is refused here, before a dataset is built, instead of failing inside
# the reader (``n_points=abc`` was an internal error) or allocating what a hostile file asks for.
_INT, _FLOAT, _BOOL, _STR = "an integer", "a number", "true or false", "text"
_DATA_OPTION_RULES: dict[str, tuple[str, float | None, float | None, bool]] = {
    # name: (kind, lowest, highest, None allowed)
    "n_points": (_INT, 16, 2**17, False),
    "per_class_train": (_INT, 1, 10**5, False),
    "per_class_test": (_INT, 1, 10**5, False),
    "noise": (_FLOAT, 0.0, 1e3, False),
    "rotation": (_STR, None, None, False),
    "scale_low": (_FLOAT, 1e-6, 1e6, False),
    "scale_high": (_FLOAT, 1e-6, 1e6, False),
    "classes": (_INT, 2, 1000, True),
    "test_fraction": (_FLOAT, 1e-9, 1 - 1e-9, False),
    "image_size": (_INT, 4, 4096, False),
    "grayscale": (_BOOL, None, None, False),
    "normals": (_BOOL, None, None, False),
}
#: Epochs of one phase: more is a typo or a resource bomb in a downloaded run config, not a study.
MAX_EPOCHS = 10_000
#: Coordinates a generated synthetic-shapes dataset may hold in all (2^26 floats is 256 MiB, 13 times the
#: default 140 x 12 clouds of 1024 points).
MAX_SYNTHETIC_FLOATS = 2**26


def _option_problem(kind: str, low: float | None, high: float | None, value: Any) -> str | None:
    import math

    if kind == _BOOL:
        return None if isinstance(value, bool) else f"must be {kind}, got {value!r}"
    if kind == _STR:
        return None if isinstance(value, str) else f"must be {kind}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be {kind}, got {value!r}"
    if not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    if kind == _INT and value != int(value):
        return f"must be {kind}, got {value!r}"
    if (low is not None and value < low) or (high is not None and value > high):
        return f"must be between {low:g} and {high:g}, got {value!r}"
    return None


def dataset_option_problems(options: Any) -> list[tuple[str, str]]:
    """``(option, what is wrong)`` for every dataset option of the wrong type or out of bounds.

    Unknown option names are left to ``sparse_hw.train.data.resolve_options`` (which knows each
    dataset's own set); here only values are judged, the same way for user flags and checkpoint metadata.
    """
    if not isinstance(options, dict):
        return [("data_options", f"must be a mapping of option: value, got {options!r}")]
    out = []
    for key, value in options.items():
        rule = _DATA_OPTION_RULES.get(str(key))
        if rule is None:
            continue
        kind, low, high, nullable = rule
        if value is None and nullable:
            continue
        problem = _option_problem(kind, low, high, value)
        if problem:
            out.append((str(key), problem))
    if not out and "n_points" in options:
        per_class = int(options.get("per_class_train", 100)) + int(options.get("per_class_test", 40))
        total = per_class * int(options.get("classes") or 12) * int(options["n_points"]) * 3
        if "per_class_train" in options and total > MAX_SYNTHETIC_FLOATS:
            out.append(("n_points", (f"{per_class} samples per class of {options['n_points']} points make {total:,} "
                                     f"floats, more than the {MAX_SYNTHETIC_FLOATS:,} allowed")))
    return out


class TrainConfig(NoBoolNumbers):  # `epochs: true` is not 1 epoch
    """One training (and pruning) run; ``sparse-hw train`` flags and ``run`` configs map onto these fields."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

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
    nm: str = "2:4"
    """N:M pattern of the ``nm`` method (``2:4``, ``4:8``, ``1:4``...): N of every M weights along the input
    channels are kept. ``nm`` needs no ``sparsity``: its target is ``1 - N/M``."""
    epochs: int = Field(10, ge=0, le=MAX_EPOCHS)
    """Dense training epochs before pruning."""
    prune_epochs: int = Field(5, ge=0, le=MAX_EPOCHS)
    """Training epochs of each method that trains while pruning (gmp, admm)."""
    finetune_epochs: int | None = Field(None, ge=0, le=MAX_EPOCHS)
    """Fine-tuning epochs after all methods (masks kept); default 2 when pruning, else 0."""
    lr: float = Field(3e-3, gt=0)
    """Learning rate of dense training and of the gmp/admm phases (cosine decay within each phase)."""
    finetune_lr: float | None = Field(None, gt=0)
    """Learning rate of the fine-tuning phase; default ``lr / 10`` after gmp/admm alone, ``lr`` when a
    one-shot method (l1, global, structured) is among the methods."""
    optimizer: Literal["adam", "sgd"] = "adam"
    momentum: float = Field(0.9, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(32, ge=2, le=2**16)
    seed: int = Field(0, ge=0, le=MAX_SEED)
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
    threads: int | None = Field(1, ge=1, le=256)  # `--threads 100000`: OpenMP's pool exhausted memory, a segfault
    """torch intra-op threads for the run; None = torch's default. One by default: the models here run many
    small ops (PointNet++'s sampling loop, 8x8 digits), where OpenMP's thread hand-off dominates; on the
    2-core machines this project targets a PointNet++ forward+backward took 0.3 s with one thread and
    4.9 s with two."""
    measure_latency: bool = True
    """Measure CPU inference latency at batch 1 and 32 before and after pruning."""
    latency_repeats: int = Field(5, ge=1, le=1000)
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

        self._check_model_and_data()
        for m in self.methods:
            if m not in PRUNE_METHODS:
                close = difflib.get_close_matches(m, PRUNE_METHODS.list(), n=1)
                raise ConfigError(f"unknown pruning method {m!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
                                  key_path="methods", fix=f"use one of: {', '.join(PRUNE_METHODS.list())}")
        if not self.methods:
            self.methods = ["none"]
        pruning = self.pruning_methods
        self._check_nm()
        if any(m != "nm" for m in pruning) and self.sparsity is None:
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

    def _check_nm(self) -> None:
        from .prune.nm import parse_nm

        try:
            parse_nm(self.nm)
        except ValueError as exc:
            raise ConfigError(str(exc), key_path="nm", fix="pass e.g. --nm 2:4, --nm 4:8 or --nm 1:4") from None

    def _check_model_and_data(self) -> None:
        """Model name and size, dataset spec and options: refused here, before any work starts."""
        from ..errors import SparseHwError
        from .data import parse_spec
        from .models import MODELS

        if self.model not in MODELS:
            close = difflib.get_close_matches(self.model, MODELS.list(), n=1)
            raise ConfigError(f"unknown model {self.model!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
                              key_path="model", fix=f"use one of: {', '.join(MODELS.list())}")
        try:
            parse_spec(self.data)
        except SparseHwError as exc:
            raise ConfigError(exc.problems[0].message, key_path="data", fix=exc.fix) from None
        for key, problem in dataset_option_problems(self.data_options):
            raise ConfigError(f"dataset option {key} {problem}", key_path=f"data_options.{key}",
                              fix=f"pass e.g. --data-opt {key}=VALUE with a valid value (see `sparse-hw train --help`)")
        from .checkpoint import check_model_size

        check_model_size(self.model, self.model_kwargs, key_path="model_kwargs",
                         fix="use smaller model arguments (--model-arg)")
        if self.init_checkpoint is not None and not self.init_checkpoint.is_file():
            raise ConfigError(f"init checkpoint {self.init_checkpoint} does not exist (or is not a file)",
                              key_path="init_checkpoint", fix="check the path (--init / init_checkpoint)")

    @property
    def pruning_methods(self) -> list[str]:
        return [m for m in self.methods if m != "none"]

    def method_targets(self) -> list[tuple[str, float]]:
        """``(method, cumulative target)`` for every pruning method, in order."""
        pruning = self.pruning_methods
        if not pruning:
            return []
        if self.sparsity is None:  # only nm methods: the pattern fixes the sparsity
            from .prune.nm import parse_nm

            n, m = parse_nm(self.nm)
            return [(method, 1.0 - n / m) for method in pruning]
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


def validation_errors(exc: ValidationError) -> list[tuple[str, dict[str, Any]]]:
    """``(key path, error)`` of each problem, once per key: pydantic reports a bad ``float | list[float]``
    once per member of the union (``sparsity.float``, ``sparsity.list[float]``); the first one says it."""
    out: dict[str, dict[str, Any]] = {}
    for err in exc.errors():
        parts = [str(p) for p in err["loc"] if not (isinstance(p, str) and (p in _UNION_TAGS or "[" in p))]
        out.setdefault(".".join(parts), err)
    return list(out.items())


_UNION_TAGS = {"float", "int", "str", "bool", "none", "function-after", "function-before"}


def load_train_config(data: dict[str, Any], *, source: str | Path | None = None, key_prefix: str = "") -> TrainConfig:
    """Validate plain data (a YAML section, CLI flags) into a ``TrainConfig``; every problem becomes one
    ``ConfigError`` naming the key path (prefixed with ``key_prefix``) and, when given, the file."""
    from ..errors import ProblemCollector

    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        problems = ProblemCollector()
        for loc, err in validation_errors(exc):
            path = ".".join(p for p in (key_prefix, loc) if p)
            fix = "remove the key" if err["type"] == "extra_forbidden" else "see `sparse-hw train --help`"
            problems.add(err["msg"], file=source, key_path=path or None, fix=fix)
        problems.raise_if_any(ConfigError)
        raise
