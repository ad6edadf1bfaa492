"""Figures: compared with golden PNGs, redrawn from the CSV tables alone, and each function on its own."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
import report_fixture_data as fx
from matplotlib.figure import Figure
from matplotlib.testing.compare import compare_images

from sparse_hw.report import figures as figs
from sparse_hw.report import plots, report

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
GOLDEN_FIGURES = (f"energy_breakdown__{fx.MODEL}", f"ratio_per_layer__{fx.MODEL}")
#: RMS difference (0-255 grey levels) allowed against a golden PNG: anti-aliasing noise passes, a moved
#: bar, a new label or another colour does not.
TOLERANCE = 2.0


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fig")
    return report([fx.write_run(root / "run")], out=root / "out", formats=("png",)).out


@pytest.mark.parametrize("stem", GOLDEN_FIGURES)
def test_figure_matches_golden(report_dir: Path, stem: str) -> None:
    expected = GOLDEN / f"{stem}.png"
    if not expected.is_file():
        pytest.fail(f"golden figure {expected} is missing: run `python scripts/regen_report_goldens.py`")
    diff = compare_images(str(expected), str(report_dir / "figures" / f"{stem}.png"), tol=TOLERANCE)
    assert diff is None, f"{stem} differs from its golden PNG: {diff}"


def test_make_figures_script_redraws_from_csv(report_dir: Path, tmp_path: Path, capsys) -> None:
    make_figures = _script("make_figures")
    assert make_figures.main([str(report_dir), "--out", str(tmp_path / "again"), "--format", "png"]) == 0
    drawn = sorted(p.name for p in (tmp_path / "again").iterdir())
    assert drawn == sorted(p.name for p in (report_dir / "figures").iterdir())
    for name in drawn:
        assert (
            compare_images(str(report_dir / "figures" / name), str(tmp_path / "again" / name), tol=0) is None
        )
    assert "wrote 6 figure files" in capsys.readouterr().out
    assert make_figures.main([str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "summary.csv" in capsys.readouterr().err


def test_golden_script_knows_the_compared_figures() -> None:
    assert _script("regen_report_goldens").GOLDEN_FIGURES == GOLDEN_FIGURES


def test_every_figure_function_returns_a_labelled_figure(report_dir: Path) -> None:
    summary, layers, eb, wh = figs.read_tables(report_dir)
    made = {
        "energy_breakdown": plots.energy_breakdown_figure(eb, layers, fx.MODEL),
        "ratio_per_layer": plots.ratio_per_layer_figure(layers, summary, fx.MODEL),
        "energy_per_mac": plots.energy_per_mac_figure(summary, layers, fx.MODEL),
        "density": plots.density_figure(layers, fx.MODEL),
        "weight_histogram": plots.weight_histogram_figure(wh, layers, fx.MODEL),
        "accuracy": plots.accuracy_energy_figure(summary, fx.MODEL),
    }
    for name, fig in made.items():
        assert isinstance(fig, Figure), name
        width, height = fig.get_size_inches()
        assert 3.5 <= width <= 7.0 and height <= 9.0, name
        for ax in fig.axes:
            if ax.has_data() and ax.get_subplotspec().is_first_col():  # inner panels share the row's y axis
                assert ax.get_ylabel(), f"{name}: unlabelled y axis"
            if ax.has_data() and ax.get_subplotspec().is_last_row() and name != "energy_per_mac":
                assert ax.get_xlabel() or ax.get_xticklabels(), f"{name}: unlabelled x axis"
    # Units are named on the axes; every panel of the breakdown says what its arch exploits.
    assert made["energy_breakdown"].axes[0].get_ylabel().endswith("Energy (nJ)")
    titles = [ax.get_title() for ax in made["energy_breakdown"].axes[:3]]
    assert titles == [f"{a}\nexploits: {e}" for a, e in fx.ARCHS.items()]
    assert made["energy_per_mac"].axes[0].get_ylabel() == "Energy per MAC (pJ)"
    assert made["accuracy"].axes[0].get_xlabel() == "Network energy (nJ)"
    assert made["density"].axes[0].get_ylim() == (0.0, 1.05)


def test_figures_without_data_are_skipped() -> None:
    empty = pd.DataFrame(columns=["model", "checkpoint", "layer", "bin_lo", "bin_hi", "count"])
    assert plots.weight_histogram_figure(empty, empty, "m") is None
    summary = pd.DataFrame(
        {
            "model": ["m"],
            "checkpoint": ["c"],
            "accuracy": [float("nan")],
            "energy_pj": [1.0],
            "checkpoint_label": ["dense"],
            "arch": ["a"],
            "arch_exploits": ["none"],
            "backend": ["builtin"],
        }
    )
    assert plots.accuracy_energy_figure(summary, "m") is None


@pytest.mark.parametrize(
    ("pj", "divisor", "unit"),
    [(10.0, 1.0, "pJ"), (2e3, 1e3, "nJ"), (3e8, 1e6, "µJ"), (4e11, 1e9, "mJ"), (5e12, 1e12, "J")],
)
def test_energy_units(pj: float, divisor: float, unit: str) -> None:
    assert plots.energy_scale(pj) == (divisor, unit)


def test_palette_is_colour_blind_safe_and_hatches_extend_it() -> None:
    assert plots.PALETTE[:3] == ("#0072B2", "#E69F00", "#009E73")
    assert plots.hatch(0) == "" and plots.hatch(len(plots.PALETTE)) != ""
    assert plots.color(len(plots.PALETTE)) == plots.PALETTE[0]
