"""The `sparse-hw search` configuration, validated wholly before the dense model trains.

Example (``examples/lenet5_search.yaml``)::

    name: lenet5_search
    seed: 0
    model: lenet5
    data: digits
    train: {epochs: 10}             # the dense model (TrainConfig fields), trained once and reused
    archs: [eyeriss_v2]
    budget: {trials: 40}            # or {time_s: 600}
    sampler: nsga2                  # or tpe
    space:
      layers: {"*": [0.0, 0.95]}    # glob -> [low, high] per-layer sparsity ...
      # global_target: [0.5, 0.95]  # ... or one global target plus a per-layer allocation
      methods: [l1, structured, "structured,l1", gmp, global]
      tilt: [0.0, 1.0]              # global: |w| / (layer's marginal energy per weight)^tilt (see .tilt)
      channels: [0.0, 0.4]          # per layer, the share of output channels removed for real (see .channels)
      finetune_epochs: [1, 2]       # searched range, or one number
    objectives: {hardware: energy}  # energy, cycles or edp; accuracy is always the other objective

Like `sparse_hw.runconfig`: strict pydantic models, folder-safe names, every problem reported at once
(``ConfigError``, exit 2).
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError, ProblemCollector
from ..io import load_yaml
from ..limits import MAX_SEED
from ..runconfig import _folder_name
from ..strict_numbers import NoBoolNumbers

#: Pruning methods a trial may apply to the dense checkpoint, one layer at a time (see .prune).
SEARCH_METHODS = ("l1", "structured", "gmp", "global")
HARDWARE_METRICS = ("energy", "cycles", "edp")


class _Strict(NoBoolNumbers):  # `seed: true` ran a whole search
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _check_range(v: list[float], *, what: str) -> list[float]:
    if len(v) != 2 or v[0] > v[1]:
        raise ValueError(f"{what} is [low, high] with low <= high, got {v}")
    if not all(0.0 <= x < 1.0 for x in v):
        raise ValueError(f"sparsity outside [0, 1): {v}")
    return v


class Space(_Strict):
    """What a trial chooses."""

    layers: dict[str, list[float]] | None = None
    """Per-layer sparsity: layer glob -> [low, high]; the first matching glob bounds each layer."""
    global_target: list[float] | None = None
    """Global target [low, high], spread over layers by a searched allocation (see .prune.allocate)."""
    allocation: list[float] = Field(default_factory=lambda: [0.25, 4.0])
    """Range of each layer's allocation weight in global-target mode (log-uniform)."""
    tilt: list[float] = Field(default_factory=lambda: [0.0, 1.0])
    """Range of the hardware-cost tilt of ``global`` pruning: each weight's |w| is divided by (its layer's
    marginal hardware cost per weight over the network's, measured by the engine on the dense network:
    `.tilt`)^tilt, so layers whose weights cost more are pruned harder; 0 is plain global magnitude.
    [0, 0] turns the tilt off (and skips the measurement)."""
    methods: list[str] = Field(default_factory=lambda: ["l1"])
    """Methods or compositions (``structured,l1``) among gmp, l1, global, structured."""
    finetune_epochs: int | list[int] = 1
    """Fine-tune epochs of a trial (the accuracy proxy): one number, or a searched [low, high]."""
    channels: list[float] = Field(default_factory=lambda: [0.0, 0.0])
    """Range of the fraction of each layer's output channels a trial removes (really removed, so the hardware
    costs a smaller dense network: `.channels`), searched per layer as ``channels.<layer>`` before the weight
    method prunes what is left; [0, 0] (the default): no channel cut. With a low of 0, half of each layer's
    prior is "no cut" (the parameter runs from -high to high; a value <= 0 cuts nothing), so that a trial
    narrows some layers, not all of them."""
    channel_max_prime: int = Field(7, ge=2, le=97)
    """Kept widths are rounded to widths, and consumer input widths, with no prime factor above this
    (`.channels`: a prime width cannot be split over the PE array)."""
    bucket: float = Field(0.05, gt=0, le=0.5)
    """Density bucket width of the mapping cache: a layer is re-mapped only when a density leaves its bucket."""

    @field_validator("layers")
    @classmethod
    def _layers(cls, v: dict[str, list[float]] | None) -> dict[str, list[float]] | None:
        for glob, rng in (v or {}).items():
            _check_range(rng, what=f"layers[{glob!r}]")
        return v

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: list[float]) -> list[float]:
        return _check_range(v, what="channels")

    @field_validator("global_target")
    @classmethod
    def _target(cls, v: list[float] | None) -> list[float] | None:
        return None if v is None else _check_range(v, what="global_target")

    @field_validator("allocation")
    @classmethod
    def _alloc(cls, v: list[float]) -> list[float]:
        if len(v) != 2 or not 0 < v[0] <= v[1]:
            raise ValueError(f"allocation is [low, high] with 0 < low <= high, got {v}")
        return v

    @field_validator("tilt")
    @classmethod
    def _tilt(cls, v: list[float]) -> list[float]:
        if len(v) != 2 or not 0 <= v[0] <= v[1] <= 8:
            raise ValueError(f"tilt is [low, high] with 0 <= low <= high <= 8, got {v}")
        return v

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, v: Any) -> Any:
        items = [v] if isinstance(v, str) else v
        if isinstance(items, list):
            return [",".join(p.strip() for p in str(m).split(",") if p.strip()) for m in items]
        return v

    @field_validator("finetune_epochs")
    @classmethod
    def _ft(cls, v: int | list[int]) -> int | list[int]:
        values = v if isinstance(v, list) else [v]
        if (isinstance(v, list) and (len(v) != 2 or v[0] > v[1])) or any(x < 0 for x in values):
            raise ValueError(f"finetune_epochs is a number >= 0 or [low, high], got {v}")
        return v

    @model_validator(mode="after")
    def _check(self) -> Space:
        if (self.layers is None) == (self.global_target is None):
            raise ValueError("give either `layers` (per-layer sparsity) or `global_target` (plus allocation)")
        if self.layers is not None and not self.layers:
            raise ValueError("empty search space: `layers` names no layer glob")
        if not self.methods:
            raise ValueError("empty search space: no pruning method")
        for m in self.methods:
            bad = [p for p in m.split(",") if p not in SEARCH_METHODS]
            if bad:
                raise ValueError(f"unknown method {bad[0]!r} in {m!r}: use {', '.join(SEARCH_METHODS)} or "
                                 "compositions such as 'structured,l1'")
        return self

    @property
    def mode(self) -> str:
        return "per_layer" if self.layers is not None else "global"

    def method_choices(self) -> list[str]:
        """The configured methods plus ``global``: the global-magnitude baseline is always seeded."""
        return list(dict.fromkeys([*self.methods, "global"]))


