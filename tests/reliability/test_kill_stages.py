"""``kill -9`` at several points of train, extract and report, and of ``map --jobs 2`` (issue 15).

For every point: the killed run leaves no process behind; ``--out`` is absent or still the earlier
complete output, byte for byte (a half-written file or folder is never put in its place, and a
half-written checkpoint is refused by the next stage); the rerun of the same command cleans every
leftover and writes result files byte-identical to an uninterrupted run (manifests and timings,
which record when and how long, excluded). ``simulate`` is covered in test_kill_and_concurrency.py.

The points are hit from inside the process (tests/reliability/kill_at.py), so each test kills at the
same place on any machine; the map test kills from outside, once its worker pool is up.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sparse_hw.cli import app
from tests.reference_cases import input_files
from tests.reliability.test_kill_and_concurrency import _assert_no_orphans, _children
from tests.reliability.tiny import REPO, cli, cli_env, leftovers, snapshot, tiny_project

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find child processes")

BOOKKEEPING = {"manifest.json", "timings.csv"}  # when and how long: allowed to differ between runs
TRAIN = ["--model", "lenet5", "--data", "digits", "--method", "l1", "--sparsity", "0.5", "--epochs", "1",
         "--finetune-epochs", "1", "--no-latency", "--quiet"]
MAPPER_CASE = "ref__compression__alexnet_conv3__exercise_densities__mapper"


def _invoke(*args: str | Path) -> None:
    done = CliRunner().invoke(app, [str(a) for a in args])
    assert done.exit_code == 0, done.output


@pytest.fixture(scope="module")
def refs(tmp_path_factory) -> dict[str, Path]:
    """Uninterrupted runs: a checkpoint, its extract, simulate and report folders."""
    root = tmp_path_factory.mktemp("stages")
    ckpt, _ = tiny_project(root / "proj")
    _invoke("extract", ckpt, "--out", root / "ex", "--calib-samples", "16", "--batch-size", "16", "--seed", "0")
    _invoke("simulate", root / "ex", "--arch", "eyeriss_like", "--jobs", "1", "--out", root / "sim",
            "--cache", root / "c.sqlite")
    _invoke("report", root / "sim", "--extract", root / "ex", "--format", "png", "--out", root / "rep")
    return {"ckpt": ckpt, "ex": root / "ex", "sim": root / "sim", "rep": root / "rep"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train") / "ref.pt"
    _invoke("train", *TRAIN, "--out", out)
    return out


def _results(path: Path) -> dict[str, bytes]:
    """A stage's result files, byte for byte (a checkpoint, or a folder without its bookkeeping)."""
    if path.is_file():
        return {"checkpoint": path.read_bytes()}
    return {k: v for k, v in snapshot(path).items() if Path(k).name not in BOOKKEEPING}


def _run_killed(point: str, args: list[str], log: Path) -> None:
    """Run ``sparse-hw ARGS`` killed at ``point``; assert it died by SIGKILL and left no process.

    Its stderr goes to ``log``, not a pipe: a surviving orphan would hold a pipe open, and hang the test.
    """
    with open(log, "w") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.kill_at", point, *args], cwd=REPO,
                                env=cli_env(), stdout=subprocess.DEVNULL, stderr=err_file)
    seen: set[int] = set()
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        seen |= _children(proc.pid)
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    err = log.read_text()
    assert proc.returncode == -signal.SIGKILL, f"{point} was never reached (exit {proc.returncode}): {err[-2000:]}"
    _assert_no_orphans(seen)


def _prepare(stage: str, refs: dict[str, Path], tmp_path: Path, prior: bool) -> tuple[list[str], Path]:
    """(argv, --out) of one stage's run in ``tmp_path``; with ``prior``, --out holds an earlier output."""
    if stage == "train":
        out = tmp_path / "model.pt"
        args = ["train", *TRAIN, "--out", str(out)]
        earlier = refs["ckpt"]  # another checkpoint of ours: replaced without --force
    elif stage == "extract":
        out = tmp_path / "ex"
        args = ["extract", str(refs["ckpt"]), "--out", str(out), "--calib-samples", "16", "--batch-size", "16",
                "--seed", "0"]
        earlier = refs["ex"]
    else:
        out = tmp_path / "rep"
        args = ["report", str(refs["sim"]), "--extract", str(refs["ex"]), "--format", "png", "--out", str(out)]
        earlier = refs["rep"]
    if prior:
        (shutil.copy2 if earlier.is_file() else shutil.copytree)(earlier, out)
    return args, out


