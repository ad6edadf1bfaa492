"""kill -9 and concurrent runs (issue 15, items 1, 9 and 10), with real processes.

* `kill -9` of `simulate` leaves no worker alive, and the rerun's files equal an uninterrupted run's.
* A kill at any point of an output folder's swap leaves a folder the next run restores or cleans.
* A second run on the same --out is refused at once with exit 2 naming the holder; runs that share
  only the --cache both succeed with the same results.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sparse_hw.cli import app
from tests.reliability.tiny import REPO, cli, cli_env, leftovers, snapshot, stable_results, tiny_project

ARCHS = ["--arch", "eyeriss_like", "--arch", "eyeriss_v2"]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict[str, Path]:
    """The extract folder and the files of one uninterrupted simulate run (the reference)."""
    root = tmp_path_factory.mktemp("kill")
    _, ex = tiny_project(root / "proj")
    ref = root / "ref"
    done = CliRunner().invoke(app, ["simulate", str(ex), *ARCHS, "--jobs", "1", "--out", str(ref), "--cache",
                                    str(root / "ref.sqlite")])
    assert done.exit_code == 0, done.output
    return {"ex": ex, "ref": ref}


def _children(pid: int) -> set[int]:
    """Live descendants of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _assert_no_orphans(pids: set[int]) -> None:
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    orphans = [p for p in pids if _alive(p)]
    for p in orphans:  # leave the machine clean even when the test fails
        os.kill(p, signal.SIGKILL)
    assert not orphans, f"processes {orphans} outlived their killed parent"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the workers")