class Budget(_Strict):
    trials: int | None = Field(None, ge=1)
    """Completed trials in all (over every worker), baselines included."""
    time_s: float | None = Field(None, gt=0)
    """Wall-clock seconds of this process's search (the final front's training comes after)."""

    @model_validator(mode="after")
    def _one(self) -> Budget:
        if self.trials is None and self.time_s is None:
            raise ValueError("give budget.trials or budget.time_s")
        return self


class Baselines(_Strict):
    uniform: list[float] = Field(default_factory=lambda: [0.5, 0.7, 0.9])
    """Uniform per-layer sparsity levels, pruned with the first configured method."""
    global_: list[float] = Field(default_factory=lambda: [0.7, 0.9], alias="global")
    """Global magnitude targets."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)

    @field_validator("uniform", "global_")
    @classmethod
    def _levels(cls, v: list[float]) -> list[float]:
        bad = [x for x in v if not 0.0 <= x < 1.0]
        if bad:
            raise ValueError(f"sparsity outside [0, 1): {bad[0]}")
        return v


class Objectives(_Strict):
    hardware: Literal["energy", "cycles", "edp"] = "energy"
    """Minimized on every architecture; held-out accuracy is maximized."""


class ExtractOptions(_Strict):
    calib_samples: int = Field(64, ge=1)


class SimulateOptions(_Strict):
    budget_s: float | None = Field(None, gt=0)
    """Mapper time budget per (layer, architecture, density bucket)."""
    metrics: list[str] | None = None


class FinalOptions(_Strict):
    train: bool = True
    """Train and simulate the front in full after the search (off: the search's proxy figures only)."""
    finetune_epochs: int = Field(5, ge=0)
    """Fine-tune epochs of every front point's full training (after the same pruning)."""
    baselines: bool = True
    """Train and simulate every baseline in full too, so that summary.md also compares the front with them at
    equal training (a short proxy can favour one pruning method over another)."""


class SearchConfig(_Strict):
    """One search: the dense model, the space, the objectives, the budget and where the study lives."""

    name: str
    seed: int = Field(0, ge=0, le=MAX_SEED)
    out: Path | None = None
    """Output folder (default ``results/<name>``)."""
    model: str
    data: str = "digits"
    data_options: dict[str, Any] = Field(default_factory=dict)
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    """Dense-training settings (`TrainConfig` fields: epochs, lr, batch_size...)."""
    archs: list[str] = Field(min_length=1)
    budget: Budget
    sampler: Literal["nsga2", "tpe"] = "nsga2"
    storage: str | None = None
    """Optuna RDB URL; default ``sqlite:///<out>/study.db``."""
    cache: Path | None = None
    """Mapping cache folder (default ``<out>/cache``); searches on the same architectures may share one."""
    space: Space
    trials: list[dict[str, Any]] | None = None
    """A fixed trial list (Optuna parameter dicts) run instead of sampling: reproducible across workers."""
    baselines: Baselines = Field(default_factory=Baselines)
    objectives: Objectives = Field(default_factory=Objectives)
    extract: ExtractOptions = Field(default_factory=ExtractOptions)
    simulate: SimulateOptions = Field(default_factory=SimulateOptions)
    final: FinalOptions = Field(default_factory=FinalOptions)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _folder_name(v)

    @field_validator("out")
    @classmethod
    def _out(cls, v: Path | None) -> Path | None:
        if v is not None and (".." in v.parts or not str(v).strip()):
            raise ValueError(f"{str(v)!r} climbs out of its folder with '..' (or is empty)")
        return v

    @field_validator("cache")
    @classmethod
    def _cache(cls, v: Path | None) -> Path | None:  # `cache: ../../c` wrote outside, as `out:` could
        if v is not None and (".." in v.parts or not str(v).strip()):
            raise ValueError(f"{str(v)!r} climbs out of its folder with '..' (or is empty)")
        return v

    def out_dir(self) -> Path:
        from ..resources import RESULTS_DIR

        return Path(self.out) if self.out is not None else RESULTS_DIR / self.name

    def cache_dir(self) -> Path:
        return Path(self.cache) if self.cache is not None else self.out_dir() / "cache"

    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.out_dir() / 'study.db').resolve()}"

    def study_name(self) -> str:
        """optuna-dashboard lists studies by name: the config name plus the model, data and objective."""
        return f"sparse-hw-{self.name}-{self.model}-{self.data.split(':')[0]}-{self.objectives.hardware}"

    def dense_train_config(self) -> dict[str, Any]:
        return {"epochs": 10, **self.train, "model": self.model, "data": self.data, "data_options": self.data_options,
                "model_kwargs": self.model_kwargs, "seed": self.seed, "methods": ["none"], "measure_latency": False}


