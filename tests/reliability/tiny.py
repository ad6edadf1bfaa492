"""Tiny inputs for the reliability tests: a pruned LeNet-5 checkpoint and its extract folder (seconds)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd

from tests.extract.helpers import lenet_checkpoint

REPO = Path(__file__).resolve().parents[2]
# Bookkeeping columns that another change moves out of results.csv; compared everywhere else.
TIMING_COLUMNS = ("cache_hit", "job_seconds", "mapper_seconds")


def tiny_project(root: Path) -> tuple[Path, Path]:
    """(checkpoint, extract folder) under ``root``: 5 layers, 16 calibration samples."""
    from sparse_hw.extract.api import extract

    root.mkdir(parents=True, exist_ok=True)
    ckpt = lenet_checkpoint(root / "gmp.pt")
    extract(ckpt, out=root / "ex", calib_samples=16, batch_size=16, seed=0)
    return ckpt, root / "ex"


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every entry under ``root`` (hidden ones too): files with their bytes, folders as None."""
    out: dict[str, bytes | None] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = None if p.is_dir() else p.read_bytes()
    return out


def stable_results(folder: Path) -> dict[str, bytes]:
    """A simulate folder's result files, byte for byte (results.csv without the timing columns)."""
    out = {}
    table = pd.read_csv(folder / "results.csv")
    out["results.csv"] = table.drop(columns=[c for c in TIMING_COLUMNS if c in table]).to_csv(index=False).encode()
    out["breakdown.csv"] = (folder / "breakdown.csv").read_bytes()
    for f in sorted((folder / "mappings").iterdir()):
        out[f"mappings/{f.name}"] = f.read_bytes()
    return out


def cli(*args: str) -> list[str]:
    """argv of a real ``sparse-hw`` process."""
    return [sys.executable, "-m", "sparse_hw", *args]


def cli_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", COLUMNS="200")


def leftovers(folder: Path) -> list[str]:
    """Our hidden temporaries, backups and locks in ``folder`` (what a killed run could leave)."""
    return sorted(p.name for p in folder.iterdir() if ".sparse-hw-" in p.name or p.name.endswith(".sparse-hw.lock"))
