"""Report tables against hand-computed numbers: totals are sums, ratios are taken after summing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import report_fixture_data as fx

from sparse_hw.backends.timeloop_output import read_outputs
from sparse_hw.errors import ConfigError, DataError
from sparse_hw.report import breakdown_rows, build_tables
from sparse_hw.report import columns as col
from sparse_hw.report.inputs import load_inputs


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return fx.write_run(tmp_path / "run")


@pytest.fixture
def tables(run_dir: Path):
    return build_tables(load_inputs([run_dir]))


def _row(summary: pd.DataFrame, ckpt: str, arch: str) -> pd.Series:
    rows = summary[(summary["checkpoint"] == ckpt) & (summary["arch"] == arch)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_summary_sums_and_ratios_by_hand(tables) -> None:
    s = tables.summary
    assert list(s.columns) == list(col.SUMMARY_COLUMNS)
    assert len(s) == 6 and tables.baseline == "eyeriss_like"
    v2 = _row(s, fx.PRUNED, "eyeriss_v2")
    # Sums over conv1, conv2, fc.
    assert v2["energy_pj"] == 300 + 2000 + 11
    assert v2["cycles"] == 20 + 100 + 2
    assert v2["macs"] == 86_400 + 153_600 + 2_560
    assert v2["n_layers"] == 3 and v2["n_layers_missing"] == 0
    assert v2["energy_per_mac_pj"] == pytest.approx(2311 / 242_560)
    assert v2["edp_pj_cycles"] == pytest.approx(2311 * 122)
    # Ratio to the baseline architecture (eyeriss_like, same checkpoint) after summing.
    assert v2["energy_ratio_to_baseline"] == pytest.approx(2311 / 11100)
    assert v2["cycles_ratio_to_baseline"] == pytest.approx(122 / 560)
    assert v2["edp_ratio_to_baseline"] == pytest.approx(2311 * 122 / (11100 * 560))
    # Ratio to the dense checkpoint on the same architecture after summing.
    assert v2["energy_ratio_to_dense"] == pytest.approx(2311 / 12210)
    assert v2["cycles_ratio_to_dense"] == pytest.approx(122 / 672)
    # Utilization of the network = busy compute-unit cycles / cycles (cycle-weighted), not a mean.
    assert v2["utilization"] == pytest.approx((0.3 * 20 + 0.6 * 100 + 0.5 * 2) / 122)
    assert v2["weight_density"] == pytest.approx((60 + 240 + 128) / (150 + 2400 + 2560))
    assert v2["area_um2"] == fx.AREA["eyeriss_v2"]
    # run bookkeeping (mapper wall time) stays out of the report: two identical runs give identical tables
    assert "mapper_seconds" not in v2
    assert (v2["checkpoint_label"], v2["method"], v2["target_sparsity"], v2["accuracy"]) == (
        "gmp 90%",
        "gmp",
        0.9,
        0.97,
    )
    assert v2["arch_exploits"] == "weights+inputs" and v2["backend"] == "builtin"
    assert (v2["baseline_arch"], v2["dense_checkpoint"], bool(v2["is_dense"])) == (
        "eyeriss_like",
        fx.DENSE,
        False,
    )
    dense_base = _row(s, fx.DENSE, "eyeriss_like")
    assert dense_base["energy_ratio_to_baseline"] == 1.0 and dense_base["energy_ratio_to_dense"] == 1.0
    assert bool(dense_base["is_dense"]) and dense_base["checkpoint_label"] == "dense"


def test_ratios_are_not_averages_of_layer_ratios(tables) -> None:
    """Gating, pruned vs dense: layer ratios 0.556, 0.889, 0.2 average to 0.548; the network saves 14.8 %."""
    gating = _row(tables.summary, fx.PRUNED, "eyeriss_like_gating")
    assert gating["energy_ratio_to_dense"] == pytest.approx(8520 / 10000)
    layers = tables.layers[
        (tables.layers["checkpoint"] == fx.PRUNED) & (tables.layers["arch"] == "eyeriss_like_gating")
    ]
    per_layer = layers.set_index("layer")["energy_ratio_to_dense"]
    assert per_layer.to_dict() == pytest.approx({"conv1": 500 / 900, "conv2": 8000 / 9000, "fc": 20 / 100})
    assert per_layer.mean() == pytest.approx(0.548, abs=1e-3)
    assert abs(per_layer.mean() - gating["energy_ratio_to_dense"]) > 0.3
    v2 = _row(tables.summary, fx.PRUNED, "eyeriss_v2")
    v2_layers = tables.layers[
        (tables.layers["checkpoint"] == fx.PRUNED) & (tables.layers["arch"] == "eyeriss_v2")
    ]
    assert v2_layers["energy_ratio_to_baseline"].mean() == pytest.approx((0.3 + 0.2 + 0.11) / 3)
    assert v2["energy_ratio_to_baseline"] != pytest.approx(
        v2_layers["energy_ratio_to_baseline"].mean(), rel=1e-3
    )
    assert v2["energy_per_mac_pj"] != pytest.approx(v2_layers["energy_per_mac_pj"].mean(), rel=1e-2)


def test_layers_table(tables) -> None:
    lay = tables.layers
    assert list(lay.columns) == list(col.LAYER_REPORT_COLUMNS)
    assert len(lay) == 18
    # Dense first, baseline first, layers in order.
    first = lay.iloc[:3]
    assert list(first["layer"]) == ["conv1", "conv2", "fc"]
    assert set(first["checkpoint"]) == {fx.DENSE} and set(first["arch"]) == {"eyeriss_like"}
    row = lay[
        (lay["checkpoint"] == fx.PRUNED) & (lay["arch"] == "eyeriss_v2") & (lay["layer"] == "conv2")
    ].iloc[0]
    assert row["energy_ratio_to_baseline"] == pytest.approx(2000 / 10000)
    assert row["cycles_ratio_to_baseline"] == pytest.approx(100 / 500)
    assert row["energy_ratio_to_dense"] == pytest.approx(2000 / 11000)
    assert row["energy_per_mac_pj"] == pytest.approx(2000 / 153_600)
    assert row["arch_exploits"] == "weights+inputs"


def test_energy_breakdown_table(tables) -> None:
    eb = tables.energy_breakdown
    assert list(eb.columns) == list(col.ENERGY_BREAKDOWN_COLUMNS)
    # 4 components (DRAM's three tensors summed) x 3 layers x 2 checkpoints x 3 archs; accesses rows ignored.
    assert len(eb) == 4 * 18
    dram = eb[
        (eb["checkpoint"] == fx.PRUNED)
        & (eb["arch"] == "eyeriss_v2")
        & (eb["layer"] == "conv2")
        & (eb["component"] == "DRAM")
    ]
    assert float(dram["energy_pj"].iloc[0]) == pytest.approx(2000 * 0.65)
    assert list(dict.fromkeys(eb["component"])) == ["MACs", "psum_spad", "weights_spad", "DRAM"]
    assert not any("does not add up" in n for n in tables.notes)


def test_weight_histograms_found_beside_the_simulate_folder(tables) -> None:
    wh = tables.weight_hist
    assert set(wh["checkpoint"]) == {fx.DENSE, fx.PRUNED}
    assert wh[wh["checkpoint"] == fx.PRUNED]["count"].sum() == sum(
        round(p * fx.CHECKPOINTS[fx.PRUNED][3][lay]) for lay, (*_, p) in fx.LAYERS.items()
    )


def test_explicit_baseline_and_unknown_baseline(run_dir: Path) -> None:
    t = build_tables(load_inputs([run_dir]), baseline="eyeriss_v2")
    row = _row(t.summary, fx.PRUNED, "eyeriss_like_gating")
    assert row["energy_ratio_to_baseline"] == pytest.approx(8520 / 2311)
    assert t.summary.iloc[0]["arch"] == "eyeriss_v2"
    with pytest.raises(ConfigError, match="baseline architecture 'nope' is not in the results"):
        build_tables(load_inputs([run_dir]), baseline="nope")


def test_no_default_baseline_leaves_ratios_empty(tmp_path: Path) -> None:
    sim = fx.write_simulate_dir(tmp_path / "sim", ("eyeriss_like_gating", "eyeriss_v2"))
    t = build_tables(load_inputs([sim]))
    assert t.baseline is None
    assert t.summary["energy_ratio_to_baseline"].isna().all()
    assert t.summary["energy_ratio_to_dense"].notna().all()
    assert any("no baseline architecture" in n for n in t.notes)


def test_results_split_over_folders_give_the_same_summary(tmp_path: Path, tables) -> None:
    a = fx.write_simulate_dir(tmp_path / "a" / "sim", ("eyeriss_like", "eyeriss_like_gating"))
    b = fx.write_simulate_dir(tmp_path / "b" / "sim", ("eyeriss_v2",))
    split = build_tables(load_inputs([a, b]))
    pd.testing.assert_frame_equal(split.summary, tables.summary)


def test_missing_layer_energy_leaves_the_total_empty(tmp_path: Path) -> None:
    sim = fx.write_simulate_dir(tmp_path / "sim")
    df = pd.read_csv(sim / "results.csv", dtype={"checkpoint": str})
    df.loc[
        (df["checkpoint"] == fx.PRUNED) & (df["arch"] == "eyeriss_v2") & (df["layer"] == "fc"), "energy_pj"
    ] = None
    df.to_csv(sim / "results.csv", index=False)
    t = build_tables(load_inputs([sim]))
    row = _row(t.summary, fx.PRUNED, "eyeriss_v2")
    assert math.isnan(row["energy_pj"]) and row["n_layers_missing"] == 1
    assert math.isnan(row["energy_ratio_to_baseline"]) and math.isnan(row["energy_per_mac_pj"])
    assert row["cycles"] == 122
    assert any("without energy or cycles" in n for n in t.notes)


def test_different_layer_sets_are_not_compared(tmp_path: Path) -> None:
    sim = fx.write_simulate_dir(tmp_path / "sim")
    df = pd.read_csv(sim / "results.csv", dtype={"checkpoint": str})
    df = df[~((df["checkpoint"] == fx.PRUNED) & (df["arch"] == "eyeriss_v2") & (df["layer"] == "fc"))]
    df.to_csv(sim / "results.csv", index=False)
    t = build_tables(load_inputs([sim]))
    row = _row(t.summary, fx.PRUNED, "eyeriss_v2")
    assert row["n_layers"] == 2 and row["energy_pj"] == 2300
    assert math.isnan(row["energy_ratio_to_baseline"]) and math.isnan(row["energy_ratio_to_dense"])
    assert any("layers differ" in n for n in t.notes)


def test_duplicate_rows_are_refused(tmp_path: Path) -> None:
    a = fx.write_simulate_dir(tmp_path / "a")
    b = fx.write_simulate_dir(tmp_path / "b", ("eyeriss_v2",))
    with pytest.raises(DataError, match="count those layers twice") as info:
        load_inputs([a, b])
    assert str(a / "results.csv") in str(info.value) and str(b / "results.csv") in str(info.value)


def test_bad_folders_are_reported_together(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    bad_cols = tmp_path / "badcols"
    bad_cols.mkdir()
    (bad_cols / "results.csv").write_text("model,layer\nx,y\n")
    bad_nums = fx.write_simulate_dir(tmp_path / "badnums")
    df = pd.read_csv(bad_nums / "results.csv")
    df["energy_pj"] = df["energy_pj"].astype(object)
    df.loc[3, "energy_pj"] = "lots"
    df.to_csv(bad_nums / "results.csv", index=False)
    with pytest.raises(DataError) as info:
        load_inputs([tmp_path / "empty", bad_cols, bad_nums, tmp_path / "nowhere"])
    text = str(info.value)
    assert "4 problems found" in text
    assert "no results.csv in this folder" in text
    assert "missing column(s) checkpoint, arch, energy_pj, cycles, macs" in text
    assert "column energy_pj holds non-numeric values ('lots') on line(s) [5]" in text
    assert "folder not found" in text


def test_checkpoint_ids_stay_text(tmp_path: Path) -> None:
    sim = fx.write_simulate_dir(tmp_path / "sim")
    text = (sim / "results.csv").read_text().replace(fx.DENSE, "001234").replace(fx.PRUNED, "005678")
    (sim / "results.csv").write_text(text)
    (sim / "breakdown.csv").write_text(
        (sim / "breakdown.csv").read_text().replace(fx.DENSE, "001234").replace(fx.PRUNED, "005678")
    )
    t = build_tables(load_inputs([sim]))
    assert set(t.summary["checkpoint"]) == {"001234", "005678"}
    assert t.dense_checkpoints == {fx.MODEL: "001234"}
    assert len(t.energy_breakdown) == 72


def test_optional_columns_may_be_missing(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    sim.mkdir()
    pd.DataFrame(fx.results_rows())[list(col.REQUIRED_RESULT_COLUMNS)].to_csv(
        sim / "results.csv", index=False
    )
    t = build_tables(load_inputs([sim]))
    assert (t.summary["arch_exploits"] == "unknown").all()
    assert t.summary["energy_ratio_to_dense"].isna().all()  # no method column: no known dense checkpoint
    assert t.summary["energy_ratio_to_baseline"].notna().all()
    assert any("columns not present" in n for n in t.notes)
    assert any("no breakdown.csv" in n for n in t.notes)
    assert any("exploit is unknown" in n for n in t.notes)


def test_breakdown_rows_of_a_timeloop_evaluation(reference_dir: Path) -> None:
    """simulate's breakdown rows of a real Timeloop run: energy rows sum to the total, accesses are totals."""
    case = (
        reference_dir / "cases" / "ref__eyeriss_v2_pe__mobilenet05_L07__artifact_uniform__model__artifactmap"
    )
    ev = read_outputs(case / "outputs")
    rows = pd.DataFrame(breakdown_rows(ev))
    assert set(rows.columns) == {"component", "tensor", "action", "metric", "value", "unit"}
    energy = rows[(rows["metric"] == "energy") & (rows["unit"] == "pJ")]
    assert energy["value"].sum() == pytest.approx(ev.energy_pj, rel=1e-12)
    mac = rows[(rows["component"] == "MAC") & (rows["metric"] == "skipped_computes")]
    assert float(mac["value"].iloc[0]) == 1469645
    # reg Inputs: 4194304 reads per instance x 0.73 average utilized instances.
    reads = rows[
        (rows["component"] == "reg")
        & (rows["tensor"] == "Inputs")
        & (rows["action"] == "read")
        & (rows["metric"] == "accesses")
    ]
    assert float(reads["value"].iloc[0]) == pytest.approx(4194304 * 0.73)
    md = rows[
        (rows["component"] == "BackingStorage")
        & (rows["tensor"] == "Inputs")
        & (rows["action"] == "read")
        & (rows["metric"] == "metadata_accesses")
    ]
    assert float(md["value"].iloc[0]) == pytest.approx(382726 + 67584 + 2112 + 72)


