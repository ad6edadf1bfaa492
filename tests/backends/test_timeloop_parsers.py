"""The parsers on inputs the reference does not hold: the 2022 (v2.0) format, odd values, and bad files."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pytest

from sparse_hw.backends.timeloop_map import parse_map_txt_text
from sparse_hw.backends.timeloop_output import (
    component_name,
    find_outputs,
    normalize_mapping,
    parse_art,
    parse_factors,
    parse_stats_file,
    parse_stats_text,
    path_instances,
)
from sparse_hw.backends.timeloop_stats import parse_value
from sparse_hw.errors import BackendError

DATA = Path(__file__).parent / "data"
DENSE_CASE = "ref__dense__resnet18_fc__w1_i1__mapper"


def test_2022_format_pj_tables_and_single_valued_metadata() -> None:
    stats = parse_stats_file(DATA / "timeloop-2022.stats.txt")
    assert stats.dialect == "2022"
    ev = stats.to_evaluation()
    # 224 (MAC) + 278.40 (RegFile) + 2048 + 1280 (DRAM) + 12 (network, per-hop energy printed in fJ).
    assert ev.energy_pj == pytest.approx(3842.40)
    assert ev.energy_breakdown_pj == pytest.approx(
        {"MAC": 224.0, "RegFile": 278.4, "DRAM": 3328.0, "DRAM <==> RegFile": 12.0}
    )
    assert ev.area_um2 == pytest.approx(1329.0 + 4 * 250.0)
    assert stats.summary.values["Total topology area"] == pytest.approx(2329.0)
    assert (ev.cycles, ev.utilization) == (100, 1.0)
    assert (ev.algorithmic_computes, ev.actual_computes, ev.skipped_computes) == (800, 400, 400)
    rf = ev.level("RegFile", "Weights")
    assert (rf.reads, rf.algorithmic_reads, rf.skipped_reads) == (100, 200, 100)
    assert (rf.metadata_reads, rf.skipped_metadata_reads, rf.metadata_fills) == (100, 100, 16)
    assert rf.decompression_count == 3 and rf.format == "rle"
    assert rf.utilized_instances == 4 and rf.utilized_instances_avg is None
    assert rf.extra["read_bandwidth_per_instance"] == 1.0
    assert ev.level("DRAM", "Weights").format == "none"
    mac = ev.level("MAC", "(compute)")
    assert mac.utilized_instances == 4 and mac.energy_pj == 224.0
    tables = {t.title: t for t in stats.tables}
    assert tables["Algorithmic Computes"].unit == "pJ"
    assert tables["Algorithmic Computes"].per_compute_pj["Total"] == pytest.approx(4.80)
    assert tables["Actual Computes"].per_compute_pj["DRAM <==> RegFile"] == pytest.approx(0.03)
    net = stats.networks[0]
    assert net.name == "DRAM <==> RegFile"
    assert net.dataspaces["Weights"].ingresses["Ingresses"] == [(1, 4, 64.0)]
    assert net.dataspaces["Weights"].units["Energy (per-hop)"] == "fJ"


def test_v3_fj_tables_are_converted_to_pj(reference_dir: Path) -> None:
    stats = parse_stats_file(reference_dir / "cases" / DENSE_CASE / "outputs" / "timeloop-mapper.stats.txt")
    assert stats.dialect == "v3"
    (table,) = stats.tables
    assert (table.title, table.unit, table.computes) == ("Computes", "fJ", 512000)
    assert table.per_compute_pj["Total"] == pytest.approx(133.18011)
    assert table.per_compute_pj["Total"] * table.computes == pytest.approx(stats.energy_pj, rel=1e-6)


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("2.20 pJ", 2.2, "pJ"),
        ("168 (14*12)", 168.0, "(14*12)"),
        ("92.86%", 92.86, "%"),
        ("1.23e+05 pJ", 123000.0, "pJ"),
        ("3.49e-01", 0.349, ""),
        ("-", None, ""),
        ("", None, ""),
        ("uop uop rle ", "uop uop rle", ""),
        ("fixed-structured", "fixed-structured", ""),
        ("- pJ/b/mm", "- pJ/b/mm", ""),
        ("inf words/cycle", math.inf, "words/cycle"),
    ],
)
def test_values_with_units(text: str, value, unit: str) -> None:
    got, got_unit = parse_value(text)
    assert got == value and got_unit == unit


def test_scientific_output_is_read(reference_dir: Path) -> None:
    """TIMELOOP_OUTPUT_STAT_SCIENTIFIC=1 prints every float as 1.23e+05; the numbers do not change."""
    path = reference_dir / "cases" / DENSE_CASE / "outputs" / "timeloop-mapper.stats.txt"
    text = path.read_text()
    sci = re.sub(r"(?<![\w.])(\d+\.\d\d)(?=\s|$|%)", lambda m: f"{float(m.group(1)):.6e}", text)
    assert sci != text
    assert parse_stats_text(sci).energy_pj == pytest.approx(parse_stats_text(text).energy_pj, rel=1e-6)


def test_truncated_and_foreign_files_are_rejected(reference_dir: Path, tmp_path: Path) -> None:
    text = (reference_dir / "cases" / DENSE_CASE / "outputs" / "timeloop-mapper.stats.txt").read_text()
    with pytest.raises(BackendError, match="did not finish") as info:
        parse_stats_text(text[: len(text) // 2], "cut.stats.txt")
    assert info.value.file == "cut.stats.txt"
    with pytest.raises(BackendError, match="not a Timeloop stats file"):
        parse_stats_text("hello\nworld\n", "x.txt")
    with pytest.raises(BackendError, match="Level"):
        parse_stats_text("Buffer and Arithmetic Levels\n    SPECS\n    -----\n", "x.txt")
    bad = text.replace("Summary Stats\n-------------\n", "Summary Stats\n-------------\nthis is not a stat\n")
    with pytest.raises(BackendError, match=r"line \d+ .*this is not a stat"):
        parse_stats_text(bad, "x.txt")
    with pytest.raises(BackendError, match="not found"):
        parse_stats_file(tmp_path / "nope.stats.txt")


def test_find_outputs_needs_exactly_one_run(reference_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="found none"):
        find_outputs(tmp_path)
    src = reference_dir / "cases" / DENSE_CASE / "outputs" / "timeloop-mapper.stats.txt"
    shutil.copy(src, tmp_path / "a.stats.txt")
    assert find_outputs(tmp_path).prefix == "a"
    shutil.copy(src, tmp_path / "b.stats.txt")
    with pytest.raises(BackendError, match="a.stats.txt, b.stats.txt"):
        find_outputs(tmp_path)
    assert find_outputs(tmp_path, prefix="b").stats.name == "b.stats.txt"
    with pytest.raises(BackendError, match="not found"):
        find_outputs(tmp_path / "missing")


def test_loop_nest_residuals_and_compute_marker() -> None:
    nest = parse_map_txt_text(
        "\nDRAM [ Weights:131 (66) Inputs:262 ] \n------\n| for C in [0:3,2)\n|   for M in [0:4) (Spatial-Y)\n"
        "\nbuf [ ] \n--\n|     for M in [0:2) (Spatial-X)\n|       << Compute >>\n"
    )
    assert [lv.name for lv in nest] == ["DRAM", "buf"]
    assert nest[0].tiles == {"Weights": 131, "Inputs": 262} and nest[0].utilized == {"Weights": 66}
    assert nest[0].loops[0].residual_end == 2 and nest[0].loops[1].spatial == "Y"
    assert nest[1].keeps == [] and nest[1].loops[0].spatial == "X"
    with pytest.raises(BackendError, match="line 2"):
        parse_map_txt_text("DRAM [ ]\n| while True\n", "m.txt")
    with pytest.raises(BackendError, match="no storage levels"):
        parse_map_txt_text("\n\n")


def test_factors_and_mapping_normalization() -> None:
    assert parse_factors("C1 M8 R=3 S 3") == {"C": 1, "M": 8, "R": 3, "S": 3}
    assert parse_factors("C=4,3") == {"C": 4}
    assert parse_factors({"C": 2}) == {"C": 2}
    with pytest.raises(BackendError, match="cannot read the factors"):
        parse_factors("C1 M8 ???")
    doc = {
        "mapping": [
            {"target": "buf", "type": "datatype", "keep": ["Weights"], "bypass": []},
            {"target": "buf", "type": "spatial", "factors": "C2 M1", "permutation": "M C", "split": 1},
        ]
    }
    assert normalize_mapping(doc) == {
        "mapping": [
            {"target": "buf", "type": "bypass", "keep": ["Weights"], "bypass": []},
            {"target": "buf", "type": "spatial", "factors": "C=2 M=1", "permutation": "MC", "split": 1},
        ]
    }
    with pytest.raises(BackendError, match=r"needs 'target' and 'type'"):
        normalize_mapping({"mapping": [{"target": "buf"}]}, source="m.yaml")
    with pytest.raises(BackendError, match="list of directives"):
        normalize_mapping({"mapping": {"x": 1}})


def test_component_paths() -> None:
    assert path_instances("eyeriss_168.PE[0..167].weights_spad") == 168
    assert path_instances("sys.cluster[0..15].PE[0..11].reg") == 192
    assert path_instances("top.DRAM[1..1]") == 1 and path_instances("DRAM") == 1
    assert component_name("top.mac[1..168]") == "mac"
    assert component_name("eyeriss_168.DummyBuffer[0..13]") == "DummyBuffer"


def test_art_without_tables_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "ART.yaml"
    bad.write_text("ART:\n  version: '0.4'\n")
    with pytest.raises(BackendError, match="tables"):
        parse_art(bad)
    bad.write_text("ART:\n  tables:\n    - name: a.b\n      area: lots\n")
    with pytest.raises(BackendError, match="numeric 'area'") as info:
        parse_art(bad)
    assert info.value.problems[0].key_path == "ART.tables[0]"
