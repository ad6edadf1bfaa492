"""Run many (layer x architecture) mapping jobs: a local process pool or a Dask cluster, with a cache.

Every job is a pure function of its inputs, so results are cached in SQLite under the content hash
of (problem file, architecture files, backend, mapper settings, engine version): a repeated sweep is
served from the cache, and a sweep killed with ``kill -9`` resumes where it stopped — each finished job
is committed on its own (write-ahead log), and an unfinished one simply runs again.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ConfigError, SparseHwError
from .io import pid_alive, sha256_bytes
from .model.result import ENGINE_VERSION

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LayerJob:
    """Map and evaluate one layer (a Timeloop problem file) on one architecture."""

    model: str
    checkpoint: str
    layer: str
    order: int
    problem_file: str
    arch: str
    arch_files: tuple[str, ...]
    backend: str
    settings: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> str:
        """Content hash of everything the result depends on."""
        parts = [f"engine={ENGINE_VERSION}", f"sparse_hw={__version__}", f"backend={self.backend}"]
        parts.append("settings=" + json.dumps(dict(self.settings), sort_keys=True, default=str))
        parts.append("problem=" + sha256_bytes(Path(self.problem_file).read_bytes()))
        for f in sorted(self.arch_files):
            parts.append(f"arch:{Path(f).name}=" + sha256_bytes(Path(f).read_bytes()))
        return sha256_bytes("\n".join(parts))

    def label(self) -> str:
        return f"{self.model}/{self.checkpoint}/{self.layer} on {self.arch}"


@dataclass
class JobResult:
    """A finished job: its payload (evaluation JSON, mapping YAML, mapper stats) and provenance."""

    job: LayerJob
    payload: dict[str, Any]
    cached: bool = False
    seconds: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)


class ResultCache:
    """SQLite cache of job payloads keyed by content hash (safe against interruption and shared use).

    Several processes may share one file: WAL journal, a busy timeout, one short transaction per entry.
    Each payload is stored with the sha256 of (key, payload); an entry that does not match, was stored
    without one, or does not parse is a miss (recomputed and overwritten), with a warning. A damaged
    database file is moved aside and rebuilt empty, with a warning, instead of failing every run.
    """

    _CORRUPT = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the cache's folder ({exc.strerror})", file=self.path,
                              key_path="--cache", fix="pass a --cache path in a folder you can write to") from None
        if self.path.is_dir() or (self.path.exists() and not self.path.is_file()):
            raise ConfigError("the result cache path is not a regular file", file=self.path, key_path="--cache",
                              fix="pass a file path for --cache (e.g. results/.sparse-hw-cache.sqlite)")
        if self.path.is_file() and self.path.stat().st_size and not self._sqlite_header():
            raise ConfigError(
                "the result cache is not a SQLite database; it is left untouched", file=self.path,
                key_path="--cache", fix="pass another --cache path (or delete this file if it is an old cache)",
            )
        self._db: sqlite3.Connection | None = None
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            if not self._is_corruption(exc):
                raise ConfigError(f"the result cache cannot be opened ({exc})", file=self.path, key_path="--cache",
                                  fix="check the file's permissions, or pass another --cache path") from None
            self._rebuild(exc)

    def _sqlite_header(self) -> bool:
        with open(self.path, "rb") as fh:
            return fh.read(16) == b"SQLite format 3\x00"

    def _is_corruption(self, exc: sqlite3.DatabaseError) -> bool:
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in self._CORRUPT
        text = str(exc)
        return "malformed" in text or "not a database" in text

    def _open(self) -> None:
        self._db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, payload TEXT NOT NULL, created REAL, "
            "sha256 TEXT)"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(results)")}
        if "sha256" not in columns:  # a cache from before checksums: its entries are misses, then replaced
            with contextlib.suppress(sqlite3.OperationalError):  # a concurrent opener added it first
                self._db.execute("ALTER TABLE results ADD COLUMN sha256 TEXT")
        quick = self._db.execute("PRAGMA quick_check").fetchone()
        if quick is None or quick[0] != "ok":
            raise sqlite3.DatabaseError(f"database disk image is malformed ({quick[0] if quick else 'no answer'})")

    def _rebuild(self, exc: Exception) -> None:
        """Move the damaged file (and its journal) aside and start an empty cache in its place."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
        for suffix in ("", "-wal", "-journal"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                os.replace(src, Path(str(aside) + suffix))
        with contextlib.suppress(FileNotFoundError):
            Path(str(self.path) + "-shm").unlink()
        _log.warning("the result cache %s was damaged (%s); moved it to %s and started an empty one "
                     "(every job runs again)", self.path, exc, aside)
        try:
            self._open()
        except sqlite3.Error as again:
            raise ConfigError(f"the result cache cannot be rebuilt ({again})", file=self.path, key_path="--cache",
                              fix="pass another --cache path") from None

    @staticmethod
    def _checksum(key: str, text: str) -> str:
        return sha256_bytes(key + "\n" + text)

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            row = self._db.execute("SELECT payload, sha256 FROM results WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError as exc:
            if self._is_corruption(exc):
                self._rebuild(exc)
                return None
            _log.warning("result cache %s: lookup failed (%s); the job runs again", self.path, exc)
            return None
        if row is None:
            return None
        text, checksum = row
        if checksum is None:
            return None  # stored before checksums existed
        if not isinstance(text, str) or checksum != self._checksum(key, text):
            _log.warning("result cache %s: entry %s does not match its checksum (edited or damaged); "
                         "it is recomputed", self.path, key[:12])
            return None
        try:
            payload = json.loads(text)
        except json.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            _log.warning("result cache %s: entry %s is not a JSON object; it is recomputed", self.path, key[:12])
            return None
        return payload

    def put(self, key: str, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, default=str)
        row = (key, text, time.time(), self._checksum(key, text))
        sql = "INSERT OR REPLACE INTO results (key, payload, created, sha256) VALUES (?, ?, ?, ?)"
        try:
            self._db.execute(sql, row)
        except sqlite3.DatabaseError as exc:
            if not self._is_corruption(exc):  # full disk, a lock held too long: the result is just not cached
                _log.warning("result cache %s: could not store a result (%s)", self.path, exc)
                return
            self._rebuild(exc)
            self._db.execute(sql, row)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _worker_init(parent: int) -> None:
    """Make a pool worker die with the process that started it, even when that one is killed with -9.

    Linux: the kernel sends SIGKILL when the worker's parent dies (``prctl(PR_SET_PDEATHSIG)``). Where
    that is unavailable, or the worker's parent is not ``parent`` (a forkserver), a daemon thread polls
    whether ``parent`` still lives. Either way no orphan keeps computing (or holding memory).
    """
    armed = False
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            pr_set_pdeathsig = 1
            armed = ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) == 0

    # pid_alive counts a zombie parent as dead: its own parent may wait on our output
    if not pid_alive(parent):  # it died before the guard was armed
        os._exit(1)
    if armed and os.getppid() == parent:
        return

    def watch() -> None:
        while pid_alive(parent):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="sparse-hw-parent-watch", daemon=True).start()


