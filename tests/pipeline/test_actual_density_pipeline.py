"""``simulate --density actual`` and its report: the statistical search's mapping, re-evaluated on real masks.

Tiny LeNet-5 (5 layers, 16 calibration samples) on one Eyeriss v2 PE, which exploits weight and input
sparsity, so the masks change its cycles and energy.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sparse_hw.errors import ConfigError
from sparse_hw.extract.api import extract
from sparse_hw.pipeline import model_files, report, simulate
from tests.extract.helpers import lenet_checkpoint

ARCH = "eyeriss_v2_pe"
ACTUAL = ("cycles_statistical", "cycles_actual", "cycles_stat_error",
          "energy_pj_statistical", "energy_pj_actual", "energy_stat_error")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("actual")
    ckpt = lenet_checkpoint(root / "gmp.pt")
    ex = root / "ex"
    extract(ckpt, out=ex, calib_samples=16, batch_size=16, seed=0, masks=True)
    sim = simulate([ex], [ARCH], out=root / "sim", budget_s=1, workers=1, density="actual")
    return root, ex, sim


def test_results_have_both_models(project):
    _, _, sim = project
    table = pd.read_csv(sim / "results.csv")
    assert all(c in table.columns for c in ACTUAL)
    assert len(table) == 5
    # the statistical numbers are the mapped result's; the error is statistical / actual - 1
    assert (table["cycles"] == table["cycles_statistical"]).all()
    assert (table["energy_pj"] == table["energy_pj_statistical"]).all()
    err = table["cycles_statistical"] / table["cycles_actual"] - 1
    assert (err - table["cycles_stat_error"]).abs().max() < 1e-12
    assert (table["cycles_actual"] != table["cycles_statistical"]).any()  # the masks change something
    text = (sim / "results.csv").read_text()
    assert str(project[0]) not in text  # no paths in the results


def test_actual_equals_model_on_the_real_data_problem(project):
    _, ex, sim = project
    table = pd.read_csv(sim / "results.csv")
    for _, row in table.iterrows():
        stem = f"lenet5__{row['checkpoint']}__{int(row['order']):03d}_{row['layer']}__{ARCH}"
        mapping = sim / "mappings" / f"{stem}.yaml"
        problem = (ex / row["mask_file"]).with_suffix(".yaml")
        ev = model_files([problem, mapping], arch=ARCH)
        assert ev.cycles == row["cycles_actual"], row["layer"]
        assert ev.energy_pj == pytest.approx(row["energy_pj_actual"], rel=1e-12), row["layer"]


def test_report_shows_deviation_and_figure(project):
    root, _, sim = project
    res = report([sim], out=root / "rep")
    assert all(c in res.layers.columns for c in ACTUAL)
    written = pd.read_csv(root / "rep" / "layers.csv")
    assert written["cycles_stat_error"].notna().all() and written["energy_stat_error"].notna().all()
    figures = {p.name for p in res.figures}
    assert "actual_vs_statistical__lenet5.png" in figures
    assert (root / "rep" / "figures" / "actual_vs_statistical__lenet5.png").stat().st_size > 1000


def test_actual_needs_masks(tmp_path):
    ckpt = lenet_checkpoint(tmp_path / "g.pt")
    extract(ckpt, out=tmp_path / "ex", calib_samples=4, batch_size=4)
    with pytest.raises(ConfigError, match="extract --masks"):
        simulate([tmp_path / "ex"], [ARCH], out=tmp_path / "sim", budget_s=1, density="actual")
    with pytest.raises(ConfigError, match="unknown density"):
        simulate([tmp_path / "ex"], [ARCH], out=tmp_path / "sim", budget_s=1, density="exact")


def test_statistical_run_unchanged(project, tmp_path):
    """Without --density actual, results.csv has no actual columns."""
    _, ex, sim = project
    plain = simulate([ex], [ARCH], out=tmp_path / "sim", budget_s=1, workers=1, cache=tmp_path / "c.sqlite")
    table = pd.read_csv(plain / "results.csv")
    assert not any(c in table.columns for c in ACTUAL)
