"""Shared fixtures: paths come from __file__, scratch goes to tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO.parent / "shared" / "reference" / "timeloop"


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.fail(f"reference data missing at {REFERENCE}: the golden tests need ../shared/reference")
    return REFERENCE


# One torch thread in every test (and in the processes tests start): the tiny models here run many
# small ops, where OpenMP's hand-off between two threads costs more than the work (see TrainConfig.threads).
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
