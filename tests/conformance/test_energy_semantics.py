"""Energy semantics the published examples need (issue 11 items 2 and 3), checked on their own.

Each check names the Timeloop source it follows; the end-to-end numbers are in
test_examples_model.py.
"""

from __future__ import annotations

import dataclasses

import pytest

from sparse_hw.errors import SpecError
from sparse_hw.model.arch import (
    STORAGE_OP_FALLBACKS,
    STORAGE_OP_FALLBACKS_LEAK_AWARE,
    _storage_op_energy,
    component_key,
    pat_access_energy,
)
from tests.conformance.examples import EXAMPLES, case, compare, evaluate_with_engine, load

pytestmark = pytest.mark.skipif(
    not (EXAMPLES / "cases.json").is_file(), reason="../shared/reference/examples missing"
)

ISPASS_02 = "ex@2d55108/ispass-timeloop/02_os"  # v0.4 ERT with read/write/update/leak


def test_update_action_is_priced_as_update() -> None:
    for table in (STORAGE_OP_FALLBACKS, STORAGE_OP_FALLBACKS_LEAK_AWARE):
        e = _storage_op_energy({"read": 1.0, "write": 2.0, "update": 3.0}, table)
        assert e["random_update"] == 3.0 and e["random_fill"] == 2.0 and e["random_read"] == 1.0


def test_absent_gated_actions_v303_fall_back_to_idle() -> None:
    e = _storage_op_energy({"read": 1.0, "write": 2.0, "idle": 0.25}, STORAGE_OP_FALLBACKS)
    assert e["gated_read"] == 0.25 and e["skipped_read"] == 0.25 and e["gated_update"] == 0.25


def test_absent_gated_actions_cost_nothing_for_a_leak_pricing_ert() -> None:
    """Timeloop >= feb3bd0 lists no idle/read fallback for gated/skipped/metadata actions."""
    e = _storage_op_energy({"read": 1.0, "write": 2.0, "leak": 0.01}, STORAGE_OP_FALLBACKS_LEAK_AWARE)
    assert e["gated_read"] == 0.0 and e["skipped_read"] == 0.0 and e["random_metadata_read"] == 0.0
    assert e["random_read"] == 1.0 and e["random_update"] == 2.0


def test_unmatched_random_actions_use_pat_energy() -> None:
    """A register whose ERT lists only `access` keeps PAT's SRAM energy (0.49 pJ in the fig1 stats)."""
    pat = pat_access_energy("SRAM", 1, 8, 1, 1)
    assert pat == pytest.approx(0.4875, abs=5e-5)
    e = _storage_op_energy({"access": 0.009}, STORAGE_OP_FALLBACKS, pat)
    assert e["random_read"] == e["random_fill"] == e["random_update"] == pat
    assert e["gated_read"] == 0.0
    assert pat_access_energy("DRAM", None, 8, 8, 1) == 800.0


def test_leakage_is_leak_times_cycles_per_level() -> None:
    ours, engine = evaluate_with_engine(case(ISPASS_02))
    ref = compare(case(ISPASS_02)).ref
    leak = {lv.name: lv.leak_energy * ours.cycles for lv in engine.arch.storage}  # one instance each
    assert all(v > 0 for v in leak.values())
    for name, pj in leak.items():
        data = sum(s.energy_pj for s in ours.levels if s.level == name)
        assert ours.energy_breakdown_pj[name] == pytest.approx(data + pj)
    assert ours.energy_pj == pytest.approx(ref.energy_pj, rel=2e-6)
    assert any("leakage" in n for n in ours.notes)


def test_missing_ert_entry_is_an_error_naming_the_component() -> None:
    spec = load(case(ISPASS_02))
    tables = [t for t in spec.ert.tables if component_key(t.name) != "Buffer"]
    spec = dataclasses.replace(spec, ert=spec.ert.model_copy(update={"tables": tables}))
    from sparse_hw.model.evaluate import Engine

    with pytest.raises(SpecError, match="no entry for Buffer"):
        Engine.from_spec(spec)


