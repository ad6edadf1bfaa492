"""The subprocess path of the Timeloop backend, with stand-in executables that replay recorded outputs.

Each test writes a small Python script named ``timeloop-model`` / ``timeloop-mapper`` into ``tmp_path``
and puts it first on PATH. The script records its argument list and working folder, then (by
``TL_MODE``) copies a recorded Timeloop output folder into the ``-o`` folder, sleeps, fails, or
writes nothing.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from sparse_hw.backends import TimeloopBackend, read_outputs, timeloop_available
from sparse_hw.errors import BackendError

STAND_IN = """#!{python}
import json, os, shutil, sys, time
from pathlib import Path
args = sys.argv[1:]
out = Path(args[args.index("-o") + 1])
Path(os.environ["TL_LOG"]).write_text(json.dumps({{"argv": sys.argv, "cwd": os.getcwd(), "pid": os.getpid()}}))
mode = os.environ.get("TL_MODE", "replay")
if mode == "sleep":
    time.sleep(60)
elif mode == "fail":
    print("Mapspace construction started", flush=True)
    print("ERROR: data space Inputs of level ifmap_spad is over capacity", file=sys.stderr)
    print("  at problem.yaml line 12", file=sys.stderr)
    sys.exit(3)
elif mode == "nothing":
    print("MESSAGE: no valid mappings found within search criteria.")
else:
    for f in Path(os.environ["TL_REPLAY"]).iterdir():
        if f.name.endswith((".stats.txt", ".map.txt", ".map.yaml")):
            shutil.copy(f, out / f.name)
    print("done")
