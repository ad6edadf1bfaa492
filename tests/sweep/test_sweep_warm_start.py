"""Sweep speed-ups that must not change what a sweep finds: warm start, the exact-evaluation cap, shared
jobs, the --out lock, and the one liveness probe of io and the workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sparse_hw import archsweep
from sparse_hw.archsweep import arch_sweep, prepare
from sparse_hw.backends.analytical import map_spec
from sparse_hw.backends.inputs import load_files
from sparse_hw.errors import ConfigError
from sparse_hw.io import pid_alive
from sparse_hw.mapper.search import seed_json
from sparse_hw.spec.library import architecture_files
from tests.problems import CNN_LAYER_SHAPE

_PROBLEM = CNN_LAYER_SHAPE + """\
  instance: {{C: {C}, M: {M}, R: 1, S: 1, N: 1, P: {P}, Q: 4,
    densities: {{Weights: {{distribution: hypergeometric, density: 0.25}},
                Inputs: {{distribution: hypergeometric, density: 0.5}}}}}}
"""
#: eyeriss_v2 (sparse: the bound-pruned search, where seeds matter); 2 anchors (depth 768) x 2 seeded points
GRID = ["iact_glb.depth=768,1536", "psum_glb.meshX=4,8"]
CAP = 24  # exact evaluations per search: small, so that the seeds can make a difference


def _layers(folder: Path, shapes=((8, 16, 8), (16, 8, 4))) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for c, m, p in shapes:
        f = folder / f"c{c}m{m}p{p}.yaml"
        f.write_text(_PROBLEM.format(C=c, M=m, P=p))
        files.append(f)
    return files


def _edp(out: Path) -> pd.Series:
    table = pd.read_csv(out / "layers.csv")
    return (table["energy_pj"] * table["cycles"]).set_axis(pd.MultiIndex.from_frame(table[["point", "layer"]]))


@pytest.fixture(scope="module")
def warm_and_cold(tmp_path_factory) -> tuple[Path, Path, list[Path]]:
    root = tmp_path_factory.mktemp("warm")
    layers = _layers(root / "layers")
    warm = arch_sweep("eyeriss_v2", GRID, layers, out=root / "warm", cache=root / "w.sqlite", max_exact=CAP)
    cold = arch_sweep("eyeriss_v2", GRID, layers, out=root / "cold", cache=root / "c.sqlite", max_exact=CAP,
                      warm=False)
    return warm, cold, layers


def test_warm_start_never_finds_a_worse_mapping_than_a_cold_search(warm_and_cold) -> None:
    warm, cold, _ = warm_and_cold
    w, c = _edp(warm), _edp(cold)
    assert len(w) == len(c) == 8 and w.notna().all()
    assert (w <= c * (1 + 1e-9)).all(), pd.DataFrame({"warm": w, "cold": c})
    anchors = [p for p, _ in w.index if p in ("p000", "p001")]  # depth 768: mapped cold either way
    assert anchors and (w.loc[anchors] == c.loc[anchors]).all()


def test_the_seeded_jobs_record_their_seeds(warm_and_cold) -> None:
    from sparse_hw.sweep import ResultCache

    warm, _, _ = warm_and_cold
    store = ResultCache(warm.parent / "w.sqlite")
    try:
        payloads = [store.get(k) for (k,) in store._db.execute("SELECT key FROM results")]
    finally:
        store.close()
    seeded = [p for p in payloads if p["mapper"].get("warm_start_seeds")]
    assert len(seeded) == 4 and all(p["mapper"]["warm_start_seeds"] == 2 for p in seeded)  # 2 anchors each
    assert sum("best_mapping" in p for p in payloads) == 4  # the anchors keep theirs


def test_a_warm_sweep_is_deterministic_for_any_worker_count(warm_and_cold, tmp_path) -> None:
    warm, _, layers = warm_and_cold
    again = arch_sweep("eyeriss_v2", GRID, layers, out=tmp_path / "again", cache=tmp_path / "fresh.sqlite",
                       max_exact=CAP, workers=2)
    for name in ("sweep.csv", "layers.csv"):
        assert (again / name).read_bytes() == (warm / name).read_bytes()


def test_a_seed_keeps_its_place_unless_beaten_and_foreign_seeds_are_ignored(tmp_path) -> None:
    a, b = _layers(tmp_path, shapes=((8, 16, 8), (16, 16, 8)))
    files = [*architecture_files("eyeriss_v2")]
    cold, _ = map_spec(load_files([*files, a]), overrides={"max_exact": CAP}, pad=True)
    seed = {"fingerprint": cold.fingerprint, "mapping": seed_json(cold.batch)}
    again, _ = map_spec(load_files([*files, a]), overrides={"max_exact": CAP}, pad=True, seeds=[seed])
    def edp(r) -> float:
        return r.evaluation.energy_pj * r.evaluation.cycles

    assert edp(again) <= edp(cold) * (1 + 1e-12) and again.seeds == 1
    # the other layer's mapping does not tile this problem: its fingerprint differs, it is not used
    other, _ = map_spec(load_files([*files, b]), overrides={"max_exact": CAP}, pad=True, seeds=[seed])
    plain, _ = map_spec(load_files([*files, b]), overrides={"max_exact": CAP}, pad=True)
    assert other.seeds == 0 and edp(other) == edp(plain)


def test_the_exact_evaluation_cap_is_honoured(tmp_path) -> None:
    (a,) = _layers(tmp_path, shapes=((16, 16, 8),))
    files = [*architecture_files("eyeriss_v2"), a]
    capped, _ = map_spec(load_files(files), overrides={"max_exact": 10}, pad=True)
    wider, _ = map_spec(load_files(files), overrides={"max_exact": 200}, pad=True)
    assert capped.exact_evaluations <= 10 < wider.exact_evaluations
    assert wider.evaluation.energy_pj * wider.evaluation.cycles <= (
        capped.evaluation.energy_pj * capped.evaluation.cycles * (1 + 1e-12))


def test_identical_layers_are_mapped_once_and_a_plan_is_not_validated_again(tmp_path, monkeypatch) -> None:
    (a,) = _layers(tmp_path / "layers", shapes=((8, 16, 8),))
    twin = a.with_name("twin.yaml")
    twin.write_text(a.read_text())
    sets = ["iact_glb.depth=768"]
    plan = prepare("eyeriss_v2", sets, [a, twin])
    monkeypatch.setattr(archsweep, "prepare", lambda *args: pytest.fail("validated twice"))
    out = arch_sweep("eyeriss_v2", sets, [a, twin], out=tmp_path / "out", max_exact=CAP, plan=plan)
    layers = pd.read_csv(out / "layers.csv")
    assert list(layers["layer"]) == [a.stem, "twin"] and layers["energy_pj"].nunique() == 1
    assert list(pd.read_csv(out / "timings.csv")["cache_hit"]) == [False, True]


def test_a_second_sweep_on_the_same_out_is_refused_at_once(tmp_path) -> None:
    (a,) = _layers(tmp_path / "layers", shapes=((8, 16, 8),))
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys; from sparse_hw.io import out_lock\n"
                                "with out_lock(sys.argv[1]):\n    print('locked', flush=True); sys.stdin.read()"),
         str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match="another sparse-hw run is writing"):
            arch_sweep("eyeriss_v2", ["iact_glb.depth=768"], [a], out=out, max_exact=CAP,
                       plan=prepare("eyeriss_v2", ["iact_glb.depth=768"], [a]))
        assert not out.exists() and not (tmp_path / ".sparse-hw-cache.sqlite").exists()
    finally:
        holder.communicate("")


def test_pid_alive_sees_running_reaped_and_zombie_processes() -> None:
    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)  # reaped
    if sys.platform.startswith("linux"):
        zombie = subprocess.Popen([sys.executable, "-c", "pass"])
        os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
        try:
            assert not pid_alive(zombie.pid)
        finally:
            zombie.wait()
