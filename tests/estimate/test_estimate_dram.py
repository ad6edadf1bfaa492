"""DRAM types: per-bit figures with their provenance, DDR4 from a datasheet's currents, unknown types refused."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from sparse_hw.errors import SpecError
from sparse_hw.estimate import estimate, tables
from sparse_hw.spec import load_spec


def _arch(tmp_path: Path, kind: str, width: int = 64) -> Path:
    arch = tmp_path / "arch.yaml"
    arch.write_text(textwrap.dedent(f"""
        architecture:
          version: 0.3
          subtree:
            - name: sys
              attributes: {{technology: 45nm}}
              local:
                - name: DRAM
                  class: DRAM
                  attributes: {{type: {kind}, width: {width}, datawidth: 16}}
                - name: mac
                  class: intmac
                  attributes: {{datawidth: 16}}
        """))
    return arch


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sparse_hw", "estimate", *args], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=120, check=False)


def test_ddr4_follows_tn_40_07_from_the_datasheet_currents():
    """Micron's DDR4-2666 UDIMM currents (IDD4R 1052, IDD4W 976, IDD3N 200 mA at 1.2 V, tCK 0.75 ns): a
    BL8 burst holds the 64-bit bus 4 clocks, so read = 852 mA x 1.2 V x 3 ns / 512 bits."""
    row = next(r for r in tables._rows("dram_idd.csv") if r["type"] == "DDR4")
    read, write = tables.dram_idd_energy_per_bit(row)
    assert read == pytest.approx(852 * 1.2 * 3 / 512) and write == pytest.approx(776 * 1.2 * 3 / 512)
    table = tables.dram_energy_per_bit()
    assert table["DDR4"] == table["DDR4-2666"] and table["DDR4"][:2] == (read, write)
    # a row miss: IDD0 340 mA over tRC 46.25 ns less IDD3N 200 for tRAS 32 and IDD2N 140 for the 14.25 ns
    # left, at 1.2 V, plus IPP0 - IPP3N = 4 mA at 2.5 V over tRC; stated beside the figure, not added
    assert tables.dram_idd_activate_pJ(row) == pytest.approx(1.2 * (340 * 46.25 - 200 * 32 - 140 * 14.25)
                                                             + 2.5 * 4 * 46.25)
    assert "costs 9258 pJ, 18.1 pJ/bit more if every burst opened a row" in table["DDR4"][2]


def test_ddr4_priced_with_its_provenance_in_the_summary(tmp_path):
    proc = _cli(str(_arch(tmp_path, "DDR4")), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    ert = yaml.safe_load((tmp_path / "o" / "ERT.yaml").read_text())["ERT"]["tables"]
    actions = {a["name"]: a["energy"] for t in ert if t["name"].endswith("DRAM") for a in t["actions"]}
    assert actions["read"] == pytest.approx(5.990625 * 64, rel=1e-4)
    assert actions["write"] == actions["update"] == pytest.approx(5.45625 * 64, rel=1e-4)
    summary = yaml.safe_load((tmp_path / "o" / "estimate_summary.yaml").read_text())["estimate_summary"]
    dram = next(c for c in summary["components"] if c["name"].endswith("DRAM"))
    sources = {a["name"]: a["source"] for a in dram["actions"]}
    assert "DDR4 5.991 pJ/bit x 64 bits" in sources["read"] and "TN-40-07" in sources["read"]
    assert "MTA4ATF51264AZ" in sources["write"] and "lower bound" in sources["write"]


@pytest.mark.parametrize("kind, per_bit, words", [
    ("HBM3", 4.05, "hwcomponents-cacti 0355a78"),
    ("hbm4", 3.2, "hwcomponents-cacti 0355a78"),
    ("HBM2", 3.9, "lists HBM2 at 6.25"),
    ("\"'DDR4-2666'\"", 5.990625, "DDR4-2666"),  # a speed grade is quoted: DDR4-2666 alone is arithmetic
    ("LPDDR4", 8, "Public data"),
])  # fmt: skip
def test_types_and_the_table_each_came_from(tmp_path, kind, per_bit, words):
    est = estimate(load_spec([_arch(tmp_path, kind, width=32)]))
    assert est.ert.component("DRAM").energy("read") == pytest.approx(per_bit * 32)
    dram = next(c for c in est.summary_dict()["estimate_summary"]["components"] if c["name"].endswith("DRAM"))
    assert words in next(a["source"] for a in dram["actions"] if a["name"] == "read")


@pytest.mark.parametrize("kind", ["DDR5", "\"'LPDDR4-3200'\"", "\"'DDR4-3200'\""])
def test_unknown_type_refused_naming_the_key(tmp_path, kind):
    with pytest.raises(SpecError) as info:
        estimate(load_spec([_arch(tmp_path, kind)]))
    assert "type" in str(info.value) and "DRAM" in str(info.value) and "DDR4-2666" in str(info.value)


def test_unknown_type_exits_2_on_the_command_line(tmp_path):
    proc = _cli(str(_arch(tmp_path, "DDR5")), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2, proc.stderr
    assert "'DDR5'" in proc.stderr and "type" in proc.stderr and "HBM3" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_ddr4_lower_bound_is_said_on_stderr_and_in_the_summary(tmp_path):
    """DDR4's figure leaves out row activation, refresh and I/O: it is a lower bound, and a number known
    to be too low is never silent (stderr, the summary's caveats, the note `fill_missing` leaves for the
    manifest); a system figure (LPDDR4) carries no caveat."""
    proc = _cli(str(_arch(tmp_path, "DDR4")), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert "DDR4" in proc.stderr and "lower bound" in proc.stderr
    summary = yaml.safe_load((tmp_path / "o" / "estimate_summary.yaml").read_text())["estimate_summary"]
    assert len(summary["caveats"]) == 1 and "lower bound" in summary["caveats"][0]

    from sparse_hw.estimate import fill_missing, notes_for

    spec = load_spec([_arch(tmp_path, "DDR4")])
    fill_missing(spec)
    assert "lower bound" in notes_for(spec)[0]
    spec = load_spec([_arch(tmp_path, "LPDDR4")])
    assert estimate(spec).caveats == []
    fill_missing(spec)
    assert "lower bound" not in notes_for(spec)[0]
