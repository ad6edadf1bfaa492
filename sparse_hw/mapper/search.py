"""Mapping search: generate candidates in large batches, evaluate them vectorized, keep the best.

Deterministic by construction: the candidate stream is a function of the seed and the chunk index
only; chunks may be evaluated by several processes (``jobs``) but are reduced in chunk order, and
ties are broken by candidate position — so the same seed gives the same mapping for any ``jobs``.
Metrics are compared lexicographically (Timeloop's `optimization-metrics`: the first decides, the
next breaks ties).
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..errors import MappingError
from ..model.cost import check_fit
from ..model.evaluate import Engine, EvaluationBatch
from ..model.failures import relax_hint
from ..model.mapping import MappingBatch
from ..model.nest import analyze
from ..model.result import Evaluation
from .bounds import Bounds
from .constraints import Rules
from .mapspace import MapSpace

METRICS = ("delay", "energy", "edp", "last_level_accesses")


@dataclass
class SearchSettings:
    """How to search (Timeloop mapper settings, plus budgets and parallelism)."""

    metrics: tuple[str, ...] = ("edp",)
    seed: int = 0
    budget_s: float | None = None
    victory_condition: int = 4000
    timeout: int = 200_000
    search_size: int = 0
    jobs: int = 1
    chunk: int = 16384
    max_permutations: int = 16
    exhaustive_limit: int = 1_500_000
    mode: str = "auto"  # auto | exhaustive | random


@dataclass
class SearchResult:
    """The best mapping found, its full evaluation and how the search went."""

    batch: MappingBatch
    evaluation: Evaluation
    evaluated: int
    valid: int
    seconds: float
    mode: str
    space: str
    notes: list[str] = field(default_factory=list)
    exact_evaluations: int = 0

    def stats(self) -> dict:
        return {
            "mode": self.mode,
            "mappings_evaluated": self.evaluated,
            "valid_mappings": self.valid,
            "mapper_seconds": round(self.seconds, 4),
            "mapspace": self.space,
        }


def _metric_columns(ev: EvaluationBatch, metrics) -> list[np.ndarray]:
    cols = []
    for m in metrics:
        if m == "delay":
            cols.append(ev.cycles.astype(np.float64))
        elif m == "energy":
            cols.append(ev.energy_pj.astype(np.float64))
        elif m == "edp":
            cols.append(ev.energy_pj * ev.cycles)
        else:
            raise MappingError(f"unknown optimization metric {m!r}", fix=f"use {', '.join(METRICS[:3])}")
    return cols


def _best_in(ev: EvaluationBatch, metrics) -> int | None:
    if not ev.valid.any():
        return None
    cols = _metric_columns(ev, metrics)
    keys = [np.where(ev.valid, c, np.inf) for c in reversed(cols)]
    order = np.lexsort(keys)
    return int(order[0])


def _better(a: tuple, b: tuple | None) -> bool:
    if b is None:
        return True
    for x, y in zip(a, b):
        if x < y * (1 - 1e-12):
            return True
        if x > y * (1 + 1e-12):
            return False
    return False


# Worker-process state for parallel evaluation.
_WORKER: dict = {}


@dataclass
class ChunkResult:
    """What one chunk of candidates contributed."""

    index: int
    candidates: int
    evaluated: int
    valid: int
    best_key: tuple | None
    best_mb: MappingBatch | None
    reasons: Counter


def _init_worker(engine: Engine, space: MapSpace, bounds: Bounds) -> None:
    _WORKER["engine"] = engine
    _WORKER["space"] = space
    _WORKER["bounds"] = bounds


def _prune_mask(dlb: np.ndarray, elb: np.ndarray, metrics, best: tuple | None) -> np.ndarray:
    """True where a candidate's bounds prove it can neither beat nor tie ``best``."""
    if best is None:
        return np.zeros(dlb.shape, dtype=bool)
    tol = 1 + 1e-9
    bound = {"delay": dlb, "energy": elb, "edp": dlb * elb}
    first = bound[metrics[0]]
    worse = first > best[0] * tol
    if len(metrics) > 1 and metrics[1] in bound:
        worse |= (first >= best[0]) & (bound[metrics[1]] > best[1] * tol)
    return worse


