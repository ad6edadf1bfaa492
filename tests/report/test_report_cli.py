"""``sparse-hw report``: exit codes, messages, options passed through, nothing half-written."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import report_fixture_data as fx
from typer.testing import CliRunner

import sparse_hw.report
from sparse_hw.cli import app
from sparse_hw.report import ReportResult
from sparse_hw.report.inputs import load_inputs
from sparse_hw.report.tables import build_tables

runner = CliRunner()


def test_help_lists_the_contract_options() -> None:
    result = runner.invoke(app, ["report", "--help"])
    assert result.exit_code == 0
    for option in ("--baseline", "--out", "--extract", "--format"):
        assert option in result.output


def test_folder_without_results_exits_2(tmp_path: Path) -> None:
    (tmp_path / "not_a_run").mkdir()
    result = runner.invoke(app, ["report", str(tmp_path / "not_a_run"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "no results.csv in this folder" in result.stderr
    assert str(tmp_path / "not_a_run") in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_baseline_exits_2(tmp_path: Path) -> None:
    sim = fx.write_simulate_dir(tmp_path / "sim")
    result = runner.invoke(app, ["report", str(sim), "--out", str(tmp_path / "out"), "--baseline", "tpu"])
    assert result.exit_code == 2
    assert "baseline architecture 'tpu' is not in the results" in result.stderr
    assert "eyeriss_like, eyeriss_like_gating, eyeriss_v2" in result.stderr
    assert not (tmp_path / "out").exists()


def test_options_reach_the_library(tmp_path: Path) -> None:
    sim = fx.write_simulate_dir(tmp_path / "sim")
    tables = build_tables(load_inputs([sim]))
    fake = ReportResult(tmp_path / "out", tables.summary, tables.layers, (), (), tables.baseline, ("a note",))
    with mock.patch.object(sparse_hw.report, "report", autospec=True, return_value=fake) as called:
        result = runner.invoke(
            app,
            [
                "report",
                str(sim),
                str(tmp_path / "sim2"),
                "--out",
                str(tmp_path / "out"),
                "--baseline",
                "eyeriss_v2",
                "--extract",
                str(tmp_path / "ex"),
                "--format",
                "png, svg",
            ],
        )
    assert result.exit_code == 0, result.output
    called.assert_called_once_with(
        [sim, tmp_path / "sim2"],
        baseline="eyeriss_v2",
        out=tmp_path / "out",
        extract_dirs=[tmp_path / "ex"],
        formats=["png", "svg"],
        force=False,
    )
    assert "note: a note" in result.stderr


def test_end_to_end(tmp_path: Path) -> None:
    sim = fx.write_run(tmp_path / "run")
    result = runner.invoke(
        app, ["report", str(sim), "--out", str(tmp_path / "out"), "--format", "png"], env={"COLUMNS": "160"}
    )
    assert result.exit_code == 0, result.stderr
    assert "network totals (baseline: eyeriss_like)" in result.stdout
    assert "weights+inputs" in result.stdout and "0.208" in result.stdout  # eyeriss_v2 pruned vs baseline
    assert (tmp_path / "out" / "summary.csv").is_file()
    assert (tmp_path / "out" / "figures" / f"energy_breakdown__{fx.MODEL}.png").is_file()
    assert "wrote 11 files" in result.stdout