_FAST = {("train", "half:1", True), ("extract", "swap", False), ("report", "half:2", True)}
POINTS = [
    ("train", "call:sparse_hw.train.loop:Trainer.fit:2", False),  # between dense training and fine-tuning
    ("train", "write:1", False),  # the checkpoint complete under its temporary name
    ("train", "half:1", True),  # half the checkpoint on disk, an earlier one at --out
    ("extract", "call:sparse_hw.extract.api:_write:1", True),  # calibration done, nothing written yet
    ("extract", "half:2", False),  # in the middle of the second problem file
    ("extract", "write:6", True),  # problem files done, layers.csv not yet named
    ("extract", "swap", False),  # the folder complete, not yet in place
    ("report", "call:sparse_hw.report.figures:save_figures:1", False),  # tables written, figures not
    ("report", "half:2", True),  # in the middle of the second table
    ("report", "swap", True),
]


@pytest.mark.parametrize(
    ("stage", "point", "prior"),
    [pytest.param(*p, marks=() if p in _FAST else pytest.mark.slow, id=f"{p[0]}-{p[1].split(':')[0]}"
                  f"{'-' + p[1].rsplit(':', 1)[-1] if ':' in p[1] else ''}{'-over-earlier' if p[2] else ''}")
     for p in POINTS])
def test_a_killed_stage_leaves_nothing_trusted_and_the_rerun_is_identical(
        refs, request, tmp_path: Path, stage: str, point: str, prior: bool) -> None:
    args, out = _prepare(stage, refs, tmp_path, prior)
    before = snapshot(tmp_path)
    _run_killed(point, args, tmp_path.parent / f"{tmp_path.name}.stderr")

    # nothing half-written in place: --out is untouched (absent, or the earlier output byte for byte)
    if prior:
        assert {k: v for k, v in snapshot(tmp_path).items() if k == out.name or k.startswith(out.name + "/")} == {
            k: v for k, v in before.items() if k == out.name or k.startswith(out.name + "/")}, "--out changed"
    else:
        assert not out.exists() and not out.is_symlink()
    half_written = [tmp_path / n for n in leftovers(tmp_path) if n.endswith(".tmp")]
    if not point.startswith("call"):
        assert half_written, "the kill left no temporary: the point was not inside the write"
    if stage == "train" and point.startswith("half"):  # the next stage refuses a torn checkpoint
        (torn,) = half_written
        refused = CliRunner().invoke(app, ["extract", str(torn), "--out", str(tmp_path / "torn-ex")])
        assert refused.exit_code == 2, refused.output
        assert not (tmp_path / "torn-ex").exists()

    _invoke(*args)  # the same command again, uninterrupted
    assert leftovers(tmp_path) == [], "the rerun did not clean the killed run's leftovers"
    reference = request.getfixturevalue("trained") if stage == "train" else refs[{"extract": "ex"}.get(stage, "rep")]
    assert _results(out) == _results(reference)


def test_kill_9_of_map_with_a_worker_pool_leaves_no_worker(tmp_path: Path) -> None:
    args = cli("map", *map(str, input_files(MAPPER_CASE)), "--jobs", "2", "--mode", "exhaustive",
               "--out", str(tmp_path / "map"))
    proc = subprocess.Popen(args, env=cli_env(), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        now = _children(proc.pid)
        workers |= now
        if len(now) >= 2:
            break
        time.sleep(0.01)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert alive and len(workers) >= 2, "the mapper's worker pool never appeared"
    _assert_no_orphans(workers)
    assert not (tmp_path / "map").exists()
