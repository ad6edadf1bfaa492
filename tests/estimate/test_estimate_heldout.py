"""Held-out (leave-one-size-out) estimates of the components whose Accelergy figures the estimator
used to miss by 30x-600x: each priced with the recorded figures of its own sizes left out, from the
input that produced the recording, against what Accelergy recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from benchmarks.estimate_vs_accelergy import as_recorded, held_out_summary, recorded_by
from sparse_hw.estimate import primitives, tables
from sparse_hw.estimate.harvest import recorded_runs
from sparse_hw.spec import load_spec

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
EX = "examples/ex_2d55108/workspace"
ISPASS = f"{EX}/tutorial_exercises/01_accelergy_timeloop_2020_ispass"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/reference")


def _held_out(run: str) -> dict[str, dict]:
    """Component name -> held-out summary row of the recorded run whose ERT path contains ``run``, as
    the benchmark prices it (the input that produced it, the Accelergy that wrote it)."""
    for files, ert, _, jinja in recorded_runs(SHARED):
        if run in str(ert):
            inputs, variables = as_recorded(files, ert, jinja)
            emulate = recorded_by(yaml.safe_load(ert.read_text())["ERT"])
            return {r["name"]: r for r in held_out_summary(load_spec(inputs, jinja_data=variables), emulate)}
    raise AssertionError(f"no recorded run {run}")


def _energy(row: dict, action: str) -> float:
    return next(a["energy"] for a in row["actions"] if a["name"] == action)


@needs_shared
def test_v03_simba_buffers_are_priced_from_the_input_accelergy_read():
    # the recording came from an earlier simba_like that named the sizes depth/width: the smartbuffer
    # classes kept their own memory_depth 12 / memory_width 16, a 16 x 12 regfile (0.237 pJ, 379.68 um^2),
    # and the LMAC was 8 bits (0.561 pJ); today's file has 64 x 8192 buffers (97 pJ)
    rows = _held_out("ex_778460f/workspace/baseline_designs/example_designs/simba_like/example_AlexNet")
    for name in ("System.ws.PE[0..15].PEInputBuffer", "System.ws.PE[0..15].PEWeightBuffer[0..3]"):
        assert _energy(rows[name], "read") == pytest.approx(0.237, rel=0.01)
        assert _energy(rows[name], "idle") == pytest.approx(0.018, rel=0.03)
        assert rows[name]["area"] == pytest.approx(379.68, rel=0.01)
    assert _energy(rows["System.ws.PE[0..15].LMAC[0..15]"], "compute") == pytest.approx(0.561, rel=0.01)
    # its 16 x 12 SRAM GlobalBuffer: dummy_table (1 pJ, 1 um^2) in the 2020 plug-ins, plus address
    # generators whose `count` costs an add; the DRAM's area dummy_table's 1 um^2
    glb = rows["System.ws.GlobalBuffer"]
    assert _energy(glb, "write") == pytest.approx(1.049, rel=0.01)
    assert _energy(glb, "read") == pytest.approx(1.049, rel=0.01)
    assert glb["area"] == pytest.approx(180.0, rel=0.01)
    assert rows["System.DRAM"]["area"] == pytest.approx(1.0)


@needs_shared
def test_v04_intmac_as_run_has_an_adder_for_its_multiplier():
    # parsed-processed-input.yaml: the intmac that ran had class aladdin_adder for its multiplier
    row = _held_out(f"{EX}/example_designs/example_designs/sparseloop/01.2.1-DUDU")["PE_top_level.mac[1..1]"]
    assert _energy(row, "compute") == pytest.approx(0.315, rel=0.01)
    assert _energy(row, "leak") == pytest.approx(0.0036, rel=0.01)
    assert row["area"] == pytest.approx(417.0, rel=0.01)


@needs_shared
@pytest.mark.parametrize("run, spad, write, leak, area", [
    (f"{ISPASS}/timeloop+accelergy/ref-output/intmac", "ifmap_spad", 0.271902, 0.000154, 151.940565),
    (f"{ISPASS}/timeloop+accelergy/ref-output/intmac", "weights_spad", 2.861554, 0.002416, 12639.81936),
    (f"{ISPASS}/timeloop/06-mapper-convlayer-eyeriss/ref-output", "psum_spad", 0.2191, 0.000134, 123.627348),
])
def test_v04_smartbuffer_rf_area_scale_twice_and_neurosim_address_generators(run, spad, write, leak, area):
    # area = area_scale x (area_scale x regfile + 2 address generators); the generators (n_bits only)
    # are NeuroSim adders, not 32-bit Aladdin ones (which cost 30x the leakage)
    row = _held_out(run)[f"system_top_level.{spad}[1..168]"]
    assert _energy(row, "write") == pytest.approx(write, rel=0.01)
    assert _energy(row, "leak") == pytest.approx(leak, rel=0.05)
    assert row["area"] == pytest.approx(area, rel=0.01)


@needs_shared
def test_v04_simba_weight_regs_area_and_aladdin_1ns_adder_leak():
    row = _held_out(f"{EX}/example_designs/example_designs/simba_like/ref_outputs")["System_top_level.PEWeightRegs[1..256]"]
    assert row["area"] == pytest.approx(49.12418, rel=0.005)  # was 3150 um^2
    assert _energy(row, "leak") == pytest.approx(0.000169, rel=0.02)  # Aladdin plug-in 1 ns idle 0.0023 pJ
    assert _energy(row, "read") == pytest.approx(0.259899, rel=0.005)


def test_neurosim_adder_between_recorded_bit_counts():
    attrs = {"n_bits": 4, "precision": 4, "global_cycle_seconds": 1e-9, "technology": "45nm"}
    with tables.holding_out({("intadder", None, None, 4.0)}):
        priced = primitives.price("intadder", attrs, "ag")
    assert "NeuroSim" in priced.estimator and "4-bit" not in priced.source["add"]
    assert priced.energy["add"] == pytest.approx(0.016355, rel=0.02)  # from the 8-bit figure alone
    assert priced.energy["leak"] == pytest.approx(1.6e-6, rel=0.1)
    assert priced.area == pytest.approx(23.27, rel=0.02)
    with tables.holding_out():  # 32nm from its own rows; a node without rows scaled from the nearest
        at32 = primitives.price("intadder", {**attrs, "technology": "32nm"}, "ag")
        at65 = primitives.price("intadder", {**attrs, "technology": "65nm"}, "ag")
    assert at32.energy["add"] == pytest.approx(0.008218, rel=1e-3)
    assert at65.energy["add"] > priced.energy["add"] and at65.area > priced.area


def test_v04_primitive_intmac_energy_from_the_1ns_rows_area_from_the_5ns_rows():
    attrs = {"width": 8, "technology": "40nm", "global_cycle_seconds": 1e-9}
    with tables.holding_out({("intmac", None, None, 8.0)}):
        priced = primitives.price("intmac", attrs, "MACC")
    assert priced.energy["mac_random"] == pytest.approx(0.845, rel=1e-3)  # 12.68 (8/32)^2 + 0.21 x 8/32
    assert priced.area == pytest.approx(332.25, rel=1e-3)  # 4600 (8/32)^2 + 179 x 8/32
    with tables.holding_out({("intmac", None, None, 8.0)}):  # Accelergy 0.3 (no cycle): the 5 ns rows
        old = primitives.price("intmac", {"datawidth": 8, "technology": "45nm"}, "MACC")
    assert old.energy["mac_random"] == pytest.approx(0.5608, rel=1e-3)


def test_v04_fpmac_energy_and_leak_from_the_1ns_rows():
    attrs = {"datawidth": 32, "technology": "45nm", "global_cycle_seconds": 1e-9}
    with tables.holding_out({("fpmac", None, None, 32.0)}):
        priced = primitives.price("fpmac", attrs, "mac")
    assert priced.energy["mac_random"] == pytest.approx(51.979, rel=1e-3)  # 16.679 + 35.3
    assert priced.energy["idle"] == pytest.approx(0.518524, rel=1e-3)  # 0.159 + 0.3595236
    assert priced.area == pytest.approx(4120.0, rel=1e-3)


def test_v04_regfile_energy_from_the_1ns_rows_area_from_the_5ns_rows():
    attrs = {"width": 8, "depth": 64, "datawidth": 8, "technology": "40nm", "global_cycle_seconds": 1e-9}
    with tables.holding_out({("regfile", 8.0, 64.0)}):
        priced = primitives.price("regfile", attrs, "RegisterFile")
    assert priced.energy["read"] == pytest.approx(0.42564, rel=2e-4)  # 8 x 0.009 + 64 x 6/32 x 0.02947
    assert priced.area == pytest.approx(887.84, rel=2e-4)  # 8 x 5.98 + 64 x 6/32 x 70
