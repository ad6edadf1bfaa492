"""Tiny search configurations: LeNet-5 on digits, one dense epoch, a few trials, few calibration samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def tiny_config(tmp: Path, **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "name": "tiny",
        "seed": 0,
        "out": str(tmp / "out"),
        "model": "lenet5",
        "data": "digits",
        "train": {"epochs": 1},
        "archs": ["eyeriss_v2"],
        "budget": {"trials": 3},
        "space": {"layers": {"conv*": [0.0, 0.9], "fc*": [0.0, 0.95]}, "methods": ["l1"], "finetune_epochs": 0},
        "baselines": {"uniform": [0.5], "global": [0.7]},
        "extract": {"calib_samples": 16},
        "final": {"finetune_epochs": 0},
    }
    cfg.update(over)
    return cfg


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path
