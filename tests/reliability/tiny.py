"""Tiny inputs for the reliability tests: a pruned LeNet-5 checkpoint and its extract folder (seconds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

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
    """Every entry under ``root`` (hidden ones and links too): files with their bytes, folders as None, a
    link as its target (never followed: a link to a folder outside is one entry, not that folder's files)."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            out[rel] = os.readlink(p).encode() if p.is_symlink() else None if p.is_dir() else p.read_bytes()
    return out


def cli_in(args: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m sparse_hw ARGS`` run in ``cwd`` (the case folder), one thread, wide lines, no stdin."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", COLUMNS="400")
    return subprocess.run([sys.executable, "-m", "sparse_hw", *args], check=False, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env, stdin=subprocess.DEVNULL)


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


@dataclass(frozen=True)
class Case:
    """A hostile input: its argv builder (gets the base inputs and the case folder, the process's working
    folder) and the words the error must contain (the file or flag, the key, what is wrong)."""

    build: Callable[[Path, Path], list[str]]
    says: tuple[str, ...]


#: A one-checkpoint run configuration (LeNet-5 on digits, 1 epoch): what the run-config cases edit.
RUN = {
    "name": "bad",
    "out": "out",
    "train": {"model": "lenet5", "data": "digits", "epochs": 1, "measure_latency": False},
    "checkpoints": [{"name": "dense"}],
    "extract": {"calib_samples": 8},
    "simulate": {"archs": ["eyeriss_like"]},
}


def run_config(case: Path, **changes) -> list[str]:
    """``RUN`` with top-level ``changes`` written to ``case/run.yaml``; the argv that runs it."""
    (case / "run.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(RUN)) | changes))
    return ["run", "run.yaml"]


def assert_case_refused(case: Case, base: Path, folder: Path) -> None:
    """Run ``case`` in ``folder``: exit 2, no traceback or "internal error", its words and a fix in the
    error, and ``folder`` (every input and the ``--out`` target) unchanged byte for byte."""
    args = case.build(base, folder)
    before = snapshot(folder)
    proc = cli_in(args, folder)
    err = " ".join(proc.stderr.split())  # one line: rich wraps long messages
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-1500:], proc.stderr[-1500:])
    assert "Traceback" not in proc.stderr + proc.stdout and "internal error" not in err, err[-3000:]
    for word in case.says:
        assert word in err, (word, err[-3000:])
    assert "Fix:" in err, err[-3000:]
    assert snapshot(folder) == before, "the refused command wrote or deleted files"