def _run_one(job: LayerJob) -> tuple[dict[str, Any] | None, str | None, float]:
    """Execute one job in a worker; errors come back as text (they do not kill the sweep)."""
    from .backends.analytical import run_layer_job

    start = time.perf_counter()
    try:
        return run_layer_job(job), None, time.perf_counter() - start
    except SparseHwError as exc:
        return None, exc.render(), time.perf_counter() - start


def run_sweep(
    jobs: Sequence[LayerJob],
    *,
    cache: ResultCache | None,
    workers: int = 1,
    engine: str = "local",
    scheduler: str | None = None,
    progress: Callable[[JobResult], None] | None = None,
) -> list[JobResult]:
    """Run every job (cached ones are read back), in job order; results are identical for any engine.

    Jobs with the same key (two layers of one shape and densities on one architecture) run once."""
    results: dict[int, JobResult] = {}
    todo: list[tuple[int, LayerJob, str]] = []
    twins: dict[str, list[int]] = {}  # key -> the later jobs that share it
    for i, job in enumerate(jobs):
        key = job.key
        payload = cache.get(key) if cache is not None else None
        if payload is not None:
            results[i] = JobResult(job, payload, cached=True, seconds=0.0)
            if progress:
                progress(results[i])
        elif key in twins:
            twins[key].append(i)
        else:
            twins[key] = []
            todo.append((i, job, key))

    def finish(i: int, job: LayerJob, key: str, payload, error, seconds) -> None:
        if payload is not None and cache is not None:
            cache.put(key, payload)
        results[i] = JobResult(job, payload or {}, cached=False, seconds=seconds, error=error)
        if progress:
            progress(results[i])
        for j in twins.get(key, ()):  # the same computation: reported as a cache hit of this run
            results[j] = JobResult(jobs[j], payload or {}, cached=payload is not None, seconds=0.0, error=error)
            if progress:
                progress(results[j])

    if engine == "dask":
        _run_dask(todo, scheduler, workers, finish)
    elif engine == "local":
        if workers <= 1 or len(todo) <= 1:
            for i, job, key in todo:
                finish(i, job, key, *_run_one(job))
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(todo)), initializer=_worker_init,
                                     initargs=(os.getpid(),)) as pool:
                futures = {pool.submit(_run_one, job): (i, job, key) for i, job, key in todo}
                for fut in as_completed(futures):
                    i, job, key = futures[fut]
                    finish(i, job, key, *fut.result())
    else:
        raise ConfigError(f"unknown engine {engine!r}", key_path="engine", fix="use local or dask")
    return [results[i] for i in range(len(jobs))]