_FIXES = {
    "out": "give a folder inside the current one, or an absolute path, without '..'",
    "cache": "give a folder inside the current one, or an absolute path, without '..'",
    "name": "use a plain name such as lenet5_search",
    "layers": "use e.g. layers: {'conv*': [0.0, 0.9]}",
    "global_target": "use e.g. global_target: [0.5, 0.95]",
    "tilt": "use e.g. tilt: [0.0, 1.0] (or [0, 0]: plain global magnitude)",
}


def load_search_config(path: str | Path, *, storage: str | None = None) -> SearchConfig:
    """Read and validate a search configuration; every problem is reported at once (exit 2), before any
    training: unknown layer globs, sparsity outside [0, 1), an unreachable storage, an empty space."""
    path = Path(path)
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("a search configuration is a YAML mapping", file=path,
                          fix="see examples/lenet5_search.yaml")
    data = dict(data)
    if storage is not None:
        data["storage"] = storage
    try:
        cfg = SearchConfig.model_validate(data)
    except ValidationError as exc:
        problems = ProblemCollector()
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                fix = "remove it (known keys are listed in sparse_hw/search/config.py)"
            else:
                fix = _FIXES.get(str(err["loc"][-1]) if err["loc"] else "", "give a valid value")
            problems.add(err["msg"].removeprefix("Value error, "), file=path, key_path=loc or None, fix=fix)
        problems.raise_if_any(ConfigError)
        raise
    problems = ProblemCollector()
    layers = _check_model(cfg, path, problems)
    if layers is not None:
        _check_globs(cfg, layers, path, problems)
    _check_archs(cfg, path, problems)
    _check_trials(cfg, layers, path, problems)
    if not problems:
        _check_storage(cfg, path, problems)
    problems.raise_if_any(ConfigError)
    return cfg


