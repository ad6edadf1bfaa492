"""Runs a real ``sparse-hw`` process on hostile input and returns what a user would see."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m sparse_hw ARGS`` with a timeout (a hang fails the test instead of blocking it)."""
    full_env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="400", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "sparse_hw", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )


def assert_refused(proc: subprocess.CompletedProcess, *, names: str | Path, says: str) -> str:
    """Exit 2, no traceback, one error naming ``names`` and saying ``says``; returns stderr."""
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], err[-2000:])
    assert "Traceback" not in err and "internal error" not in err, err[-2000:]
    assert str(names) in err, err[-2000:]
    assert says in err, err[-2000:]
    assert "Fix:" in err, err[-2000:]
    return err