def test_breakdown_rows_carry_leakage_as_other(reference_dir: Path) -> None:
    case = reference_dir / "v4_timeloopfe" / "cases" / "v4__gating__alexnet_conv3__w1_i0.5__exmap" / "outputs"
    ev = read_outputs(case)
    rows = pd.DataFrame(breakdown_rows(ev))
    energy = rows[rows["metric"] == "energy"]
    assert energy["value"].sum() == pytest.approx(ev.energy_pj, rel=1e-12)
    leak = energy[(energy["component"] == "psum_spad") & (energy["action"] == "other")]
    assert float(leak["value"].iloc[0]) == pytest.approx(777805.04)


def test_histograms_found_through_the_simulate_manifest(tmp_path: Path) -> None:
    ex = fx.write_extract_dir(tmp_path / "a" / "b" / "c" / "extract", fx.DENSE)  # neither sibling nor child
    sim = fx.write_simulate_dir(tmp_path / "z" / "sim")
    (sim / "manifest.json").write_text(
        json.dumps({"stage": "simulate", "inputs": {str(ex / "layers.csv"): "0" * 64}})
    )
    t = build_tables(load_inputs([sim]))
    assert set(t.weight_hist["checkpoint"]) == {fx.DENSE}
    assert any(f"{fx.MODEL}/{fx.PRUNED}" in n and "weight_hist.csv" in n for n in t.notes)