def _eval_chunk(args) -> ChunkResult:
    """Evaluate one chunk: everything exactly (dense) or, under sparsity, only what the bounds allow."""
    index, t_arr, s_arr, seed, metrics, best_key, sub = args
    engine: Engine = _WORKER["engine"]
    space: MapSpace = _WORKER["space"]
    rng = np.random.default_rng([seed, index, 7])
    mb = space.build_batch(t_arr, s_arr, rng)
    reasons: Counter = Counter()
    nest = analyze(engine.problem, engine.arch, mb)
    if not engine.uses_sparse:
        ev = engine.evaluate_nest(nest, mb)
        reasons.update(r for r in ev.fail_reasons if r)
        b = _best_in(ev, metrics)
        if b is None:
            return ChunkResult(index, mb.n, mb.n, 0, None, None, reasons)
        key = tuple(float(c[b]) for c in _metric_columns(ev, metrics))
        return ChunkResult(index, mb.n, mb.n, int(ev.valid.sum()), key, mb.select(b), reasons)
    bounds: Bounds = _WORKER["bounds"]
    ok, code, where = check_fit(engine.arch, nest, mb, capacity=False)
    reasons.update(engine._reason(c, lv) for c, lv in zip(code[~ok], where[~ok]))
    dlb, elb = bounds.compute(nest, mb)
    keys = {"delay": dlb, "energy": elb, "edp": dlb * elb}
    order = np.lexsort([keys.get(m, dlb) for m in reversed(metrics)] + [])
    order = order[ok[order]]
    local_key, local_mb, local_row = None, None, None
    evaluated = valid = 0
    # exact evaluation in bound order, in growing sub-batches so that pruning starts early
    starts, step, pos = [], 64, 0
    while pos < order.shape[0]:
        starts.append((pos, min(step, sub)))
        pos += min(step, sub)
        step *= 2
    for start, size in starts:
        current = local_key if (local_key is not None and _better(local_key, best_key)) else best_key
        rest = order[start:]
        pruned = _prune_mask(dlb[rest], elb[rest], metrics, current)
        if pruned.all():
            break
        rows = order[start : start + size]
        rows = rows[~pruned[: rows.shape[0]]]
        if rows.size == 0:
            continue
        sel = mb.select(rows)
        ev = engine.evaluate(sel)
        evaluated += sel.n
        valid += int(ev.valid.sum())
        reasons.update(r for r in ev.fail_reasons if r)
        b = _best_in(ev, metrics)
        if b is None:
            continue
        key = tuple(float(c[b]) for c in _metric_columns(ev, metrics))
        tie = local_key is not None and not _better(key, local_key) and not _better(local_key, key)
        if _better(key, local_key) or (tie and rows[b] < local_row):
            local_key, local_mb, local_row = key, sel.select(b), int(rows[b])
    return ChunkResult(index, mb.n, evaluated, valid, local_key, local_mb, reasons)


