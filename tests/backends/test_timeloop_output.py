"""Golden tests of the Timeloop output parsers against every recorded reference run.

Every case folder in ``../shared/reference/timeloop/cases`` (402 runs of Timeloop v3.0.3) and
``v4_timeloopfe/cases`` (26 runs of the 2024 tool chain) is parsed once per session; each test then
compares one family of numbers with the reference tables and reports every mismatch at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from sparse_hw.backends.timeloop_output import (
    COMPUTE_DATASPACE,
    NO_DATA_DATASPACE,
    MapLevel,
    TimeloopStats,
    art_total_um2,
    find_outputs,
    loop_bounds,
    mapping_bounds,
    parse_art,
    parse_ert,
    parse_map_txt,
    parse_stats_file,
    read_outputs,
)
from sparse_hw.model.result import Evaluation


@dataclass
class Case:
    case_id: str
    folder: Path
    stats: TimeloopStats
    evaluation: Evaluation
    nest: list[MapLevel]
    mapping: dict | None


def _load(case_id: str, folder: Path) -> Case:
    files = find_outputs(folder)
    evaluation = read_outputs(folder)
    return Case(
        case_id=case_id,
        folder=folder,
        stats=parse_stats_file(files.stats),
        evaluation=evaluation,
        nest=parse_map_txt(files.map_txt),
        mapping=evaluation.mapping,
    )


@pytest.fixture(scope="session")
def results(reference_dir: Path) -> pd.DataFrame:
    return pd.read_csv(reference_dir / "results.csv")


@pytest.fixture(scope="session")
def cases(reference_dir: Path, results: pd.DataFrame) -> dict[str, Case]:
    return {r.case_id: _load(r.case_id, reference_dir / r.case_dir / "outputs") for r in results.itertuples()}


@pytest.fixture(scope="session")
def results_v4(reference_dir: Path) -> pd.DataFrame:
    return pd.read_csv(reference_dir / "v4_timeloopfe" / "results_v4.csv")


@pytest.fixture(scope="session")
def cases_v4(reference_dir: Path, results_v4: pd.DataFrame) -> dict[str, Case]:
    root = reference_dir / "v4_timeloopfe" / "cases"
    return {r.case_id: _load(r.case_id, root / r.case_id / "outputs") for r in results_v4.itertuples()}


def _close(a: float, b: float, abs_tol: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=abs_tol)


def _report(mismatches: list[str]) -> str:
    head = "\n".join(mismatches[:40])
    more = f"\n... and {len(mismatches) - 40} more" if len(mismatches) > 40 else ""
    return f"{len(mismatches)} mismatches:\n{head}{more}"


def test_every_recorded_case_is_parsed(results: pd.DataFrame, cases: dict[str, Case]) -> None:
    assert len(results) == 402
    assert set(cases) == set(results.case_id)


def test_totals_match_results_csv(results: pd.DataFrame, cases: dict[str, Case]) -> None:
    # energy_pJ is a sum of 2-decimal printed numbers, area a sum of products of them: 0.02 absolute.
    mismatches = []
    for r in results.itertuples():
        ev = cases[r.case_id].evaluation
        expected = {
            "energy_pJ": (ev.energy_pj, r.energy_pJ, 0.02),
            "cycles": (ev.cycles, r.cycles, 0),
            "area_um2": (ev.area_um2, r.area_um2, 0.02),
            "utilization": (ev.utilization, r.utilization, 0),
            "algorithmic_computes": (ev.algorithmic_computes, r.algorithmic_computes, 0),
            "actual_computes": (ev.actual_computes, r.actual_computes, 0),
            "gated_computes": (ev.gated_computes, r.gated_computes, 0),
            "skipped_computes": (ev.skipped_computes, r.skipped_computes, 0),
        }
        for name, (got, want, tol) in expected.items():
            if not _close(got, want, tol):
                mismatches.append(f"{r.case_id} {name}: parsed {got} reference {want} ratio {got / want:.6g}")
        if not isinstance(ev.cycles, int):
            mismatches.append(f"{r.case_id}: cycles is {type(ev.cycles).__name__}, not int")
        if ev.backend != "timeloop" or ev.engine_version != "timeloop-v3":
            mismatches.append(f"{r.case_id}: backend {ev.backend} / format {ev.engine_version}")
    assert not mismatches, _report(mismatches)


def test_summary_energy_agrees_with_level_sum(cases: dict[str, Case]) -> None:
    """The printed 'Energy: ... uJ' (2 decimals) equals the level + network sum within rounding."""
    mismatches = []
    for case in cases.values():
        printed = case.stats.summary.number("Energy") * 1e6
        if abs(printed - case.evaluation.energy_pj) > 0.5e4:
            mismatches.append(f"{case.case_id}: summary {printed} sum {case.evaluation.energy_pj}")
        if any("differs from the sum" in n for n in case.evaluation.notes):
            mismatches.append(f"{case.case_id}: unexpected note {case.evaluation.notes}")
    assert not mismatches, _report(mismatches)


def test_area_is_not_the_buggy_summary_line(cases: dict[str, Case]) -> None:
    case = cases["ref__dense__resnet18_fc__w1_i1__mapper"]
    assert case.stats.summary.values["Area"] == 0.0
    # 168 x (180 + 3474.22 + 537.18 + 1239.5) + 641 668 (reference README).
    assert case.evaluation.area_um2 == pytest.approx(
        168 * (180 + 3474.22 + 537.18 + 1239.5) + 641668, abs=1e-6
    )
    assert any("Area: 0.00 mm^2" in n for n in case.evaluation.notes)
    assert case.evaluation.area_breakdown_um2["MACs"] == pytest.approx(208236.0)
    assert sum(case.evaluation.area_breakdown_um2.values()) == pytest.approx(case.evaluation.area_um2)


def test_per_level_energies_match_results_csv(results: pd.DataFrame, cases: dict[str, Case]) -> None:
    level_columns = [c for c in results.columns if c.startswith("energy_") and c.endswith("_pJ")]
    level_columns = [c for c in level_columns if c not in ("energy_pJ", "energy_networks_pJ")]
    mismatches = []
    for r in results.itertuples(index=False):
        row = r._asdict()
        ev = cases[r.case_id].evaluation
        for col in level_columns:
            level = col[len("energy_") : -len("_pJ")]
            got = ev.energy_breakdown_pj.get(level, 0.0)
            if not _close(got, row[col], 0.02):
                mismatches.append(f"{r.case_id} {level}: parsed {got} reference {row[col]}")
        networks = cases[r.case_id].stats.network_energy_pj
        if not _close(networks, r.energy_networks_pJ, 0.02):
            mismatches.append(f"{r.case_id} networks: parsed {networks} reference {r.energy_networks_pJ}")
        if not _close(sum(ev.energy_breakdown_pj.values()), ev.energy_pj, 1e-6):
            mismatches.append(f"{r.case_id}: breakdown does not sum to the total")
    assert not mismatches, _report(mismatches)


def _norm(value):
    if isinstance(value, str):
        return value.strip()
    return value


def test_every_level_statistic_matches_results_levels_csv(
    reference_dir: Path, cases: dict[str, Case]
) -> None:
    """Each non-empty cell of results_levels.csv equals the parsed value (3862 rows x up to 105 columns)."""
    levels = pd.read_csv(reference_dir / "results_levels.csv")
    assert len(levels) == 3862
    parsed = {
        (cid, row["level"], row["dataspace"]): row
        for cid, case in cases.items()
        for row in case.stats.raw_rows()
    }
    n_rows = {cid: len(case.stats.raw_rows()) for cid, case in cases.items()}
    mismatches = []
    compared = 0
    for cid, group in levels.groupby("case_id"):
        if n_rows[cid] != len(group):
            mismatches.append(f"{cid}: parsed {n_rows[cid]} (level, dataspace) rows, reference {len(group)}")
    for record in levels.to_dict("records"):
        key = (record["case_id"], record["level"], record["dataspace"])
        row = parsed.get(key)
        if row is None:
            mismatches.append(f"{key}: not parsed")
            continue
        for column, want in record.items():
            if column in ("case_id", "level", "dataspace") or (isinstance(want, float) and math.isnan(want)):
                continue
            got = row.get(column)
            compared += 1
            if isinstance(want, str):
                ok = _norm(got) == want.strip()
            else:
                ok = (
                    isinstance(got, (int, float))
                    and got is not None
                    and _close(float(got), float(want), 0.005)
                )
            if not ok:
                mismatches.append(f"{key} {column!r}: parsed {got!r} reference {want!r}")
    assert compared > 140_000
    assert not mismatches, _report(mismatches)


def test_level_stats_fields(reference_dir: Path, cases: dict[str, Case]) -> None:
    """The typed LevelStats carry the per-instance counts, instances and energies of results_levels.csv."""
    levels = pd.read_csv(reference_dir / "results_levels.csv")
    sparse_fields = {
        "algorithmic_reads": "Algorithmic scalar reads (per-instance)",
        "reads": "Actual scalar reads (per-instance)",
        "gated_reads": "Gated scalar reads (per-instance)",
        "skipped_reads": "Skipped scalar reads (per-instance)",
        "fills": "Actual scalar fills (per-instance)",
        "updates": "Actual scalar updates (per-instance)",
        "skipped_updates": "Skipped scalar updates (per-instance)",
        "utilized_instances": "Utilized instances (max)",
        "utilized_instances_avg": "Utilized instances (average)",
        "energy_pj": "Energy (total)",
        "tile_size": "Data tile shape",
        "max_occupancy": "Max utilized data storage capacity",
        "temporal_reductions": "Temporal reductions (per-instance)",
    }
    dense_fields = {
        "reads": "Scalar reads (per-instance)",
        "algorithmic_reads": "Scalar reads (per-instance)",
        "fills": "Scalar fills (per-instance)",
        "updates": "Scalar updates (per-instance)",
        "utilized_instances": "Utilized instances (max)",
        "tile_size": "Utilized capacity",
    }
    mismatches = []
    for record in levels.to_dict("records"):
        ev = cases[record["case_id"]].evaluation
        try:
            lv = ev.level(record["level"], record["dataspace"])
        except KeyError:
            mismatches.append(f"{record['case_id']} {record['level']}/{record['dataspace']}: no LevelStats")
            continue
        if lv.instances != record["instances"]:
            mismatches.append(
                f"{record['case_id']} {lv.level}: instances {lv.instances} vs {record['instances']}"
            )
        if record["dataspace"] in (COMPUTE_DATASPACE, NO_DATA_DATASPACE):
            continue
        fields = sparse_fields if isinstance(record.get("Tile density distribution"), str) else dense_fields
        for name, column in fields.items():
            got = getattr(lv, name)
            if not _close(float(got), float(record[column]), 0.005):
                mismatches.append(
                    f"{record['case_id']} {lv.level}/{lv.dataspace} {name}: {got} vs {record[column]}"
                )
    assert not mismatches, _report(mismatches)


def test_format_counts_sum_metadata_and_payload(cases: dict[str, Case]) -> None:
    case = cases["ref__eyeriss_v2_pe__mobilenet05_L07__artifact_uniform__model__artifactmap"]
    inputs = case.evaluation.level("BackingStorage", "Inputs")
    # Rank 0..6 (metadata, payload): (382726, 0), (0, 0), (0, 67584), (0, 2112), (0, 72), (0, 0), (0, 0).
    assert inputs.metadata_reads == 382726 + 67584 + 2112 + 72
    assert inputs.format == "uop uop uop uop uop uop rle"
    ranks = inputs.extra["format_per_rank"]["metadata_reads"]
    assert ranks[0] == [0, 382726.0, 0.0] and ranks[2] == [2, 0.0, 67584.0]
    reg = case.evaluation.level("reg", "Inputs")
    assert reg.utilized_instances == 1 and reg.utilized_instances_avg == pytest.approx(0.73)
    assert reg.energy_pj == pytest.approx(372019.39)
    mac = case.evaluation.level("MAC", COMPUTE_DATASPACE)
    assert mac.extra["skipped_computes"] == 1469645
    assert case.evaluation.bound_by == "MAC"


def test_v4_timeloopfe_outputs_match_results_v4(results_v4: pd.DataFrame, cases_v4: dict[str, Case]) -> None:
    assert len(cases_v4) == 26
    mismatches = []
    for r in results_v4.itertuples():
        case = cases_v4[r.case_id]
        ev = case.evaluation
        util = float(str(r.utilization_summary).rstrip("%")) / 100
        expected = {
            "energy_pJ": (ev.energy_pj, r.energy_pJ, 0.05),
            "leakage_pJ": (case.stats.leakage_pj, r.leakage_pJ, 0.05),
            "cycles": (ev.cycles, r.cycles, 0),
            "area_um2": (ev.area_um2, r.area_um2, 0.05),
            "algorithmic_computes": (ev.algorithmic_computes, r.algorithmic_computes, 0),
            "actual_computes": (ev.actual_computes, r.actual_computes, 0),
            "utilization": (ev.utilization, util, 1e-12),
        }
        row = r._asdict()
        for level in ("mac", "psum_spad", "weights_spad", "ifmap_spad", "shared_glb", "DRAM"):
            expected[f"energy_{level}_pJ"] = (
                ev.energy_breakdown_pj.get(level, 0.0),
                row[f"energy_{level}_pJ"],
                0.05,
            )
        for name, (got, want, tol) in expected.items():
            if not _close(got, want, tol):
                mismatches.append(f"{r.case_id} {name}: parsed {got} reference {want}")
        if case.stats.dialect != "2024" or ev.engine_version != "timeloop-2024":
            mismatches.append(f"{r.case_id}: dialect {case.stats.dialect}")
        if not any("leakage" in n for n in ev.notes):
            mismatches.append(f"{r.case_id}: no leakage note")
    assert not mismatches, _report(mismatches)


def _problem_dims(row) -> dict[str, int]:
    return {"N": row.N, "C": row.C, "M": row.M, "P": row.P, "Q": row.Q, "R": row.R, "S": row.S}


def _as_cnn_layer(bounds: dict[str, int]) -> dict[str, int]:
    """The grouped-CONV shape of the Eyeriss-v2 cases names P, Q as E, F and adds G = 1."""
    renamed = {{"E": "P", "F": "Q"}.get(k, k): v for k, v in bounds.items() if k != "G"}
    assert bounds.get("G", 1) == 1
    return renamed


def test_loop_nests_cover_the_problem(results: pd.DataFrame, cases: dict[str, Case]) -> None:
    mismatches = []
    for r in results.itertuples():
        case = cases[r.case_id]
        want = _problem_dims(r)
        got = {d: v for d, v in _as_cnn_layer(loop_bounds(case.nest)).items()}
        full = {d: got.get(d, 1) for d in want}
        if full != want:
            mismatches.append(f"{r.case_id}: loop nest bounds {full} problem {want}")
        names = [lv.name for lv in case.nest]
        stats_names = [lv.name for lv in case.stats.levels if not lv.is_compute]
        if names != stats_names[::-1]:
            mismatches.append(f"{r.case_id}: nest levels {names} stats levels {stats_names}")
        # Tile sizes printed in the nest equal the stats' tile shapes (per level and kept tensor).
        for lv in case.nest:
            for tensor, tile in lv.tiles.items():
                stats_tile = case.evaluation.level(lv.name, tensor).tile_size
                if stats_tile != tile:
                    mismatches.append(f"{r.case_id} {lv.name}/{tensor}: nest tile {tile} stats {stats_tile}")
    assert not mismatches, _report(mismatches)


def test_mapper_map_yaml_is_a_complete_normalized_mapping(
    results: pd.DataFrame, cases: dict[str, Case]
) -> None:
    mapper_rows = results[results["mode"] == "mapper"]
    assert len(mapper_rows) == 120
    mismatches = []
    for r in mapper_rows.itertuples():
        case = cases[r.case_id]
        mapping = case.mapping
        if mapping is None:
            mismatches.append(f"{r.case_id}: no mapping attached")
            continue
        kinds = {d["type"] for d in mapping["mapping"]}
        if not kinds <= {"bypass", "temporal", "spatial"} or "datatype" in kinds:
            mismatches.append(f"{r.case_id}: directive types {kinds}")
        bounds = _as_cnn_layer(mapping_bounds(mapping))
        want = _problem_dims(r)
        if {d: bounds.get(d, 1) for d in want} != want:
            mismatches.append(f"{r.case_id}: factor products {bounds} problem {want}")
        keeps = {d["target"]: d.get("keep", []) for d in mapping["mapping"] if d["type"] == "bypass"}
        for lv in case.nest:
            if sorted(keeps.get(lv.name, [])) != sorted(lv.keeps) and lv.name in keeps:
                mismatches.append(f"{r.case_id} {lv.name}: keep {keeps[lv.name]} nest {lv.keeps}")
        if any("=" not in d["factors"] for d in mapping["mapping"] if "factors" in d):
            mismatches.append(f"{r.case_id}: factors not normalized")
    assert not mismatches, _report(mismatches)


def test_model_runs_carry_no_mapping_unless_given(reference_dir: Path) -> None:
    folder = reference_dir / "cases" / "ref__dense__resnet18_fc__w1_i1__model__fixmap" / "outputs"
    assert read_outputs(folder).mapping is None
    given = {"mapping": [{"target": "DRAM", "type": "temporal", "factors": "C=8"}]}
    assert read_outputs(folder, mapping=given).mapping == given


def test_ert_and_art_tables(reference_dir: Path, results: pd.DataFrame) -> None:
    """ART totals (area x instances from the [0..N-1] ranges) equal area_um2 of every case."""
    mismatches = []
    for r in results.itertuples():
        art = parse_art(reference_dir / r.case_dir / "inputs" / "ART.yaml")
        # The stats print each per-instance area with 2 decimals: allow 0.005 um^2 per instance.
        rounding = 0.005 * sum(c.instances for c in art.values()) + 0.02
        if not _close(art_total_um2(art), r.area_um2, rounding):
            mismatches.append(f"{r.case_id}: ART total {art_total_um2(art)} area_um2 {r.area_um2}")
    assert not mismatches, _report(mismatches)
    ert = parse_ert(reference_dir / "cases" / results.case_dir.iloc[0].split("/")[-1] / "inputs" / "ERT.yaml")
    dram = ert["eyeriss_168.DRAM"]
    assert dram.instances == 1 and dram.energy("read") == 512.0
    dummy = ert["eyeriss_168.DummyBuffer[0..13]"]
    assert dummy.instances == 14 and dummy.name == "DummyBuffer"
    assert len([a for a in dummy.actions if a.action == "read"]) == 4
    assert dummy.actions[0].arguments == {"data_delta": 0, "address_delta": 0}
    pe = [c for c in ert.values() if c.name == "weights_spad"]
    assert len(pe) == 1 and pe[0].instances == 168


def test_v4_art_matches_the_stats_levels(reference_dir: Path, cases_v4: dict[str, Case]) -> None:
    """Per component, ART area x instances equals the level area in the stats ([1..N] ranges)."""
    mismatches = []
    for case in cases_v4.values():
        art = parse_art(case.folder / "timeloop-mapper.ART.yaml")
        by_name = {c.name: c for c in art.values()}
        for lv in case.stats.levels:
            comp = by_name.get(lv.name)
            if comp is None:
                mismatches.append(f"{case.case_id}: no ART entry for {lv.name}")
                continue
            rounding = 0.005 * lv.instances + 0.01  # per-instance area printed with 2 decimals
            if comp.instances != lv.instances or not _close(comp.total_area_um2, lv.area_um2, rounding):
                mismatches.append(
                    f"{case.case_id} {lv.name}: ART {comp.instances} x {comp.area_um2} stats {lv.instances} "
                    f"instances {lv.area_um2} um^2"
                )
        hidden = {c.name for c in art.values()} - {lv.name for lv in case.stats.levels}
        if hidden != {"inter_PE_spatial", "inter_PE_column_spatial"}:
            mismatches.append(f"{case.case_id}: levels missing from the stats: {hidden}")
        ert = parse_ert(case.folder / "timeloop-mapper.ERT.yaml")
        if ert[next(p for p in ert if p.endswith("DRAM[1..1]"))].energy("read") != 512.0:
            mismatches.append(f"{case.case_id}: DRAM read energy")
    assert not mismatches, _report(mismatches)


def test_evaluations_serialize_to_the_json_contract(
    cases: dict[str, Case], cases_v4: dict[str, Case]
) -> None:
    """``Evaluation.to_json`` (the --json output of CLI.md) works for every parsed run, without NaN."""
    import json

    for case in [*cases.values(), *cases_v4.values()]:
        doc = json.loads(json.dumps(case.evaluation.to_json(), allow_nan=False))
        assert doc["backend"] == "timeloop" and doc["levels"]
        assert {
            "level",
            "dataspace",
            "instances",
            "utilized_instances",
            "reads",
            "fills",
            "updates",
            "energy_pj",
        } <= set(doc["levels"][0])
        assert sum(doc["energy_breakdown_pj"].values()) == pytest.approx(doc["energy_pj"])