def test_cli_model_without_ert_is_estimated_and_says_so() -> None:
    """Issue 11 item 3 + issue 12: no ERT never means 0 pJ; the estimator fills it and the run says so."""
    import json
    import subprocess
    import sys

    c = case(ISPASS_02)
    proc = subprocess.run(
        [sys.executable, "-m", "sparse_hw", "model", "--json", *map(str, (c.folder / f for f in c.files))],
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "estimator" in proc.stderr and "pass an ERT" in proc.stderr
    ev = json.loads(proc.stdout)
    assert ev["energy_pj"] > 0


def test_real_data_density_is_evaluated_from_its_masks() -> None:
    """Issue 16: the real-data model (model/density.py ActualDensity) replaced the refusal."""
    r = compare(case("artifact/fig12/uniform_actual/L07/actual_data"))
    assert r.loaded and r.evaluated, r.error
    assert r.cycles == r.ref.cycles == 1702141


def test_bitmask_metadata_defaults_to_one_bit() -> None:
    """format-models/bitmask.cpp: B metadata is 1 bit per coordinate unless metadata-word-bits says so."""
    ours, engine = evaluate_with_engine(case("artifact/fig1/0.01_bitmask"))
    buffer = engine.arch.level_index("Buffer")
    nest_bits = ours.level("Buffer", "A")
    assert nest_bits.metadata_fills > 0
    md_fill_energy = engine.arch.storage[buffer].op_energy["random_metadata_fill"]
    # 2097152 one-bit coordinates in 28-bit metadata words
    assert nest_bits.energy_pj > -(-2097152 // 28) * md_fill_energy


@pytest.mark.parametrize(
    "case_id",
    [
        ISPASS_02,  # dense, leakage
        "ex@2d55108/example_designs/sparseloop/02.2.1-spMspM",  # sparse, leakage, absent gated actions
        "artifact/fig1/0.01_bitmask",  # bitmask metadata, PAT-priced register
    ],
)
def test_vectorized_batch_agrees_with_the_detailed_evaluation(case_id: str) -> None:
    """The mapper's batch path prices leakage, PAT and bitmask metadata exactly like `evaluation`."""
    from sparse_hw.model.evaluate import Engine

    spec = load(case(case_id))
    engine = Engine.from_spec(spec)
    mb = engine.compile_mapping(spec.mapping)
    batch = engine.evaluate(mb)
    detail = engine.evaluation(mb, 0)
    assert bool(batch.valid[0])
    assert float(batch.energy_pj[0]) == pytest.approx(detail.energy_pj, rel=1e-9)
    assert int(batch.cycles[0]) == detail.cycles


def test_explicit_network_is_refused_not_priced_at_zero() -> None:
    """simple_pim routes data over SimpleMulticast ADC/DAC networks that have their own ERT energy."""
    from sparse_hw.model.evaluate import Engine

    with pytest.raises(SpecError, match="explicit network") as info:
        Engine.from_spec(load(case("ex@778460f/baseline_designs/simple_pim")))
    assert "network_" in (info.value.key_path or str(info.value))


def test_unmatched_compute_action_uses_the_energy_attribute_or_pat() -> None:
    """arithmetic.cpp ParseSpecs: random computes fall back to `energy`, else (bits/16)^2 pJ; gated to 0."""
    from sparse_hw.model.arch import _compute_default_energy, _compute_op_energy

    assert _compute_default_energy({"datawidth": 8}) == 0.25
    assert _compute_default_energy({"datawidth": 8, "energy": 1.5}) == 1.5
    e = _compute_op_energy({"multiply": 3.0}, 0.25)
    assert e["random_compute"] == 0.25 and e["gated_compute"] == 0.0
    assert _compute_op_energy({"mac_random": 2.0, "mac_gated": 0.1}, 0.25)["gated_compute"] == 0.1


def test_2020_stats_files_parse() -> None:
    """Timeloop v1 (ISPASS'20 outputs) prints a `MACCs = N` / `pJ/MACC` table and no compute counts."""
    from sparse_hw.backends.timeloop_stats import parse_stats_file

    c = case("ex@778460f/ispass-timeloop/00")
    stats = parse_stats_file(c.folder / c.ref)
    assert stats.dialect == "2020"
    ev = stats.to_evaluation()
    assert ev.actual_computes == ev.algorithmic_computes == 48
    assert ev.cycles == 48
    assert ev.energy_pj == pytest.approx(100.85, abs=0.02)  # 'Total topology energy: 100.85 pJ'
