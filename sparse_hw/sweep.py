"""Run many (layer x architecture) mapping jobs: a local process pool or a Dask cluster, with a cache.

Every job is a pure function of its inputs, so results are cached in SQLite under the content hash
of (problem file, architecture files, backend, mapper settings, engine version): a repeated sweep is
served from the cache, and a sweep killed with ``kill -9`` resumes where it stopped — each finished job
is committed on its own (write-ahead log), and an unfinished one simply runs again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ConfigError, SparseHwError
from .io import sha256_bytes
from .model.result import ENGINE_VERSION


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
    """SQLite cache of job payloads keyed by content hash (safe against interruption)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, payload TEXT NOT NULL, created REAL)"
            )
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"the result cache is not a readable SQLite database ({exc})",
                file=self.path,
                fix="delete the file (it is only a cache) or pass another --cache path",
            ) from None

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT payload FROM results WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except json.JSONDecodeError:
            return None  # a corrupt row is recomputed and overwritten

    def put(self, key: str, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, default=str)
        self._db.execute(
            "INSERT OR REPLACE INTO results (key, payload, created) VALUES (?, ?, ?)", (key, text, time.time())
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def close(self) -> None:
        self._db.close()


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
    """Run every job (cached ones are read back), in job order; results are identical for any engine."""
    results: dict[int, JobResult] = {}
    todo: list[tuple[int, LayerJob, str]] = []
    for i, job in enumerate(jobs):
        key = job.key
        payload = cache.get(key) if cache is not None else None
        if payload is not None:
            results[i] = JobResult(job, payload, cached=True, seconds=0.0)
            if progress:
                progress(results[i])
        else:
            todo.append((i, job, key))

    def finish(i: int, job: LayerJob, key: str, payload, error, seconds) -> None:
        if payload is not None and cache is not None:
            cache.put(key, payload)
        results[i] = JobResult(job, payload or {}, cached=False, seconds=seconds, error=error)
        if progress:
            progress(results[i])

    if engine == "dask":
        _run_dask(todo, scheduler, workers, finish)
    elif engine == "local":
        if workers <= 1 or len(todo) <= 1:
            for i, job, key in todo:
                finish(i, job, key, *_run_one(job))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(_run_one, job): (i, job, key) for i, job, key in todo}
                for fut in as_completed(futures):
                    i, job, key = futures[fut]
                    finish(i, job, key, *fut.result())
    else:
        raise ConfigError(f"unknown engine {engine!r}", key_path="engine", fix="use local or dask")
    return [results[i] for i in range(len(jobs))]


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
        client = Client(scheduler, timeout="30s")
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
    return [asdict(r.job) | {"cached": r.cached, "seconds": r.seconds, "error": r.error} for r in results]
