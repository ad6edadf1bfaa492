"""The inputs the hostile-input modules start from (each module makes its own copy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.extract.helpers import lenet_checkpoint


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A tiny LeNet-5 checkpoint, its extract folder and a small simulate folder (made in-process, seconds)."""
    from sparse_hw.extract.api import extract
    from tests.report import report_fixture_data as fx

    root = tmp_path_factory.mktemp("reliability_base")
    ckpt = lenet_checkpoint(root / "ok.pt")
    extract(ckpt, out=root / "ex", calib_samples=8, batch_size=8, seed=0)
    fx.write_simulate_dir(root / "sim")
    return root