def _check_model(cfg: SearchConfig, path: Path, problems: ProblemCollector) -> list[str] | None:
    """The dense TrainConfig, and the prunable layer names of the model (built untrained, no training)."""
    from ..train.config import TrainConfig

    try:
        TrainConfig.model_validate(cfg.dense_train_config())
    except ValidationError as exc:
        for err in exc.errors():
            problems.add(err["msg"], file=path, key_path="train." + ".".join(str(p) for p in err["loc"]),
                         fix="see TrainConfig")
        return None
    except ConfigError as exc:
        for prob in exc.problems:
            problems.add(prob.message, file=path, key_path=prob.key_path, fix=prob.fix)
        return None
    from .prune import layer_names

    return layer_names(cfg)


def _check_globs(cfg: SearchConfig, layers: list[str], path: Path, problems: ProblemCollector) -> None:
    for glob in cfg.space.layers or {}:
        if not any(fnmatch.fnmatchcase(name, glob) for name in layers):
            problems.add(f"layer glob {glob!r} matches no prunable layer of {cfg.model}", file=path,
                         key_path=f"space.layers.{glob}", fix=f"the layers are: {', '.join(layers)}")
    if cfg.space.layers and not any(_bounds(cfg, name)[1] > 0 for name in layers):
        problems.add("empty search space: every layer's sparsity range is [0, 0]", file=path,
                     key_path="space.layers", fix="give at least one layer a range with high > 0")


def _bounds(cfg: SearchConfig, layer: str) -> tuple[float, float]:
    """[low, high] of one layer: the first matching glob, else dense ([0, 0])."""
    for glob, (low, high) in (cfg.space.layers or {}).items():
        if fnmatch.fnmatchcase(layer, glob):
            return float(low), float(high)
    return 0.0, 0.0


def _check_archs(cfg: SearchConfig, path: Path, problems: ProblemCollector) -> None:
    from ..errors import SparseHwError
    from ..mapper.search import METRICS
    from ..resources import architecture_dir

    for i, arch in enumerate(cfg.archs):
        try:
            architecture_dir(arch)
        except SparseHwError as exc:
            problems.add(exc.problems[0].message, file=path, key_path=f"archs[{i}]", fix="see `sparse-hw arch list`")
    if len(set(cfg.archs)) != len(cfg.archs):
        problems.add(f"architectures repeat: {cfg.archs}", file=path, key_path="archs", fix="name each once")
    for i, metric in enumerate(cfg.simulate.metrics or []):
        if metric not in METRICS:
            problems.add(f"unknown mapper metric {metric!r}", file=path, key_path=f"simulate.metrics[{i}]",
                         fix=f"use {', '.join(METRICS)}")


def _check_trials(cfg: SearchConfig, layers: list[str] | None, path: Path, problems: ProblemCollector) -> None:
    if cfg.trials is None or layers is None:
        return
    from .space import distributions

    dists = distributions(cfg, layers)
    for i, params in enumerate(cfg.trials):
        for key, value in params.items():
            if key not in dists:
                problems.add(f"unknown parameter {key!r}", file=path, key_path=f"trials[{i}].{key}",
                             fix=f"use {', '.join(dists)}")
            elif not dists[key]._contains(dists[key].to_internal_repr(value)):
                problems.add(f"{value!r} is outside the search space of {key!r}", file=path,
                             key_path=f"trials[{i}].{key}", fix="pick a value inside the configured range")
        missing = [k for k in dists if k not in params]
        if missing:
            problems.add(f"parameters missing: {', '.join(missing)}", file=path, key_path=f"trials[{i}]",
                         fix="give every parameter of the space")


_URL = re.compile(r"^(sqlite|postgresql(\+\w+)?|mysql(\+\w+)?)://")


def _check_storage(cfg: SearchConfig, path: Path, problems: ProblemCollector) -> None:
    """Connect once now, so an unreachable server is refused before the dense model trains."""
    url = cfg.storage_url()
    if not _URL.match(url):
        problems.add(f"unsupported storage URL {url.split('@')[-1]!r}", file=path, key_path="storage",
                     fix="use sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
        return
    if url.startswith("sqlite:///"):
        folder = Path(url.removeprefix("sqlite:///")).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problems.add(f"cannot create the study's folder {folder} ({exc.strerror})", file=path,
                         key_path="storage", fix="give a sqlite path in a folder you can write to")
        return
    try:
        import sqlalchemy
    except ImportError:
        problems.add("a database storage needs the `search` extra", file=path, key_path="storage",
                     fix="pip install -e '.[search]'")
        return
    try:
        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 5} if "postgresql" in url else {})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - driver errors differ; any is "unreachable"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        problems.add(f"the storage is unreachable: {first}", file=path, key_path="storage",
                     fix="start the database server, or check the URL's host, port, user and database")
