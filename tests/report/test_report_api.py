"""The report stage end to end: every file and column, figures, manifest, atomic output."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import report_fixture_data as fx

from sparse_hw.errors import ConfigError, DataError
from sparse_hw.report import columns as col
from sparse_hw.report import figures as figs
from sparse_hw.report import report

EXPECTED_FIGURES = {f"{kind}__{fx.MODEL}" for kind in figs.FIGURE_KINDS}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("report")
    sim = fx.write_run(root / "run")
    return sim, report([sim], out=root / "out")


def test_every_file_and_column(written) -> None:
    sim, result = written
    out = result.out
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    expected = {"summary.csv", "layers.csv", "energy_breakdown.csv", "weight_hist.csv", "manifest.json"}
    expected |= {f"figures/{stem}.{fmt}" for stem in EXPECTED_FIGURES for fmt in ("png", "pdf")}
    assert names == expected
    assert {p.relative_to(out).as_posix() for p in result.files} == expected
    summary = pd.read_csv(out / "summary.csv", dtype={"checkpoint": str, "dense_checkpoint": str})
    assert list(summary.columns) == list(col.SUMMARY_COLUMNS)
    assert len(summary) == 6
    layers = pd.read_csv(out / "layers.csv")
    assert list(layers.columns) == list(col.LAYER_REPORT_COLUMNS)
    assert len(layers) == 18
    assert list(pd.read_csv(out / "energy_breakdown.csv").columns) == list(col.ENERGY_BREAKDOWN_COLUMNS)
    assert list(pd.read_csv(out / "weight_hist.csv").columns) == list(col.WEIGHT_HIST_COLUMNS)
    # Every row says which sparsity its architecture exploits.
    assert summary.set_index("arch")["arch_exploits"].to_dict() == fx.ARCHS
    # The CSV keeps full precision.
    v2 = summary[(summary["checkpoint"] == fx.PRUNED) & (summary["arch"] == "eyeriss_v2")].iloc[0]
    assert v2["energy_ratio_to_baseline"] == 2311 / 11100


def test_figures_are_real_png_and_pdf(written) -> None:
    _, result = written
    assert len(result.figures) == 2 * len(EXPECTED_FIGURES)
    for path in result.figures:
        data = path.read_bytes()
        if path.suffix == ".png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        else:
            assert data[:5] == b"%PDF-" and len(data) > 5_000
            assert b"CreationDate" not in data  # reproducible PDFs


def test_manifest_records_inputs_and_settings(written) -> None:
    sim, result = written
    manifest = json.loads((result.out / "manifest.json").read_text())
    assert manifest["stage"] == "report" and manifest["status"] == "ok"
    assert str(sim / "results.csv") in manifest["inputs"] and str(sim / "breakdown.csv") in manifest["inputs"]
    assert any(k.endswith("extract/pruned/weight_hist.csv") for k in manifest["inputs"])
    assert manifest["settings"]["baseline"] == "eyeriss_like"
    assert manifest["settings"]["dense_checkpoints"] == {fx.MODEL: fx.DENSE}
    assert manifest["settings"]["figures_skipped"] == {}
    assert "summary.csv" in manifest["outputs"] and "manifest.json" in manifest["outputs"]
    assert all(len(h) == 64 for h in manifest["inputs"].values())
    assert manifest["seeds"] == {"mapper_seed": 0}


def test_a_failed_report_leaves_the_old_folder(tmp_path: Path, monkeypatch) -> None:
    sim = fx.write_run(tmp_path / "run")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous report")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(figs, "save_figures", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        report([sim], out=out, formats=("png",), force=True)  # force: keep.txt is no report's own file
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    assert (out / "keep.txt").read_text() == "previous report"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_bad_requests(tmp_path: Path) -> None:
    sim = fx.write_run(tmp_path / "run")
    with pytest.raises(ConfigError, match="would replace an input folder"):
        report([sim], out=sim)
    with pytest.raises(ConfigError, match="would replace an input folder"):
        report([sim], out=tmp_path / "run")
    with pytest.raises(ConfigError, match="unknown figure format"):
        report([sim], out=tmp_path / "o", formats=("gif",))
    with pytest.raises(DataError, match="no results.csv"):
        report([tmp_path / "run" / "extract"], out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_histograms_from_explicit_extract_folders(tmp_path: Path) -> None:
    sim = fx.write_simulate_dir(tmp_path / "alone" / "sim", breakdown=False)
    ex = fx.write_extract_dir(tmp_path / "elsewhere" / "x", fx.PRUNED)
    result = report([sim], out=tmp_path / "o1", formats=("png",))
    skipped = json.loads((result.out / "manifest.json").read_text())["settings"]["figures_skipped"]
    assert set(skipped) == {f"weight_histogram__{fx.MODEL}", f"energy_breakdown__{fx.MODEL}"}
    assert any("no breakdown.csv" in n for n in result.notes)
    result = report([sim], out=tmp_path / "o2", extract_dirs=[ex], formats=("svg",))
    assert (result.out / "figures" / f"weight_histogram__{fx.MODEL}.svg").is_file()
    assert set(pd.read_csv(result.out / "weight_hist.csv", dtype={"checkpoint": str})["checkpoint"]) == {
        fx.PRUNED
    }
    assert any(f"{fx.MODEL}/{fx.DENSE}" in n for n in result.notes)