class Mapper:
    """Searches the constrained mapspace of one (problem, architecture) for the best mapping."""

    def __init__(self, engine: Engine, rules: Rules, settings: SearchSettings) -> None:
        self.engine = engine
        self.rules = rules
        self.settings = settings
        self.space = MapSpace.build(engine.problem, engine.arch, rules)

    # ------------------------------------------------------------------ candidate stream
    def _chunks(self) -> Iterator[tuple[int, np.ndarray, np.ndarray, float]]:
        """(chunk index, temporal, spatial, delay lower bound) in evaluation order.

        Exhaustive mode walks the spatial configurations from the most to the least parallel (the
        compute-cycle lower bound ascending) and enumerates each one's temporal factorizations.
        """
        s = self.settings
        space = self.space
        exhaustive = s.mode in ("auto", "exhaustive") and all(d.table is not None for d in space.dims)
        if s.mode == "exhaustive" and not exhaustive:
            raise MappingError(
                f"the mapspace is too large to enumerate ({space.describe()} factorizations per dimension)",
                fix="use the random search (--mode random) or add constraints",
            )
        if exhaustive:
            cfg, product, groups = space.spatial_configs()
            if cfg.shape[0] == 0:
                self._diag = {"empty_at": space._fanout_message()}
                return
            macs = self.engine.problem.macs * self._compute_fraction()
            order = np.argsort(-product, kind="stable")
            self.mode = "exhaustive"
            rng = np.random.default_rng([s.seed, 1])
            c = 0
            pending_t: list[np.ndarray] = []
            pending_s: list[np.ndarray] = []
            pending_n = 0
            pending_lower = None
            for k in order:
                lower = macs / max(int(product[k]), 1)
                if pending_n and (pending_n >= s.chunk or lower > pending_lower * (1 + 1e-12)):
                    yield c, np.concatenate(pending_t), np.concatenate(pending_s), pending_lower
                    c += 1
                    pending_t, pending_s, pending_n = [], [], 0
                if not pending_n:
                    pending_lower = lower
                rows = [groups[j][g] for j, g in enumerate(cfg[k])]
                idx, diag = space.enumerate_config(rows, s.exhaustive_limit)
                if idx is None:
                    idx = self._sample_config(rows, rng)
                if idx.shape[0] == 0:
                    if diag.get("empty_at"):
                        self._diag = diag
                    continue
                t_arr, s_arr = space.factor_arrays(idx, rng)
                reps = np.minimum(space.permutation_variants(t_arr), s.max_permutations).astype(np.int64)
                if reps.max(initial=1) > 1:
                    sel = np.repeat(np.arange(idx.shape[0]), reps)
                    t_arr, s_arr = t_arr[sel], s_arr[sel]
                for sub in range(0, t_arr.shape[0], s.chunk):
                    pending_t.append(t_arr[sub : sub + s.chunk])
                    pending_s.append(s_arr[sub : sub + s.chunk])
                    pending_n += min(s.chunk, t_arr.shape[0] - sub)
                    if pending_n >= s.chunk:
                        yield c, np.concatenate(pending_t), np.concatenate(pending_s), pending_lower
                        c += 1
                        pending_t, pending_s, pending_n = [], [], 0
                        pending_lower = lower
            if pending_n:
                yield c, np.concatenate(pending_t), np.concatenate(pending_s), pending_lower
            return
        self.mode = "random"
        c = 0
        while True:
            rng = np.random.default_rng([s.seed, c, 3])
            sample = space.sample_indices(rng, s.chunk)
            t_arr, s_arr = space.factor_arrays(sample, rng)
            ok, _ = space._partial_ok(t_arr, s_arr, [])
            yield c, t_arr[ok], s_arr[ok], 0.0
            c += 1

    def _sample_config(self, rows: list[np.ndarray], rng) -> np.ndarray:
        """Random candidates of one spatial configuration too large to enumerate."""
        n = self.settings.chunk
        cols = [r[rng.integers(0, len(r), size=n)] for r in rows]
        idx = np.stack(cols, axis=1)
        t_arr, s_arr = self.space.factor_arrays(idx, rng)
        ok, _ = self.space._partial_ok(t_arr, s_arr, [])
        return idx[ok]

    def _compute_fraction(self) -> float:
        """Lower bound on (actual + gated) / algorithmic computes (see bounds.py)."""
        return getattr(self, "_fraction", 1.0)

    # ------------------------------------------------------------------ search
    def run(self, progress: Callable[[int, int], None] | None = None) -> SearchResult:
        s = self.settings
        start = time.perf_counter()
        stopped_by_budget = False
        self._diag = {}
        self.mode = "random"
        best_key = None
        best_mb: MappingBatch | None = None
        candidates = evaluated = valid = 0
        since_improvement = 0
        invalid_run = 0
        reasons: Counter = Counter()
        jobs = resolve_jobs(s.jobs)
        bounds = Bounds(self.engine)
        self._fraction = bounds.fraction
        pool = None
        if jobs > 1:
            pool = ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(self.engine, self.space, bounds))
        else:
            _init_worker(self.engine, self.space, bounds)
        pending: deque = deque()
        chunks = self._chunks()
        exhausted = False
        try:
            while True:
                # keep up to 2 x jobs chunks in flight; stop feeding once no remaining candidate can win
                while not exhausted and len(pending) < (2 * jobs if pool else 1):
                    try:
                        c, t_arr, s_arr, lower = next(chunks)
                    except StopIteration:
                        exhausted = True
                        break
                    if s.metrics[0] == "delay" and best_key is not None and lower > best_key[0] * (1 + 1e-9):
                        exhausted = True
                        break
                    if not t_arr.shape[0]:
                        continue
                    task = (c, t_arr, s_arr, s.seed, s.metrics, best_key, 1024)
                    pending.append(pool.submit(_eval_chunk, task) if pool else task)
                if not pending:
                    break
                item = pending.popleft()
                res: ChunkResult = item.result() if pool else _eval_chunk(item)
                candidates += res.candidates
                evaluated += res.evaluated
                valid += res.valid
                reasons.update(res.reasons)
                if res.best_key is not None and _better(res.best_key, best_key):
                    best_key, best_mb = res.best_key, res.best_mb
                    since_improvement = 0
                else:
                    since_improvement += res.candidates
                invalid_run = 0 if res.best_key is not None else invalid_run + res.candidates
                if progress is not None:
                    progress(candidates, valid)
                if self.mode == "random":
                    if s.victory_condition and best_key is not None and since_improvement >= s.victory_condition:
                        break
                    if s.timeout and invalid_run >= s.timeout:
                        break
                    if s.search_size and candidates >= s.search_size:
                        break
                if s.budget_s is not None and time.perf_counter() - start > s.budget_s:
                    stopped_by_budget = True
                    break
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        seconds = time.perf_counter() - start
        if best_mb is None:
            raise self._nothing_fits(reasons, candidates)
        evaluation = self.engine.evaluation(best_mb, 0)
        notes = list(best_mb.notes)
        if stopped_by_budget:
            notes.append(f"search stopped by the {s.budget_s:g} s time budget after {candidates} candidates: "
                         "the best mapping may differ on a faster or slower machine")
            evaluation.notes.append(notes[-1])
        return SearchResult(best_mb, evaluation, candidates, valid, seconds, self.mode, self.space.describe(),
                            notes, exact_evaluations=evaluated)

    # ------------------------------------------------------------------ diagnostics
    def _nothing_fits(self, reasons: Counter, evaluated: int) -> MappingError:
        diag = getattr(self, "_diag", {}) or {}
        empty = diag.get("empty_at")
        if empty:
            return MappingError("no mapping fits: " + " ".join(empty))
        if reasons:
            top, count = reasons.most_common(1)[0]
            share = count / max(evaluated, 1)
            hint = relax_hint(top)
            return MappingError(
                f"no valid mapping among {evaluated} candidates: the tightest limit is '{top}' "
                f"({share:.0%} of the candidates fail there). {hint}",
                fix=hint,
            )
        return MappingError("no candidate mapping could be generated from the constraints",
                            fix="check the factor constraints against the problem dimensions")


def default_jobs() -> int:
    """Every core of this machine, at most 8 (more processes rarely pay for their start-up)."""
    return max(1, min(os.cpu_count() or 1, 8))


def resolve_jobs(jobs: int | None) -> int:
    """``--jobs``/``workers`` as given; 0 (or None) means every core (:func:`default_jobs`)."""
    return default_jobs() if not jobs else max(1, int(jobs))


def padded_size(n: int) -> int:
    """Next size >= n whose largest prime factor is <= 7 (factorizes well), for `--pad`."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5, 7):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def awkward_dims(bounds: dict[str, int]) -> dict[str, int]:
    """Dims whose size has a prime factor > 7 (e.g. C = 131): name -> suggested padded size."""
    out = {}
    for name, n in bounds.items():
        if n > 7 and padded_size(n) != n and max(_pf(n)) > 7:
            out[name] = padded_size(n)
    return out


def _pf(n: int) -> list[int]:
    from .mapspace import prime_factors

    return prime_factors(n) or [1]


__all__ = ["Mapper", "SearchResult", "SearchSettings", "awkward_dims", "default_jobs", "padded_size", "resolve_jobs"]
