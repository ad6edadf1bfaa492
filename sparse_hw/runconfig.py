"""The `sparse-hw run` configuration: train -> extract -> simulate -> report from one validated file.

Example (``examples/pointnet2_gmp.yaml``)::

    name: pointnet2_gmp
    seed: 0
    out: results/pointnet2_gmp
    train:                      # defaults of every checkpoint (sparse_hw.train.config.TrainConfig fields)
      model: pointnet2
      data: synthetic-shapes
      epochs: 8
    checkpoints:
      - name: dense
      - name: gmp90
        init_from: dense        # start from the dense checkpoint's weights
        methods: [gmp]
        sparsity: 0.9
        epochs: 0
    extract: {calib_samples: 256}
    simulate: {archs: [eyeriss_like, eyeriss_like_compressed, eyeriss_v2]}
    report: {baseline: eyeriss_like}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError, ProblemCollector
from .io import load_yaml
from .limits import MAX_SEED
from .strict_numbers import NoBoolNumbers

#: Names become folders (``results/<name>``, ``extract/<name>``): letters, digits, '_', '.', '-', starting
#: with a letter or digit, so that ``..`` or ``.hidden`` cannot leave or hide in the run folder.
_FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _folder_name(v: str) -> str:
    if not _FOLDER_NAME.fullmatch(v):
        raise ValueError(f"{v!r} is not a folder name: use letters, digits, '_', '.' or '-' only, starting with a "
                         "letter or digit (at most 100 characters)")
    return v


class _Strict(NoBoolNumbers):  # `calib_samples: true` is not 1
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class CheckpointPlan(_Strict):
    """One checkpoint to train: a name plus overrides of the shared `train` settings."""

    name: str
    """Folder-safe name of the checkpoint (``dense``, ``gmp90``...)."""
    init_from: str | None = None
    """Name of an earlier checkpoint of this run whose weights this one starts from."""
    overrides: dict[str, Any] = Field(default_factory=dict)
    """Any `TrainConfig` field (``methods``, ``sparsity``, ``epochs``...), given inline in the YAML."""

    @model_validator(mode="before")
    @classmethod
    def _collect(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = {"name", "init_from", "overrides"}
            extra = {k: v for k, v in data.items() if k not in known}
            data = {k: v for k, v in data.items() if k in known}
            data["overrides"] = {**data.get("overrides", {}), **extra}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _folder_name(v)


class ExtractPlan(_Strict):
    calib_samples: int = Field(256, ge=1)
    """Calibration samples run through each checkpoint to measure activation densities."""
    batch_size: int = Field(64, ge=1)
    dialect: str = "v0.4"
    """Timeloop dialect of the problem files: v0.3 or v0.4."""
    pad: bool = False
    """Pad dimensions with large prime factors in the problem files."""
    data: str | None = None
    """Calibration data (default: the checkpoint's own dataset)."""


class SimulatePlan(_Strict):
    archs: list[str]
    """Built-in architectures to map every layer on (see `sparse-hw arch list`)."""
    backend: str = "builtin"
    workers: int = Field(0, ge=0)
    """Parallel layer jobs; 0 = every core (at most 8). Results are identical for any value."""
    engine: str = "local"
    scheduler: str | None = None
    budget_s: float | None = Field(None, gt=0)
    """Mapper time budget per layer and architecture."""
    metrics: list[str] | None = None
    """Mapper metrics in order (default: each architecture's mapper settings)."""
    pad: bool = True


class ReportPlan(_Strict):
    baseline: str | None = None
    """Architecture every ratio is taken against (default: eyeriss_like when simulated)."""


class RunConfig(_Strict):
    """A whole study: which checkpoints to train, how to extract, where to simulate, how to report."""

    name: str
    seed: int = Field(0, ge=0, le=MAX_SEED)
    """Seed of every stage (training, calibration sampling, mapper); recorded in every manifest."""
    out: Path | None = None
    """Run folder (default ``results/<name>``)."""
    train: dict[str, Any]
    """Defaults shared by every checkpoint (`TrainConfig` fields)."""
    checkpoints: list[CheckpointPlan] = Field(min_length=1)
    extract: ExtractPlan = Field(default_factory=ExtractPlan)
    simulate: SimulatePlan
    report: ReportPlan = Field(default_factory=ReportPlan)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _folder_name(v)

    @field_validator("out", mode="before")
    @classmethod
    def _out_given(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            raise ValueError("is empty (it would mean the current folder)")
        return v

    @field_validator("out")
    @classmethod
    def _out(cls, v: Path | None) -> Path | None:
        if v is not None and ".." in v.parts:
            raise ValueError(f"{str(v)!r} climbs out of its folder with '..'")
        return v

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        names = [c.name for c in self.checkpoints]
        if len(set(names)) != len(names):
            raise ValueError(f"checkpoint names repeat: {names}")
        for i, c in enumerate(self.checkpoints):
            if c.init_from is not None and c.init_from not in names[:i]:
                raise ValueError(f"checkpoint {c.name!r} starts from {c.init_from!r}, which is not an earlier checkpoint")
        return self


_FIXES = {
    "out": "give a folder inside the current one, or an absolute path, without '..'",
    "name": "use a plain name such as lenet_gmp90",
}


def load_run_config(path: str | Path) -> RunConfig:
    """Read and validate a run configuration; every problem is reported at once (exit 2)."""
    path = Path(path)
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("a run configuration is a YAML mapping", file=path, fix="see examples/pointnet2_gmp.yaml")
    try:
        cfg = RunConfig.model_validate(dict(data))
    except ValidationError as exc:
        problems = ProblemCollector()
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            fix = "remove it (known keys are listed in sparse_hw/runconfig.py)" if err["type"] == "extra_forbidden" else (
                _FIXES.get(str(err["loc"][-1]) if err["loc"] else "", "give a valid value")
            )
            problems.add(err["msg"].removeprefix("Value error, "), file=path, key_path=loc or None, fix=fix)
        problems.raise_if_any(ConfigError)
        raise
    from .train.config import TrainConfig, validation_errors

    problems = ProblemCollector()
    for ckpt in cfg.checkpoints:
        merged = {**cfg.train, **ckpt.overrides}
        merged.setdefault("seed", cfg.seed)
        where = f"checkpoints[{ckpt.name}]"
        try:
            TrainConfig.model_validate(merged)
        except ValidationError as exc:
            for loc, err in validation_errors(exc):
                problems.add(err["msg"], file=path, key_path=f"{where}.{loc}", fix="see TrainConfig")
        except ConfigError as exc:  # TrainConfig's own checks (method names, targets), located in this file
            for prob in exc.problems:
                problems.add(prob.message, file=path, key_path=f"{where}.{prob.key_path}" if prob.key_path else where,
                             fix=prob.fix)
    _check_stages(cfg, path, problems)
    problems.raise_if_any(ConfigError)
    return cfg


def _check_stages(cfg: RunConfig, path: Path, problems: ProblemCollector) -> None:
    """Names the later stages resolve (architectures, backend, engine, dialect, dataset, metrics), checked
    now: a typo must not surface only after the checkpoints have trained."""
    from .errors import SparseHwError

    def check(key: str, fix: str, func, *args) -> None:
        try:
            func(*args)
        except SparseHwError as exc:
            problems.add(exc.problems[0].message, file=path, key_path=key, fix=exc.fix or fix)

    from .resources import architecture_dir

    for i, arch in enumerate(cfg.simulate.archs):
        check(f"simulate.archs[{i}]", "see `sparse-hw arch list`", architecture_dir, arch)
    twice = sorted({a for a in cfg.simulate.archs if cfg.simulate.archs.count(a) > 1})
    if twice:
        problems.add(f"architecture {twice[0]!r} is listed twice", file=path, key_path="simulate.archs",
                     fix="list each architecture once")
    if not cfg.simulate.archs:
        problems.add("no architecture to simulate on", file=path, key_path="simulate.archs",
                     fix="list at least one (see `sparse-hw arch list`)")
    from .backends import BACKENDS
    from .mapper.search import resolve_jobs

    check("simulate.workers", "use 0 for every core", resolve_jobs, cfg.simulate.workers)
    from .sweep import check_scheduler

    check("simulate.scheduler", "give tcp://HOST:PORT", check_scheduler, cfg.simulate.scheduler)
    check("simulate.backend", "use builtin or timeloop", BACKENDS.get, cfg.simulate.backend)
    if cfg.simulate.engine not in ("local", "dask"):
        problems.add(f"unknown engine {cfg.simulate.engine!r}", file=path, key_path="simulate.engine",
                     fix="use local or dask")
    from .mapper.search import METRICS

    for i, metric in enumerate(cfg.simulate.metrics or []):
        if metric not in METRICS:
            problems.add(f"unknown mapper metric {metric!r}", file=path, key_path=f"simulate.metrics[{i}]",
                         fix=f"use {', '.join(METRICS)}")
    if cfg.extract.dialect not in ("v0.3", "v0.4"):
        problems.add(f"unknown dialect {cfg.extract.dialect!r}", file=path, key_path="extract.dialect",
                     fix="use v0.3 or v0.4")
    if cfg.extract.data is not None:
        from .train.data import parse_spec

        check("extract.data", "see `sparse-hw train --help`", parse_spec, cfg.extract.data)
    if cfg.report.baseline is not None and cfg.report.baseline not in cfg.simulate.archs:
        problems.add(f"baseline {cfg.report.baseline!r} is not among the simulated architectures",
                     file=path, key_path="report.baseline",
                     fix=f"use one of {', '.join(cfg.simulate.archs)} or add it to simulate.archs")