def run_cached(
    jobs: Sequence[LayerJob],
    cache_path: Path,
    *,
    workers: int,
    engine: str,
    scheduler: str | None,
    progress: Callable[[JobResult, int], None] | None = None,
) -> list[JobResult]:
    """`run_sweep` over the result cache at ``cache_path`` (opened and closed here), as ``simulate`` and
    ``sweep`` run their layer jobs; ``progress`` also gets the number of jobs."""
    store = ResultCache(cache_path)
    try:
        report = (lambda r: progress(r, len(jobs))) if progress else None
        return run_sweep(jobs, cache=store, workers=workers, engine=engine, scheduler=scheduler, progress=report)
    finally:
        store.close()


_DASK_SCHEMES = ("inproc", "tcp", "tls", "ucx", "ws", "wss")


def check_scheduler(address: str | None) -> None:
    """Refuse a ``--scheduler`` that is no Dask address before any work starts (``nonsense:::`` was an
    internal error, after `run` had trained its checkpoints). Reads the address only; connects to nothing."""
    if not address:
        return
    fix = "give the scheduler as tcp://HOST:PORT (e.g. tcp://127.0.0.1:8786), or leave it out for a local cluster"
    scheme, _, loc = address.rpartition("://") if "://" in address else ("tcp", "", address)
    problem = None
    if scheme not in _DASK_SCHEMES:
        problem = f"unknown address scheme {scheme!r} (known: {', '.join(_DASK_SCHEMES)})"
    elif scheme != "inproc":
        host, _, port = loc.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536 or (":" in host and not host.startswith("[")):
            problem = "it is not HOST:PORT with a port from 1 to 65535"
    if problem:
        raise ConfigError(f"the Dask scheduler address {address!r} is not valid: {problem}", key_path="scheduler",
                          fix=fix)


def _run_dask(todo, scheduler: str | None, workers: int, finish) -> None:
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise ConfigError(
            "--engine dask needs the optional Dask extra",
            key_path="engine",
            fix="pip install -e '.[dask]' (or use --engine local)",
        ) from None
    cluster = None
    if scheduler:
        check_scheduler(scheduler)
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler {scheduler!r} ({exc})", key_path="scheduler",
                              fix="start the scheduler first (`dask scheduler`), check the address, or leave "
                              "--scheduler out for a local cluster") from None
    else:
        cluster = LocalCluster(
            n_workers=max(1, workers), threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
        )
        client = Client(cluster)
    try:
        futures = {client.submit(_run_one, job, pure=False): (i, job, key) for i, job, key in todo}
        for fut in dask_completed(list(futures)):
            i, job, key = futures[fut]
            finish(i, job, key, *fut.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def job_settings(**kwargs: Any) -> tuple[tuple[str, Any], ...]:
    """Mapper settings as a hashable, ordered tuple (part of the cache key)."""
    return tuple(sorted((k, v) for k, v in kwargs.items() if v is not None))


def jobs_table(results: Iterable[JobResult]) -> list[dict[str, Any]]:
    """Rows of simulate's ``timings.csv``: the bookkeeping that differs between two identical runs.

    Wall times and cache hits stay out of ``results.csv`` so that the same inputs and seed give the same
    result files byte for byte; a cached job reports the mapper time of the run that computed it.
    """
    return [
        {
            "model": r.job.model, "checkpoint": r.job.checkpoint, "layer": r.job.layer, "order": r.job.order,
            "arch": r.job.arch, "backend": r.job.backend, "cache_hit": r.cached,
            "job_seconds": round(r.seconds, 4),
            "mapper_seconds": r.payload.get("mapper", {}).get("mapper_seconds", round(r.seconds, 4)),
        }
        for r in results
    ]  # fmt: skip
