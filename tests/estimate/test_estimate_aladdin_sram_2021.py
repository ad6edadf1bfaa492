"""The mid-2021 Aladdin plug-in (accelergy-aladdin-plug-in 6c4ddf5, before c127f2e bounded its
actions) priced small 45 nm SRAMs' actions as regfiles, wider than 16 bits too; the MICRO'22 Sparseloop
artifact's eyeriss_v2_pe tables were made with it (`Emulation.aladdin_sram`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from benchmarks.estimate_vs_accelergy import as_recorded, held_out_summary, recorded_by
from sparse_hw.estimate import Emulation, tables
from sparse_hw.estimate.compound import price_component
from sparse_hw.estimate.harvest import recorded_runs
from sparse_hw.spec import load_spec

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
MID_2021 = Emulation("0.3", 5, aladdin_sram=True)


def _sram(width: int, depth: int, emulate: Emulation, **extra) -> tuple[dict[str, float], float]:
    attrs = {"width": width, "depth": depth, "datawidth": width, "technology": "45nm", **extra}
    with tables.holding_out({("sram", float(width), float(depth))}):
        priced, _ = price_component("SRAM", attrs, {}, "buf", emulate=emulate)
    return priced.energy, priced.area


def test_a_20_bit_wide_sram_is_aladdins_in_energy_and_cactis_in_area():
    # artifact ERT: psum_spad 20 x 32 read 0.32508 = 20 x 0.009 + 32 x 5/32 x 0.02947 (+ idles), idle 0.00801;
    # ART_summary: its area by Cacti (1020.59 um^2, as in the 2023 eyeriss_v2 tables)
    energy, area = _sram(20, 32, MID_2021)
    assert energy["read"] == pytest.approx(0.32508, abs=2e-5)
    assert energy["write"] == pytest.approx(0.32508, abs=2e-5)
    assert energy["idle"] == pytest.approx(0.00801, abs=2e-5)
    assert area == pytest.approx(1020.59, rel=1e-3)
    later, later_area = _sram(20, 32, Emulation("0.3", 5))  # other 0.3 runs: CACTI's figures
    assert later["read"] > 0.5 and later_area == pytest.approx(area)


def test_tiny_and_128_deep_srams_take_aladdins_area_deeper_ones_stay_cacti():
    energy, area = _sram(4, 1, MID_2021)  # the reg's 4 x 1 metadata: 4 x 0.009 pJ, 4 x 5.98 um^2
    assert energy["read"] == pytest.approx(0.036, abs=1e-5)
    assert area == pytest.approx(23.92, rel=1e-4)
    assert _sram(8, 128, MID_2021)[1] == pytest.approx(2007.84, rel=1e-4)  # 8 x 5.98 + 128 x 7/32 x 70
    assert _sram(8, 192, MID_2021) == _sram(8, 192, Emulation("0.3", 5))  # over 128 words: CACTI's
    assert _sram(20, 32, Emulation("0.3", 5, aladdin_sram=True), technology="65nm") == \
        _sram(20, 32, Emulation("0.3", 5), technology="65nm")  # Aladdin's plug-in priced 40/45 nm only


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/reference")
def test_eyeriss_v2_pe_held_out_as_the_artifact_recorded():
    for files, ert, _, jinja in recorded_runs(SHARED):
        if "timeloop/designs/eyeriss_v2_pe/" in ert.as_posix():
            break
    else:
        raise AssertionError("no eyeriss_v2_pe recording")
    emulate = recorded_by(yaml.safe_load(ert.read_text())["ERT"], ert)
    assert emulate.aladdin_sram
    inputs, variables = as_recorded(files, ert, jinja)
    rows = {r["name"]: r for r in held_out_summary(load_spec(inputs, jinja_data=variables), emulate)}
    energy = {(n, a["name"]): a["energy"] for n, r in rows.items() for a in r["actions"]}
    assert energy[("eyeriss_v2_PE.PE.psum_spad", "write")] == pytest.approx(0.32508, abs=2e-5)
    assert energy[("eyeriss_v2_PE.PE.psum_spad", "idle")] == pytest.approx(0.00801, abs=2e-5)
    assert energy[("eyeriss_v2_PE.PE.reg", "metadata_read")] == pytest.approx(0.036, abs=2e-5)
    assert energy[("eyeriss_v2_PE.PE.weight_spad", "metadata_read")] == pytest.approx(0.88442, abs=2e-5)
    assert rows["eyeriss_v2_PE.PE.reg"]["area"] == pytest.approx(71.76, rel=1e-4)
