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

import msgspec
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


class SearchSettings(msgspec.Struct):
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
    max_keep_choices: int = 64
    max_candidates: int = 0  # stop after this many candidates in any mode (0: no limit); deterministic
    # stop after this many exact (Sparseloop) evaluations, the search's main cost under sparsity (0: no
    # limit), once a valid mapping is known. Unlike budget_s it is deterministic: the same seed gives the
    # same mapping on any machine.
    max_exact: int = 0
    exhaustive_limit: int = 1_500_000
    mode: str = "auto"  # auto | exhaustive | random
    # With a time budget and no valid mapping yet when it runs out, the search goes on until the first
    # valid mapping, at most this many times the budget (and at least first_mapping_min_s), and at most
    # `timeout` further candidates: a tiny budget on a busy machine must not read as a misfit.
    first_mapping_factor: float = 10.0
    first_mapping_min_s: float = 5.0


class SearchResult(msgspec.Struct):
    """The best mapping found, its full evaluation and how the search went."""

    batch: MappingBatch
    evaluation: Evaluation
    evaluated: int
    valid: int
    seconds: float
    mode: str
    space: str
    notes: list[str] = msgspec.field(default_factory=list)
    exact_evaluations: int = 0
    budget_exceeded: bool = False  # the budget ran out before a first valid mapping; the search went on
    seeds: int = 0  # warm-start mappings given to the search
    seed_kept: bool = False  # the best mapping is one of them (no candidate beat it)
    fingerprint: str = ""  # of the mapspace searched (:func:`fingerprint`): where the mapping may seed

    def stats(self) -> dict:
        out = {
            "mode": self.mode,
            "mappings_evaluated": self.evaluated,
            "valid_mappings": self.valid,
            "mapper_seconds": round(self.seconds, 4),
            "mapspace": self.space,
        }
        if self.budget_exceeded:  # only then, so that budget-free payloads keep their keys
            out["budget_exceeded_for_first_mapping"] = True
        if self.seeds:  # likewise: only warm-started searches report their seeds
            out["warm_start_seeds"] = self.seeds
            out["warm_start_kept"] = self.seed_kept
        return out


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


class ChunkResult(msgspec.Struct):
    """What one chunk of candidates contributed."""

    index: int
    candidates: int
    evaluated: int
    valid: int
    best_key: tuple | None
    best_mb: MappingBatch | None
    reasons: Counter


def _init_worker(engine: Engine, space: MapSpace, bounds: Bounds, parent: int | None = None) -> None:
    if parent is not None:  # a pool worker: die with the mapper, even on its kill -9 (issue 15, item 9)
        from ..sweep import _worker_init

        _worker_init(parent)
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


class _LazyRng:
    """``np.random.default_rng(seed)``, made on its first use: an exhaustive walk that samples nothing never
    imports ``numpy.random`` (~8 ms of every process, issue 15, item 14). The draws are the same stream."""

    def __init__(self, seed: list[int]) -> None:
        self._seed = seed
        self._rng: np.random.Generator | None = None

    def __getattr__(self, name: str):
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        return getattr(self._rng, name)


