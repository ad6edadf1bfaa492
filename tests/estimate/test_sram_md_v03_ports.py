"""The SRAM_MD class as the Accelergy 0.3-era runs defined it defaulted to one read-write port (their
flattened architectures record ``n_rdwr_ports: 1``; the eyeriss_v2_pe tables the 1-port CACTI
figures), whereas the v0.4 eyeriss_v2 files' class, which sparse-hw's library copies, says 2
(`sparse_hw.estimate.api.V03_DEFAULTS`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sparse_hw.estimate import Emulation, estimate, tables
from sparse_hw.estimate.api import builtin_classes
from sparse_hw.spec import load_spec

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
PE = SHARED / "timeloop" / "designs" / "eyeriss_v2_pe"
ARTIFACT = Emulation("0.3", 5, aladdin_sram=True)


def test_builtin_sram_md_defaults_to_one_port_only_for_0_3():
    assert builtin_classes(True)["SRAM_MD"].attributes["n_rdwr_ports"] == 1
    assert builtin_classes()["SRAM_MD"].attributes["n_rdwr_ports"] == 2  # v0.4's eyeriss_v2 priced 2
    assert builtin_classes(True)["SRAM_MD_bank_control"] == builtin_classes()["SRAM_MD_bank_control"]


@pytest.mark.skipif(not PE.is_dir(), reason="needs ../shared/reference")
def test_eyeriss_v2_pe_weight_spad_from_the_models_is_the_recorded_one_port_sram():
    # artifact ART: 3013.83 = 1005.99 (8 x 192 data, CACTI, 1 port) + 2007.84 (8 x 128 metadata, Aladdin);
    # ERT: read 0.47678, write 0.51919 (2 ports would be 2101.33 um^2, 0.53321 / 0.59359 pJ)
    spec = load_spec([PE / "arch.yaml"])
    with tables.models_only(), tables.holding_out(()):
        row = next(r for r in estimate(spec, emulate=ARTIFACT).summary if r["name"].endswith("weight_spad"))
    energy = {a["name"]: a["energy"] for a in row["actions"]}
    assert row["area"] == pytest.approx(3013.83, rel=1e-4)
    assert energy["read"] == pytest.approx(0.47678, abs=2e-5)
    assert energy["write"] == pytest.approx(0.51919, abs=2e-5)


@pytest.mark.skipif(not PE.is_dir(), reason="needs ../shared/reference")
def test_an_explicit_port_count_still_wins(tmp_path: Path):
    arch = yaml.safe_load((PE / "arch.yaml").read_text())
    pe = arch["architecture"]["subtree"][0]["subtree"][0]["local"]
    next(c for c in pe if c["name"] == "weight_spad")["attributes"]["n_rdwr_ports"] = 2
    (tmp_path / "arch.yaml").write_text(yaml.safe_dump(arch))
    with tables.models_only(), tables.holding_out(()):
        row = next(r for r in estimate(load_spec([tmp_path / "arch.yaml"]), emulate=ARTIFACT).summary
                   if r["name"].endswith("weight_spad"))
    assert row["area"] == pytest.approx(2101.33 + 2007.84, rel=1e-3)  # as fig15's explicit 2-port RF
