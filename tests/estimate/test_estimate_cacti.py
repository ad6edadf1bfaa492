"""The SRAM model against CACTI itself: every CACTI figure Accelergy recorded, each priced with its
own size held out, and fresh CACTI runs at sizes, banks, ports and nodes off the tabulated grid
(``data/cacti_sram_check.csv``, ``data/cacti_sram_check2.csv``): the accuracy an unseen SRAM gets."""

from __future__ import annotations

import csv
import statistics

import pytest

from sparse_hw.estimate import cacti, primitives, tables


def _cacti_recordings() -> list[tuple[dict, str, dict[str, float]]]:
    """(attributes, provenance, {action or '' for area: recorded value}) of every recorded SRAM that a
    CACTI plug-in priced: 64 bytes and more, not the 2022 eyeriss_v2_pe tables (Aladdin priced them)."""
    out: dict[tuple, tuple[dict, str, dict[str, float]]] = {}
    with open(tables.DATA / "recorded_primitives.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["class"].lower() != "sram" or not r["width"] or not r["depth"] or "eyeriss_v2_pe" in r["provenance"]:
                continue
            width, depth = float(r["width"]), float(r["depth"])
            if width * depth < primitives.CACTI_MIN_BITS or "aladdin" in r["estimator"].lower():
                continue
            attrs = {"width": width, "depth": depth, "technology": r["technology"],
                     "n_banks": float(r["n_banks"] or 1), "n_rdwr_ports": float(r["n_rdwr_ports"] or 1)}
            if "ex_2d55108" in r["provenance"] or r["estimator"] == "CactiSRAM":  # v0.4 inputs
                attrs["global_cycle_seconds"] = 1e-9
            action = {"leak": "idle", "update": "write"}.get(r["action"], r["action"])
            value = float(r["area_um2"] if r["action"] == "" else r["energy_pJ"])
            key = (tuple(sorted(attrs.items())), r["provenance"])
            out.setdefault(key, (attrs, r["provenance"], {}))[2].setdefault(action, value)
    return list(out.values())


def _errors(priced: primitives.Priced, recorded: dict[str, float], top_level: bool) -> list[float]:
    energy = {**priced.energy, **(priced.top_level if top_level else {})}
    return [abs((priced.area if a == "" else energy[a]) - v) / v for a, v in recorded.items() if v > 0]


def test_every_recorded_cacti_sram_is_within_the_goal_with_its_size_held_out():
    """Every recorded CACTI SRAM figure, each priced as if its size had never been recorded: measured
    median 0.0 %, worst 2.5 % (16 x 224 with 2 ports); issue 12's goal is 3 % and 15 %. The old fit of
    the recorded figures: median 23 %. (Sizes on the grid, such as 32 x 4096 and, since the grid has
    1.5 x powers of two at 45 nm, eyeriss_v2's 80 x 768, come out exact: the grid is regular, not placed
    at them (80 x 768 was 2.8 % off before); `test_off_grid_cacti_runs_are_reproduced` is
    the check between grid points.)"""
    errors = []
    recordings = _cacti_recordings()
    assert len(recordings) >= 10
    for attrs, provenance, recorded in recordings:
        with tables.holding_out({("sram", attrs["width"], attrs["depth"])}):
            priced = primitives.price("SRAM", attrs, "x")
        assert "recorded" not in priced.estimator
        # a verbose summary records the compound's access (address_delta 1); a run's ERT the largest
        errors += _errors(priced, recorded, top_level="verbose" not in provenance)
    assert statistics.median(errors) <= 0.01
    assert max(errors) <= 0.03


def _check_rows(name: str) -> list[dict[str, str]]:
    with open(tables.DATA / name, newline="") as fh:
        return list(csv.DictReader(line for line in fh if line[0] != "#"))


def _check_errors(name: str) -> dict[str, list[float]]:
    """|error| of the plug-in's read, write, idle and area ('') priced from the grid, per CACTI run of ``name``."""
    errors: dict[str, list[float]] = {"read": [], "write": [], "idle": [], "": []}
    for r in _check_rows(name):
        banks = float(r["n_banks"])
        idle = float(r["leak_per_bank_mW"]) * float(r["cycle_ns"]) * float(r["banks"])
        want = {"read": cacti.access_energy(float(r["read_nJ"]) * 1e3, idle, banks),
                "write": cacti.access_energy(float(r["write_nJ"]) * 1e3, idle, banks), "idle": idle,
                "": float(r["area_mm2"]) * 1e6}
        attrs = {"width": float(r["width"]), "depth": float(r["depth"]), "n_banks": banks,
                 "n_rdwr_ports": float(r["n_rdwr_ports"]), "technology": f"{r['node_nm']}nm"}
        with tables.holding_out({("sram", attrs["width"], attrs["depth"])}):
            priced = primitives.price("SRAM", attrs, "x")
        for a, v in want.items():
            errors[a].append(abs((priced.area if a == "" else priced.energy[a]) - v) / v)
    return errors


#: (file, runs, {quantity: (median bound, worst bound)}): the measured figures (in the comments) plus a
#: small margin ('' is the area)
OFF_GRID = [
    # seed 12, nodes 22-90 nm; measured median / worst: read 0.26 / 18.4 %, write 0.19 / 28.5 %, idle 0.94 /
    # 13.7 %, area 0.33 / 19.3 % (before issue 12's 1.5 x and quarter-step depths at every node: 0.28 / 21.9,
    # 0.25 / 34.2, 1.28 / 13.7, 0.41 / 22.6; before its denser grid and in-segment node quadratic: 0.9 /
    # 23.0, 0.5 / 34.2, 1.6 / 24.8, 0.6 / 22.6); the worst: 8 x 7863 with 2 ports at 28 nm (1965 words:
    # CACTI reorganises that array at 2035 words at 28 nm, not at 45 nm) and 80 x 44423, 4 banks, 2 ports
    # at 65 nm (idle)
    ("cacti_sram_check.csv", 40, {"read": (0.005, 0.20), "write": (0.005, 0.31), "idle": (0.012, 0.15),
                                  "": (0.005, 0.21)}),
    # seed 29, nodes 22-90 nm of which 36, 50, 60, 72 and 80 nm are not tabulated; written before the
    # grid was extended and used to measure it (another 150 runs, not kept, to diagnose it); measured:
    # read 0.81 / 15.4 %, write 0.51 / 8.9 %, idle 0.94 / 28.2 %, area 0.53 / 8.2 % (before the 1.5 x and
    # quarter-step depths at every node: 1.37 / 39.1, 0.79 / 12.5, 1.06 / 27.9, 0.73 / 14.7, the 39.1 %
    # 40 x 1703 with 2 banks at 80 nm, which CACTI reorganises at 1400 words at 45 nm and at 2048 at
    # 65-90 nm, now 1.3 %; before the denser 45 nm grid: 2.1 / 35.8, 1.4 / 22.3, 4.1 / 28.6, 1.1 / 12.5);
    # the worst: 72 x 33581 with 2 ports at 90 nm (idle), 12 x 5066 with 8 banks at 90 nm (read)
    ("cacti_sram_check2.csv", 60, {"read": (0.01, 0.17), "write": (0.007, 0.10), "idle": (0.012, 0.30),
                                   "": (0.007, 0.09)}),
]


@pytest.mark.parametrize("name,runs,bounds", OFF_GRID, ids=[c[0] for c in OFF_GRID])
def test_off_grid_cacti_runs_are_reproduced(name, runs, bounds):
    """CACTI runs at random widths, depths, banks, ports and nodes, asked for as the 0.3 plug-in asks:
    the plug-in's read, write, idle and area from the grid. The worst are sizes where CACTI picks an
    organisation unlike the one at the grid points around them (issue 12's goal: median 3 %, worst
    15 %; the old fit of the recorded figures had no off-grid figure)."""
    errors = _check_errors(name)
    assert len(errors["read"]) == runs
    for a, (median, worst) in bounds.items():
        assert statistics.median(errors[a]) <= median, a
        assert max(errors[a]) <= worst, a


def test_current_plugin_rules_for_v04_inputs():
    """A v0.4 input (global_cycle_seconds) is priced by today's CactiSRAM rules: CACTI at >= 32 bits and
    64 x banks words, scaled by the width and depth shares, nodes interpolated between CACTI's runs
    (recorded: examples/ex_2d55108 ISPASS'20 40 nm MainMemory; 02_interface tutorial 128 x 512)."""
    cases = [({"width": 64, "depth": 32768, "n_banks": 2, "technology": "40nm"},
              {"read": 43.353054, "write": 30.878292, "leak": 0.007972, "": 707084.0}),
             ({"width": 128, "depth": 512, "n_banks": 2, "technology": "45nm"},
              {"read": 9.65335, "write": 12.6203, "leak": 0.000271, "": 43608.4})]
    for attrs, recorded in cases:
        with tables.holding_out({("sram", float(attrs["width"]), float(attrs["depth"]))}):
            priced = primitives.price("SRAM", {**attrs, "global_cycle_seconds": 1e-9}, "x")
        for a, v in recorded.items():
            assert (priced.area if a == "" else priced.energy[a]) == pytest.approx(v, rel=0.02), (attrs, a)
    # an 8 x 1 SRAM is CACTI's 32 x 64 scaled down, not a zero-size or Aladdin array
    tiny = primitives.price("SRAM", {"width": 8, "depth": 1, "technology": "45nm", "global_cycle_seconds": 1e-9}, "x")
    assert 0 < tiny.energy["read"] < 0.05 and 0 < tiny.area < 10


def test_banked_sram_reads_cacti_figure_alone_and_the_plugin_formula_in_a_compound():
    """eyeriss_v2's psum_glb (80 x 768, 4 banks) on its own: the largest read its ERT lists is CACTI's
    6.90191 pJ; as a compound's storage the plug-in's default access, (E - idle)(0.3/4 + 0.7) + idle."""
    attrs = {"width": 80, "depth": 768, "n_banks": 4, "datawidth": 20, "technology": "45nm"}
    with tables.holding_out({("sram", 80.0, 768.0)}):
        priced = primitives.price("SRAM", attrs, "psum_glb")
    assert priced.top_level["read"] == pytest.approx(6.90191, rel=0.03)
    assert priced.energy["read"] == pytest.approx(5.349023, rel=0.03)
    assert priced.energy["idle"] == pytest.approx(0.000189, rel=0.1)