def test_kill_9_of_simulate_leaves_no_worker_and_the_rerun_is_identical(project, tmp_path: Path) -> None:
    out, cache = tmp_path / "sim", tmp_path / "cache.sqlite"
    args = cli("simulate", str(project["ex"]), *ARCHS, "--jobs", "2", "--out", str(out), "--cache", str(cache))
    proc = subprocess.Popen(args, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        workers = _children(proc.pid)
        if len(workers) >= 2:
            break
        time.sleep(0.01)
    assert len(workers) >= 2, "the pool's workers never appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _assert_no_orphans(workers)
    assert not out.exists() or (out / "manifest.json").is_file()  # nothing half-written in place
    again = CliRunner().invoke(app, args[3:])  # the same command, in this process
    assert again.exit_code == 0, again.output
    assert stable_results(out) == stable_results(project["ref"])
    assert leftovers(tmp_path) == []


_SWAP_KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import sparse_hw.io as sio
    out, where = Path(sys.argv[1]), sys.argv[2]
    real_replace = os.replace
    def replace(src, dst):
        real_replace(src, dst)
        if where == "between-renames" and str(dst).endswith(".old"):
            os.kill(os.getpid(), signal.SIGKILL)
    sio._exchange = lambda a, b: False  # the two-rename swap (no renameat2)
    sio.os.replace = replace
    with sio.atomic_dir(out) as tmp:
        (tmp / "results.csv").write_text("new\\n")
        if where == "while-writing":
            os.kill(os.getpid(), signal.SIGKILL)
        sio.RunManifest(stage="simulate").finish().write(tmp)
""")


@pytest.mark.parametrize("where", ["while-writing", "between-renames"])
def test_a_kill_during_the_swap_leaves_the_old_folder_or_its_backup(tmp_path: Path, where: str) -> None:
    from sparse_hw.io import RunManifest, atomic_dir, atomic_write

    out = tmp_path / "sim"
    out.mkdir()
    atomic_write(out / "results.csv", "old\n")
    RunManifest(stage="simulate", outputs=["results.csv"]).finish().write(out)
    (tmp_path / ".sim.notes.tmp").write_text("a user's file that only looks like ours")
    killed = subprocess.run([sys.executable, "-c", _SWAP_KILLER, str(out), where], env=cli_env(), cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert leftovers(tmp_path)  # the killed run left its temporary (and, between the renames, the backup)
    if where == "between-renames":
        assert not out.exists()
    # the next run first restores the old folder, then replaces it; nothing of the killed run remains
    with atomic_dir(out) as tmp:
        assert (out / "results.csv").read_text() == "old\n"
        (tmp / "results.csv").write_text("next\n")
    assert (out / "results.csv").read_text() == "next\n"
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [".sim.notes.tmp", "sim"]


def test_a_second_run_on_the_same_out_is_refused_naming_the_holder(project, tmp_path: Path) -> None:
    out = tmp_path / "sim"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from sparse_hw.io import out_lock\n"
         "with out_lock(sys.argv[1]):\n    print('locked', flush=True); sys.stdin.read()", str(out)],
        env=cli_env(), cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(tmp_path)
        second = subprocess.run(cli("simulate", str(project["ex"]), "--arch", "eyeriss_like", "--out", str(out),
                                    "--cache", str(tmp_path / "c.sqlite")),
                                env=cli_env(), capture_output=True, text=True, timeout=300)
        assert second.returncode == 2, second.stderr
        assert "another sparse-hw run is writing" in second.stderr and f"pid {holder.pid}" in second.stderr
        assert "Traceback" not in second.stderr and "Fix:" in second.stderr
        assert snapshot(tmp_path) == before
    finally:
        holder.communicate("", timeout=60)
    assert leftovers(tmp_path) == []  # the holder removed its lock file


def test_concurrent_runs_on_one_out_and_cache_never_fail_or_mix(project, tmp_path: Path) -> None:
    out, cache = tmp_path / "sim", tmp_path / "cache.sqlite"
    args = cli("simulate", str(project["ex"]), *ARCHS, "--jobs", "1", "--out", str(out), "--cache", str(cache))
    procs = [subprocess.Popen(args, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outcomes = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    assert all(rc in (0, 2) for rc, _ in outcomes), outcomes
    assert any(rc == 0 for rc, _ in outcomes), outcomes
    for rc, err in outcomes:
        if rc == 2:
            assert "another sparse-hw run is writing" in err and "Traceback" not in err, err
    assert stable_results(out) == stable_results(project["ref"])
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_runs_sharing_only_the_cache_both_succeed(project, tmp_path: Path) -> None:
    cache = tmp_path / "shared.sqlite"
    procs = [subprocess.Popen(cli("simulate", str(project["ex"]), *ARCHS, "--jobs", "1", "--out",
                                  str(tmp_path / name), "--cache", str(cache)),
                              env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("a", "b")]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.communicate()[1]
    assert stable_results(tmp_path / "a") == stable_results(tmp_path / "b") == stable_results(project["ref"])


def test_leftovers_of_earlier_versions_are_restored_or_removed_and_lookalikes_kept(tmp_path: Path) -> None:
    from sparse_hw.io import out_lock

    out = tmp_path / "sim"
    backup = tmp_path / ".sim.old-4242-123456"  # killed between the two renames of sparse-hw 0.x
    backup.mkdir()
    (backup / "results.csv").write_text("complete\n")
    (tmp_path / ".sim.k3j_x9q2.tmp").mkdir()  # its half-written folder
    (tmp_path / ".sim.abcdefgh.tmp").write_text("a user's file")  # a file: no folder of ours
    (tmp_path / ".simulation.sparse-hw-1-x.tmp").mkdir()  # another output's (not this --out's)
    with out_lock(out):
        assert (out / "results.csv").read_text() == "complete\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".sim.abcdefgh.tmp", ".simulation.sparse-hw-1-x.tmp", "sim"]


def test_a_killed_file_write_leaves_a_temporary_that_the_next_write_removes(tmp_path: Path) -> None:
    from sparse_hw.io import atomic_write

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".gmp.pt.sparse-hw-{int(dead.stdout)}-abc123.tmp"  # a writer killed mid-write
    stale.write_bytes(b"half a checkpoint")
    running = tmp_path / f".gmp.pt.sparse-hw-{os.getppid()}-def456.tmp"  # a live writer's: not touched
    running.write_bytes(b"being written")
    lookalike = tmp_path / ".gmp.pt.backup.tmp"
    lookalike.write_bytes(b"the user's")
    atomic_write(tmp_path / "gmp.pt", b"checkpoint")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([running.name, lookalike.name, "gmp.pt"])
