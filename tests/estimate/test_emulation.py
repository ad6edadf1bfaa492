"""Reproducing an older Accelergy's arithmetic (`Emulation`): nested action shares, plug-in rounding,
the dummy_table fallback, and recorded components kept per Accelergy version."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparse_hw.estimate import Emulation, estimate, tables
from sparse_hw.estimate.compound import price_component
from sparse_hw.spec import load_spec
from sparse_hw.spec.tables import CompoundComponent

SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference"
EX = SHARED / "examples" / "ex_778460f" / "workspace" / "baseline_designs" / "example_designs"
needs_shared = pytest.mark.skipif(not EX.is_dir(), reason="needs ../shared/reference")

# the shape of simple_pim's D2A network: an outer class whose action gives its compound subcomponent's
# action a share (n_PE_cols), and the inner class whose action drives 8 of its 128 DACs 16 times each
_OUTER = {
    "name": "multicast", "attributes": {"technology": "32nm", "n_PE_cols": 16},
    "subcomponents": [{"name": "conv", "class": "dac_system", "attributes": {"technology": "technology"}}],
    "actions": [{"name": "transfer", "subcomponents": [
        {"name": "conv", "actions": [{"name": "convert", "action_share": "n_PE_cols"}]}]}],
}
_INNER = {
    "name": "dac_system", "attributes": {"technology": "32nm", "n": 8, "cycles": 16},
    "subcomponents": [{"name": "DAC[0..127]", "class": "DAC", "attributes": {"technology": "technology",
                                                                             "datawidth": 1}}],
    "actions": [{"name": "convert", "subcomponents": [
        {"name": "DAC[0..n-1]", "actions": [{"name": "convert", "action_share": "cycles"}]}]}],
}


def _transfer(emulate: Emulation) -> float:
    library = {c["name"]: CompoundComponent.model_validate(c) for c in (_OUTER, _INNER)}
    priced, _ = price_component("multicast", {}, library, "noc", emulate=emulate)
    return priced.energy["transfer"]


def test_accelergy_03_drops_the_share_given_to_a_compound_subcomponents_action():
    # today's Accelergy multiplies it in (0.4's define_subactions upper_level_action_share): 16 x 8 x 16 DAC converts
    assert _transfer(Emulation()) == pytest.approx(16 * 8 * 16 * 0.0033)
    # 0.3 recursed into the inner class's action and kept only its shares: 8 x 16 converts
    assert _transfer(Emulation("0.3")) == pytest.approx(8 * 16 * 0.0033)
    # and rounded each plug-in estimate at --precision (3): 0.0033 -> 0.003 pJ per convert
    assert _transfer(Emulation("0.3", 3)) == pytest.approx(8 * 16 * 0.003)


def _pim_spec():
    d = EX / "simple_pim"
    return load_spec([d / "arch" / "system_PIM.yaml", *sorted((d / "arch" / "components").glob("*.yaml"))])


def _row(spec, suffix: str, emulate: Emulation) -> dict:
    return next(r for r in estimate(spec, emulate=emulate).summary if r["name"].endswith(suffix))


@needs_shared
def test_simple_pim_d2a_network_as_accelergy_03_recorded_it():
    spec = _pim_spec()

    def d2a(emulate: Emulation) -> float:
        return next(a["energy"] for a in _row(spec, "D2A_NoC", emulate)["actions"] if a["name"] == "transfer_Inputs")

    # recorded: example_outputs/timeloop-mapper.ERT.yaml, transfer_Inputs 0.384 pJ (every num_destinations)
    assert d2a(Emulation("0.3", 3)) == pytest.approx(0.384)
    assert d2a(Emulation()) == pytest.approx(6.7584)


@needs_shared
def test_simple_pim_priced_from_its_plugin_tables_without_recorded_components():
    """The ReRAM cells, sample-and-holds, shift-and-adds and 32 nm SRAM of the PIM exercise come from
    its own table plug-in tables (data/plugin_tables.csv); before, the A2D network was skipped and the
    leave-one-size-out view could not price the ReRAM scratchpad at all."""
    spec = _pim_spec()
    with tables.holding_out(()):  # no whole recorded component: every figure from the tables and models
        old = Emulation("0.3", 3)
        a2d = _row(spec, "A2D_NoC", old)
        # recorded: 223.232 pJ = ADC 128 x 1.66 + shift-and-add 128 x 0.042 + buffer 14 x (0.192 + 0.192) +
        # sample-and-hold 128 x 8.13e-6 rounded to 0 at 3 decimals; area 2032.496 = 64 x 0.039 + 1200 + 60 + 770
        assert a2d["actions"][0]["energy"] == pytest.approx(223.232) and a2d["area"] == pytest.approx(2032.496)
        mac = _row(spec, "mac", old)  # recorded 0.256 pJ, 0.016 um^2: 8 cells x 16 x 0.002, 8 x 0.002
        assert mac["actions"][0]["energy"] == pytest.approx(0.256) and mac["area"] == pytest.approx(0.016)
        assert _row(spec, "scratchpad", old)["actions"][0]["energy"] == 0.0
        unrounded = _row(spec, "A2D_NoC", Emulation())["actions"][0]["energy"]
        assert unrounded == pytest.approx(128 * 1.66 + 128 * 0.0418 + 14 * 0.384 + 128 * 8.13e-6)


def _gating_spec():
    d = EX / "eyeriss_like_w_gating"
    return load_spec([d / "arch" / "arch.yaml", *sorted((d / "components").glob("*.yaml"))])


def _ifmap(spec, emulate: Emulation) -> dict[str, float]:
    row = next(r for r in estimate(spec, emulate=emulate).summary if r["name"].endswith("ifmap_spad"))
    return {a["name"]: a["energy"] for a in row["actions"]}


@needs_shared
def test_gating_ifmap_spad_per_accelergy_version_recorded_and_modelled():
    spec = _gating_spec()
    # today's Accelergy (timeloop/designs/accelergy_ert_gating_arch): Aladdin_table priced the 17 x 12 SRAM
    new = _ifmap(spec, Emulation())
    assert new["write"] == pytest.approx(0.196522) and new["idle"] == pytest.approx(0.012422)
    # Accelergy 0.3 (ex_778460f ref-output): dummy_table, 1 pJ per access and 0 idle, plus an adder's idle
    old = _ifmap(spec, Emulation("0.3", 5))
    assert old["write"] == 1.0 and old["read"] == 1.0 and old["idle"] == pytest.approx(0.00595)
    with tables.holding_out(()):  # no whole recorded component: the model alone gives the same
        model = _ifmap(spec, Emulation("0.3", 5))
    assert model == pytest.approx(old)
    assert model["gated_write"] == pytest.approx(0.00595)


@needs_shared
def test_recorded_components_keep_each_accelergy_versions_figures():
    spec = _gating_spec()
    lv = next(lv for lv in spec.flat().storage if lv.name == "ifmap_spad")
    sig = f"{tables.class_fingerprint(spec.components['smartbuffer'])} {tables.component_signature(lv.attributes)}"
    first = tables.recorded_component("smartbuffer", sig, lv.path)
    old = tables.recorded_component("smartbuffer", sig, lv.path, "0.3")
    assert first["write"][0] == pytest.approx(0.196522) and "timeloop/designs" in first["write"][1]
    assert old["write"][0] == 1.0 and "ex_778460f" in old["write"][1]
    assert tables.recorded_component("smartbuffer", sig, lv.path, "0.4") == first


def test_plugin_table_rows_answer_only_where_every_tabulated_column_matches():
    from sparse_hw.estimate import plugin_tables

    attrs = {"technology": "32nm", "width": 16, "depth": 128, "datawidth": 16}
    assert plugin_tables.lookup("SRAM", attrs) is None  # the table also names latency 1ns
    row = plugin_tables.lookup("SRAM", {**attrs, "latency": "1ns"})
    assert row.energy["read"] == 0.192 and row.area == 770.0
    cell = plugin_tables.lookup("ReRAMcell_compute", {"technology": "memristor", "cellwidth": 2})
    assert cell.energy == {"compute": 0.00183, "idle": 0.0}
    assert plugin_tables.lookup("ReRAMcell_compute", {"technology": "memristor", "cellwidth": 4}) is None