def _eval_chunk(args) -> ChunkResult:
    """Evaluate one chunk: everything exactly (dense) or, under sparsity, only what the bounds allow.

    ``deadline`` (perf_counter seconds, or None) ends the sparse sub-batch loop early once a valid
    mapping is known (here or in ``best_key``); ``hard`` ends it in any case. Without a budget both are
    None and the chunk's result depends on the seed and chunk index only. ``cap`` (None: none) is
    (exact evaluations left, whether the search's own candidates gave a valid mapping yet): the chunk
    evaluates at most that many (the most promising by bound order come first), except that with no
    valid candidate yet it goes on to the first one: a cap must not fake a misfit. (Warm-start seeds
    do not count as found: a seeded search then evaluates every candidate an unseeded one does, bar
    those its better incumbent prunes.)
    """
    index, (t_arr, s_arr, perm, xs, keep), seed, metrics, best_key, sub, deadline, hard, cap = args
    engine: Engine = _WORKER["engine"]
    space: MapSpace = _WORKER["space"]
    rng = _LazyRng([seed, index, 7])
    mb = space.build_batch(t_arr, s_arr, rng, perm, xs, keep)
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
    last = 0.0  # seconds the previous sub-batch took: the next one is not started if it would overrun
    for n, (start, size) in enumerate(starts):
        if n and deadline is not None:
            now = time.perf_counter()
            if (now + last > deadline and (local_key is not None or best_key is not None)) or now > hard:
                break
        current = local_key if (local_key is not None and _better(local_key, best_key)) else best_key
        rest = order[start:]
        pruned = _prune_mask(dlb[rest], elb[rest], metrics, current)
        if pruned.all():
            break
        rows = order[start : start + size]
        rows = rows[~pruned[: rows.shape[0]]]
        if cap is not None:
            room = cap[0] - evaluated
            if room > 0:
                rows = rows[:room]
            elif local_key is not None or cap[1]:
                break
            # else the cap is spent with no valid candidate yet: go on, uncapped, to the first one
        if rows.size == 0:
            continue
        sel = mb.select(rows)
        t0 = time.perf_counter()
        ev = engine.evaluate_nest(nest.select(rows), sel)  # the chunk's dense analysis, not a second one
        last = time.perf_counter() - t0
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
    def _chunks(self) -> Iterator[tuple[int, tuple[np.ndarray, ...], float]]:
        """(chunk index, (temporal, spatial, perm, xs, keep), delay lower bound) in evaluation order.

        Exhaustive mode walks the spatial configurations from the most to the least parallel (the
        compute-cycle lower bound ascending), streams each one's temporal factorizations and
        crosses them with loop orders, X/Y sides and keep/bypass choices (`MapSpace.expand`).
        Every array held is at most a few chunks long, whatever the size of the mapspace.
        """
        s = self.settings
        space = self.space
        full = s.mode == "exhaustive"
        enumerable = all(d.table is not None for d in space.dims)
        if full and not enumerable:
            raise MappingError(
                f"the mapspace is too large to enumerate ({space.describe()} factorizations per dimension)",
                fix="use the random search (--mode random) or add constraints",
            )
        keeps = space.keep_options(None if full else s.max_keep_choices)
        expand = dict(all_orders=full, max_orders=s.max_permutations, all_sides=full, chunk=s.chunk)
        # Under sparsity, auto keeps the tilings' enumeration order (loop orders and keep choices of one
        # tiling next to each other, in blocks whose variants fit in about one chunk): the bound-pruned
        # exact evaluation then finds a good incumbent sooner (3x fewer exact evaluations on the
        # Eyeriss v2 reference runs). Dense, every tiling's first variant comes first: a chunk then
        # spans more tilings, which finds good mappings sooner. Either way the same candidates.
        ordered = not full and self.engine.uses_sparse
        block = max(1, s.chunk // (s.max_permutations * keeps.shape[0])) if ordered else s.chunk
        if s.mode in ("auto", "exhaustive") and enumerable:
            cfg, product, groups = space.spatial_configs()
            if cfg.shape[0] == 0:
                self._diag = {"empty_at": space._fanout_message()}
                return
            macs = self.engine.problem.macs * self._compute_fraction()
            order = np.argsort(-product, kind="stable")
            self.mode = "exhaustive"
            rng = _LazyRng([s.seed, 1])
            c = 0
            pending: list[tuple[np.ndarray, ...]] = []
            pending_n = 0
            pending_lower = None

            def flush():
                nonlocal c, pending, pending_n
                out = (c, tuple(np.concatenate(p) for p in zip(*pending)), pending_lower)
                c += 1
                pending, pending_n = [], 0
                return out

            for k in order:
                if self._out_of_time():
                    break
                lower = macs / max(int(product[k]), 1)
                if pending_n and lower > pending_lower * (1 + 1e-12):
                    yield flush()
                if not pending_n:
                    pending_lower = lower
                rows = [groups[j][g] for j, g in enumerate(cfg[k])]
                diag: dict = {}
                for idx in self._config_indices(rows, rng, diag, full):
                    for start in range(0, idx.shape[0], block):
                        t_arr, s_arr = space.factor_arrays(idx[start : start + block], rng)
                        for piece in space.expand(t_arr, s_arr, keeps, ordered=ordered, **expand):
                            pending.append(piece)
                            pending_n += piece[0].shape[0]
                            if pending_n >= s.chunk:
                                yield flush()
                                pending_lower = lower
                if diag.get("empty_at"):
                    self._diag = diag
            if pending_n:
                yield flush()
            return
        self.mode = "random"
        c = 0
        while True:
            rng = np.random.default_rng([s.seed, c, 3])
            sample = space.sample_indices(rng, s.chunk)
            t_arr, s_arr = space.factor_arrays(sample, rng)
            ok, _ = space._partial_ok(t_arr, s_arr, [])
            pieces = list(space.expand(t_arr[ok], s_arr[ok], keeps, **expand))
            if not pieces:
                yield c, (t_arr[:0], s_arr[:0], None, None, None), 0.0
                c += 1
            for piece in pieces:
                yield c, piece, 0.0
                c += 1

    def _config_indices(self, rows: list[np.ndarray], rng, diag: dict, full: bool) -> Iterator[np.ndarray]:
        """The factorization indices of one spatial configuration, streamed in bounded blocks.

        Exhaustive mode streams all of them. ``auto`` holds at most ``exhaustive_limit`` index rows
        (a few tens of MB) and, when a configuration has more, searches it by random sampling.
        """
        blocks = self.space.iter_config(rows, block=self.settings.chunk * 2, diag=diag)
        if full:
            yield from blocks
            return
        held, total = [], 0
        for idx in blocks:
            held.append(idx)
            total += idx.shape[0]
            if total > self.settings.exhaustive_limit:
                held = None
                break
            if self._out_of_time():
                break
        if held is None:
            yield self._sample_config(rows, rng)
        else:
            yield from held

    def _out_of_time(self) -> bool:
        """Whether generation must stop (checked while generating, so that the budget is honoured).

        The rule: once a valid mapping is known the budget ends the search; until then the search may
        go past the budget up to the hard cap (`SearchSettings.first_mapping_factor`), so that a tiny
        budget or a busy machine yields a (noted) first mapping rather than a false misfit.
        """
        found = getattr(self, "_found", True)
        deadline = getattr(self, "_deadline", None) if found else getattr(self, "_hard", None)
        if deadline is not None and time.perf_counter() > deadline:
            self._gen_stopped = True
            return True
        return False

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
    def run(self, progress: Callable[[int, int], None] | None = None,
            seeds: MappingBatch | None = None) -> SearchResult:
        """Search; ``seeds`` (warm start) are mappings of this mapspace known to be good, e.g. the best
        of the same layer at another point of a sweep (see :func:`fingerprint`): the best valid one is
        the first incumbent. The bounds then prune more, and the result is never worse than without
        seeds (a candidate is pruned only when its lower bound exceeds the incumbent; ties keep the seed).

        The cyclic garbage collector is paused meanwhile: the search allocates many small acyclic objects
        (loops, tiles, memo keys), and the collections they trigger, each walking every object of the
        process, cost ~8 % of a search (issue 15, item 14). It is restored, as it was, on the way out.
        """
        import gc  # a builtin module: no import cost

        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._run(progress, seeds)
        finally:
            if collecting:
                gc.enable()

    def _run(self, progress, seeds) -> SearchResult:
        """`run`'s search."""
        s = self.settings
        start = time.perf_counter()
        self._deadline = None if s.budget_s is None else start + s.budget_s
        self._hard = None
        if s.budget_s is not None:
            self._hard = start + max(s.budget_s * s.first_mapping_factor, s.first_mapping_min_s)
        self._found = False
        self._gen_stopped = False
        stopped_by_budget = budget_exceeded = budget_limited = False
        at_budget = 0  # candidates when the budget ran out with no valid mapping yet
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
        seeded = found_own = False  # found_own: a valid mapping among the candidates (seeds aside)
        if seeds is not None and seeds.n:
            # not counted in `evaluated`: max_exact then gives a seeded search at least the candidates
            # of an unseeded one (a candidate is skipped only when pruned), so it never ends up worse
            ev = self.engine.evaluate(seeds)
            b = _best_in(ev, s.metrics)
            if b is not None:
                best_key = tuple(float(c[b]) for c in _metric_columns(ev, s.metrics))
                best_mb = seeds.select(b)
                best_mb.notes = []
                self._found = seeded = True
        pool = None
        if jobs > 1:
            # imported here: concurrent.futures.process pulls in multiprocessing (~5 ms of every start-up)
            from concurrent.futures import ProcessPoolExecutor

            pool = ProcessPoolExecutor(jobs, initializer=_init_worker,
                                       initargs=(self.engine, self.space, bounds, os.getpid()))
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
                        c, arrays, lower = next(chunks)
                    except StopIteration:
                        exhausted = True
                        break
                    if s.metrics[0] == "delay" and best_key is not None and lower > best_key[0] * (1 + 1e-9):
                        exhausted = True
                        break
                    if not arrays[0].shape[0]:
                        if self.mode == "random":
                            invalid_run += s.chunk
                            if s.timeout and invalid_run >= s.timeout:
                                break
                        continue
                    cap = None
                    if s.max_exact:  # deterministic: `evaluated` counts the chunks reduced so far, in order
                        cap = (s.max_exact - evaluated, found_own)
                        if cap[0] <= 0 and found_own:
                            exhausted = True
                            break
                    task = (c, arrays, s.seed, s.metrics, best_key, 1024, self._deadline, self._hard, cap)
                    pending.append(pool.submit(_eval_chunk, task) if pool else task)
                if not pending:
                    break
                item = pending.popleft()
                res: ChunkResult = item.result() if pool else _eval_chunk(item)
                candidates += res.candidates
                evaluated += res.evaluated
                valid += res.valid
                reasons.update(res.reasons)
                if res.best_key is not None and best_key is None and self._deadline is not None:
                    # the first valid mapping came after the budget
                    budget_exceeded = time.perf_counter() > self._deadline
                found_own = found_own or res.best_key is not None
                if res.best_key is not None and _better(res.best_key, best_key):
                    best_key, best_mb = res.best_key, res.best_mb
                    seeded = False
                    since_improvement = 0
                else:
                    since_improvement += res.candidates
                self._found = best_key is not None
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
                if s.max_candidates and candidates >= s.max_candidates:
                    break
                if s.max_exact and evaluated >= s.max_exact and found_own and not pending:
                    break
                if self._deadline is not None and time.perf_counter() > self._deadline:
                    if best_key is not None:
                        stopped_by_budget = True
                        break
                    if not budget_exceeded:
                        budget_exceeded, at_budget = True, candidates
                    if time.perf_counter() > self._hard or (s.timeout and candidates - at_budget >= s.timeout):
                        budget_limited = True
                        break
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        seconds = time.perf_counter() - start
        stopped_by_budget = stopped_by_budget or self._gen_stopped
        if best_mb is None:
            if budget_limited or self._gen_stopped:
                raise self._budget_ran_out(reasons, candidates, seconds)
            raise self._nothing_fits(reasons, candidates)
        evaluation = self.engine.evaluation(best_mb, 0)
        notes = list(best_mb.notes)
        if budget_exceeded:
            notes.append(f"the {s.budget_s:g} s time budget ran out before a first valid mapping was found; "
                         f"the search went on to the first one ({candidates} candidates, {seconds:.2f} s): "
                         "raise --budget-s for a better mapping")
            evaluation.notes.append(notes[-1])
        elif stopped_by_budget:
            notes.append(f"search stopped by the {s.budget_s:g} s time budget after {candidates} candidates: "
                         "the best mapping may differ on a faster or slower machine")
            evaluation.notes.append(notes[-1])
        return SearchResult(best_mb, evaluation, candidates, valid, seconds, self.mode, self.space.describe(),
                            notes, exact_evaluations=evaluated, budget_exceeded=budget_exceeded,
                            seeds=0 if seeds is None else seeds.n, seed_kept=seeded,
                            fingerprint=fingerprint(self.space))

    def _budget_ran_out(self, reasons: Counter, candidates: int, seconds: float) -> MappingError:
        """The budget (and its first-mapping extension) ran out before any valid mapping: not a misfit."""
        s = self.settings
        seen = ""
        if reasons:
            top, count = reasons.most_common(1)[0]
            seen = f" ({count} of the {candidates} candidates tried failed at '{top}')"
        suggest = max(10 * seconds, 10 * s.budget_s, 1.0)
        err = MappingError(
            f"the {s.budget_s:g} s time budget ran out before a valid mapping was found: the search went on "
            f"for a first mapping to {seconds:.1f} s and {candidates} candidates{seen}; the budget, not the "
            "constraints, was the limit",
            fix=f"raise the budget (e.g. --budget-s {suggest:.3g}, or mapper budget_s) or leave it out",
        )
        err.budget_limited = True  # map_spec passes it on as is (no padding hint: the shape is not the issue)
        return err

    # ------------------------------------------------------------------ diagnostics
    def _nothing_fits(self, reasons: Counter, evaluated: int) -> MappingError:
        diag = getattr(self, "_diag", {}) or {}
        empty = diag.get("empty_at")
        if empty:
            return MappingError("no mapping fits: " + " ".join(empty))
        if not reasons and self.space.rules.min_parallelism > 0:  # every sample fell below it
            return MappingError("no mapping fits: " + " ".join(self.space._fanout_message()))
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


def max_jobs() -> int:
    """Most processes ``--jobs`` may ask for: four per core, at least 32 (``--jobs 100000`` hung the machine
    starting processes)."""
    return max(32, 4 * (os.cpu_count() or 1))


def resolve_jobs(jobs: int | None) -> int:
    """``--jobs``/``workers`` as given; 0 (or None) means every core (:func:`default_jobs`).

    Raises:
        ConfigError: more processes than :func:`max_jobs`.
    """
    if jobs and int(jobs) > max_jobs():
        from ..errors import ConfigError

        raise ConfigError(f"{jobs} parallel jobs is more than {max_jobs()} (four per core of this machine)",
                          key_path="jobs", fix=f"use --jobs with at most {max_jobs()}, or 0 for every core")
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


# ---------------------------------------------------------------------- warm start across a sweep
_SEED_FIELDS = ("temporal", "spatial", "perm", "spatial_perm", "split", "keep")


def fingerprint(space: MapSpace) -> str:
    """What the constraints make of a mapspace, apart from fit: the problem's dims and sizes, each
    level's fixed/bounded factors, loop-order prefixes, keep/bypass and mesh-axis choices.

    Two mapspaces with the same fingerprint admit the same constrained mappings, so the best mapping
    of one is a legal seed for the other; whether it fits (capacity, fan-out) is checked by evaluating
    it there. The constraints' source names are left out: they differ between a sweep's point folders.
    """
    from ..io import sha256_bytes

    levels = []
    for r in space.rules.levels:
        items = sorted((k, getattr(r, k)) for k in r.__struct_fields__ if k != "sources")
        levels.append(repr([(k, sorted(v) if isinstance(v, set) else v) for k, v in items]))
    parts = [repr(list(space.problem.dims)), repr([int(b) for b in space.problem.bounds]), *levels,
             repr(space.spatial_levels), repr(space.keep_fixed.tolist()), repr(space.axis.tolist())]
    return sha256_bytes("\n".join(parts))


def seed_json(batch: MappingBatch, i: int = 0) -> dict:
    """Mapping ``i`` as plain lists (a sweep job's payload carries its best mapping this way)."""
    return {f: getattr(batch, f)[i].astype(int).tolist() for f in _SEED_FIELDS}


def seeds_batch(items, space: MapSpace) -> MappingBatch | None:
    """The seeds (``{"fingerprint", "mapping"}``, mapping as :func:`seed_json`) legal in ``space``, as one
    batch in the order given (None: none): same fingerprint, same shape, factors that tile the problem."""
    n_lv, n_dims, n_t = space.arch.n_levels, space.problem.n_dims, len(space.problem.dataspaces)
    mine = fingerprint(space)
    bounds = np.asarray(space.problem.bounds, dtype=np.int64)
    shapes = {"temporal": (n_lv, n_dims), "spatial": (n_lv, n_dims), "perm": (n_lv, n_dims),
              "spatial_perm": (n_lv, n_dims), "split": (n_lv,), "keep": (n_lv, n_t)}
    rows = []
    for item in items or ():
        if not isinstance(item, dict) or item.get("fingerprint") != mine:
            continue
        try:
            arrays = {f: np.asarray(item["mapping"][f], dtype=np.int64) for f in _SEED_FIELDS}
        except (KeyError, TypeError, ValueError):
            continue
        if not all(arrays[f].shape == shapes[f] for f in _SEED_FIELDS):
            continue
        if np.array_equal((arrays["temporal"] * arrays["spatial"]).prod(axis=0), bounds):
            rows.append(arrays)
    if not rows:
        return None
    stacked = {f: np.stack([r[f] for r in rows]) for f in _SEED_FIELDS}
    stacked["keep"] = stacked["keep"].astype(bool)
    return MappingBatch(**stacked)


__all__ = ["Mapper", "SearchResult", "SearchSettings", "awkward_dims", "default_jobs", "fingerprint", "padded_size",
           "resolve_jobs", "seed_json", "seeds_batch"]