"""

MODEL_CASE = "ref__gating__resnet18_conv4x__w1_i0.5__model__fixmap"
MAPPER_CASE = "ref__compression__pointnet_mlp2__w0.5_i0.5__mapper"


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install stand-in binaries first on PATH; returns the path of the log they write."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("timeloop-model", "timeloop-mapper"):
        exe = bin_dir / name
        exe.write_text(STAND_IN.format(python=sys.executable))
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    log = tmp_path / "stand_in.json"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("TL_LOG", str(log))
    return log


def _inputs(reference_dir: Path, case: str) -> list[Path]:
    meta = json.loads((reference_dir / "cases" / case / "run_meta.json").read_text())
    argv = meta["cmd"].split()
    return [reference_dir / "cases" / case / a for a in argv[1 : argv.index("-o")]]


def test_availability_reports_each_binary(stand_in: Path, tmp_path: Path, monkeypatch) -> None:
    found = timeloop_available()
    assert found == {
        "timeloop-mapper": str(tmp_path / "bin" / "timeloop-mapper"),
        "timeloop-model": str(tmp_path / "bin" / "timeloop-model"),
    }
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert timeloop_available() == {"timeloop-mapper": None, "timeloop-model": None}


def test_missing_binaries_give_a_clear_message(tmp_path: Path, monkeypatch, reference_dir: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    files = _inputs(reference_dir, MAPPER_CASE)
    with pytest.raises(
        BackendError,
        match=r"timeloop-mapper not found on PATH; install Timeloop v3\.0\.3 or use "
        r"--backend builtin",
    ):
        TimeloopBackend().map(files, workdir=tmp_path / "w")
    with pytest.raises(BackendError, match="timeloop-model not found on PATH"):
        TimeloopBackend().model(files, workdir=tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_model_replays_a_recorded_run(
    stand_in: Path, tmp_path: Path, monkeypatch, reference_dir: Path
) -> None:
    recorded = reference_dir / "cases" / MODEL_CASE / "outputs"
    monkeypatch.setenv("TL_REPLAY", str(recorded))
    files = _inputs(reference_dir, MODEL_CASE)
    workdir = tmp_path / "job"
    ev = TimeloopBackend().model(files, workdir=workdir, timeout_s=60)

    call = json.loads(stand_in.read_text())
    out_dir = workdir.resolve() / "timeloop-model"
    assert call["argv"] == [str(tmp_path / "bin" / "timeloop-model"), *(str(Path(f).resolve()) for f in files), "-o", str(out_dir)]
    assert Path(call["cwd"]) == workdir.resolve()
    want = read_outputs(recorded)
    assert ev.backend == "timeloop"
    assert (ev.energy_pj, ev.cycles, ev.area_um2) == (want.energy_pj, want.cycles, want.area_um2)
    assert ev.energy_pj == pytest.approx(438212647.65, abs=0.02)  # results.csv energy_pJ (438.21 uJ)
    assert ev.cycles == 391104
    # timeloop-model evaluates the mapping it was given: the normalized inputs/mapping.yaml.
    assert ev.mapping is not None and ev.mapping["mapping"][0] == {
        "target": "psum_spad",
        "type": "bypass",
        "keep": ["Outputs"],
        "bypass": ["Weights", "Inputs"],
    }
    assert any(n.startswith("command: timeloop-model ") for n in ev.notes)
    assert (out_dir / "timeloop-model.stdout.txt").read_text().strip() == "done"


def test_mapper_replays_and_attaches_the_best_mapping(
    stand_in: Path, tmp_path, monkeypatch, reference_dir
) -> None:
    recorded = reference_dir / "cases" / MAPPER_CASE / "outputs"
    monkeypatch.setenv("TL_REPLAY", str(recorded))
    workdir = tmp_path / "job"
    backend = TimeloopBackend()
    ev = backend.map(_inputs(reference_dir, MAPPER_CASE), workdir=workdir, timeout_s=60)
    assert ev.energy_pj == pytest.approx(read_outputs(recorded).energy_pj)
    assert ev.mapping == read_outputs(recorded).mapping
    assert {d["type"] for d in ev.mapping["mapping"]} == {"bypass", "temporal", "spatial"}
    # A second run in the same workdir replaces the first one's outputs.
    (workdir / "timeloop-mapper" / "stale.txt").write_text("old")
    backend.map(_inputs(reference_dir, MAPPER_CASE), workdir=workdir, timeout_s=60)
    assert not (workdir / "timeloop-mapper" / "stale.txt").exists()


def test_timeout_stops_the_process_and_names_the_command(
    stand_in: Path, tmp_path, monkeypatch, reference_dir
):
    monkeypatch.setenv("TL_MODE", "sleep")
    start = time.monotonic()
    with pytest.raises(
        BackendError, match=r"timeloop-mapper did not finish within the timeout of 1 s"
    ) as info:
        TimeloopBackend().map(_inputs(reference_dir, MAPPER_CASE), workdir=tmp_path / "job", timeout_s=1)
    assert time.monotonic() - start < 30
    assert "command: timeloop-mapper " in str(info.value) and "-o " in str(info.value)
    pid = json.loads(stand_in.read_text())["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_nonzero_exit_shows_the_stderr_tail(stand_in: Path, tmp_path, monkeypatch, reference_dir) -> None:
    monkeypatch.setenv("TL_MODE", "fail")
    with pytest.raises(BackendError) as info:
        TimeloopBackend().model(_inputs(reference_dir, MODEL_CASE), workdir=tmp_path / "job")
    text = str(info.value)
    assert "timeloop-model exited with status 3" in text
    assert "ERROR: data space Inputs of level ifmap_spad is over capacity\n  at problem.yaml line 12" in text
    assert info.value.file.endswith("timeloop-model.stderr.txt")


def test_a_run_without_statistics_is_an_error(stand_in: Path, tmp_path, monkeypatch, reference_dir) -> None:
    monkeypatch.setenv("TL_MODE", "nothing")
    with pytest.raises(BackendError, match="no valid mappings found"):
        TimeloopBackend().map(_inputs(reference_dir, MAPPER_CASE), workdir=tmp_path / "job")


def test_bad_inputs_are_reported_before_running(stand_in: Path, tmp_path: Path, reference_dir: Path) -> None:
    files = [*_inputs(reference_dir, MODEL_CASE), tmp_path / "missing.yaml", tmp_path / "gone.yaml"]
    with pytest.raises(BackendError, match="2 problems found") as info:
        TimeloopBackend().model(files, workdir=tmp_path / "job")
    assert "missing.yaml" in str(info.value) and "gone.yaml" in str(info.value)
    assert not stand_in.exists()
    with pytest.raises(BackendError, match="no input files"):
        TimeloopBackend().model([], workdir=tmp_path / "job")
    foreign = tmp_path / "other" / "timeloop-model"
    foreign.mkdir(parents=True)
    with pytest.raises(BackendError, match="did not create"):
        TimeloopBackend().model(_inputs(reference_dir, MODEL_CASE), workdir=tmp_path / "other")


def test_backend_is_registered_by_name() -> None:
    from sparse_hw.backends import BACKENDS

    assert BACKENDS.get("timeloop") is TimeloopBackend
    assert TimeloopBackend.name == "timeloop"
