"""The builtin backend: sparse-hw's own mapper and analytical engine on Timeloop input files.

Reads exactly the files ``timeloop-mapper`` / ``timeloop-model`` read (architecture, components,
sparse optimizations, ERT/ART, problem, constraints, mapper settings, mapping), so users can run
both backends on the same inputs and compare.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MappingError, SpecError
from ..io import dump_yaml
from ..mapper.constraints import compile_rules
from ..mapper.options import check_search_options
from ..mapper.search import Mapper, SearchResult, SearchSettings, awkward_dims, seed_json, seeds_batch
from ..model.evaluate import Engine
from ..model.mapping import mapping_to_directives
from ..model.problem import ProblemModel
from ..model.result import Evaluation
from .inputs import estimate_notes, load_files

#: Timeloop's metric names (and spellings) -> ours.
_METRIC_ALIASES = {"delay": "delay", "cycles": "delay", "energy": "energy", "edp": "edp"}


def pad_problem(problem: ProblemModel, sizes: dict[str, int]) -> ProblemModel:
    """The same problem with some dimensions padded (extra zero work) so that they factorize."""
    bounds = problem.bounds.copy()
    for name, size in sizes.items():
        bounds[problem.dims.index(name)] = size
    spaces = tuple(
        dataclasses.replace(ds, size=int(np.prod(1 + (bounds - 1) @ ds.coef.T))) for ds in problem.dataspaces
    )
    return dataclasses.replace(problem, bounds=bounds, dataspaces=spaces)


def search_settings(spec, overrides: dict[str, Any]) -> SearchSettings:
    """Mapper settings from the files (Timeloop `mapper:` key) with command-line overrides."""
    s = SearchSettings()
    mapper = getattr(spec, "mapper", None)
    if mapper is not None:
        metrics = getattr(mapper, "optimization_metrics", None)
        if metrics:
            s.metrics = tuple(_metric(m) for m in metrics)
        victory = getattr(mapper, "victory_condition", None)
        if victory:
            s.victory_condition = max(int(victory) * 10, s.victory_condition)
        size = getattr(mapper, "search_size", None)
        if size:
            s.search_size = int(size)
        perms = getattr(mapper, "max_permutations_per_if_visit", None)
        if perms:
            s.max_permutations = int(perms)
        seed = getattr(mapper, "seed", None)
        if seed is not None:
            s.seed = int(seed)
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "metrics":
            s.metrics = tuple(_metric(m) for m in value)
        elif hasattr(s, key):
            setattr(s, key, value)
    check_search_options(seed=s.seed)  # a file's seed is bounded where it is read; this is an override's
    return s


def _metric(name: str) -> str:
    try:
        return _METRIC_ALIASES[str(name).lower().replace("-", "_")]
    except KeyError:
        raise MappingError(
            f"unknown optimization metric {name!r}", key_path="mapper.optimization_metrics", fix="use delay, energy, edp"
        ) from None


def map_spec(spec, *, arch_name: str | None = None, overrides: dict[str, Any] | None = None,
             pad: bool = False, progress=None, seeds=None) -> tuple[SearchResult, Engine]:
    """Search the best mapping of a loaded spec; returns the result and the engine used.

    ``seeds``: warm-start mappings (`sparse_hw.mapper.search.seeds_batch`); those legal here start the search."""
    engine = Engine.from_spec(spec, arch_name)
    notes: list[str] = []
    awkward = awkward_dims(dict(zip(engine.problem.dims, map(int, engine.problem.bounds))))
    if pad and awkward:
        engine = Engine(pad_problem(engine.problem, awkward), engine.arch)
        notes += [f"padded {d} from {int(spec.problem.instance[d])} to {v} to factorize" for d, v in awkward.items()]
    directives = list(getattr(spec, "arch_constraints", None) or []) + list(
        getattr(spec, "mapspace_constraints", None) or []
    )
    rules = compile_rules(directives, engine.arch, engine.problem)
    settings = search_settings(spec, overrides or {})
    try:
        mapper = Mapper(engine, rules, settings)
        result = mapper.run(progress, seeds_batch(seeds, mapper.space) if seeds else None)
    except MappingError as exc:
        if awkward and not pad and not getattr(exc, "budget_limited", False):
            hint = ", ".join(f"{d}={int(engine.problem.bounds[engine.problem.dims.index(d)])}" for d in awkward)
            first = exc.problems[0]
            pad_fix = "rerun with --pad to pad them to sizes that factorize (the padding is reported)"
            raise MappingError(
                f"{first.message} Note: dimension(s) {hint} have large prime factors, which leave few tilings.",
                file=first.file,
                key_path=first.key_path,
                fix=f"{first.fix}; or {pad_fix}" if first.fix else pad_fix,
            ) from None
        raise
    notes += estimate_notes(spec)
    result.notes.extend(notes)
    result.evaluation.notes.extend(notes)
    return result, engine


def mapping_yaml(result: SearchResult, engine: Engine) -> str:
    """The best mapping as a Timeloop mapping file (what `timeloop-model` reads)."""
    directives = mapping_to_directives(result.batch, 0, engine.arch, engine.problem)
    header = "".join(f"# {n}\n" for n in result.notes)
    return header + dump_yaml({"mapping": directives})


def run_layer_job(job) -> dict[str, Any]:
    """Execute one sweep job (see `sparse_hw.sweep.LayerJob`) and return a JSON-able payload."""
    files = [*job.arch_files, job.problem_file]
    settings = dict(job.settings)
    if job.backend == "timeloop":
        import tempfile

        from ..spec.problem_shape import fit_problem_files
        from .timeloop import TimeloopBackend

        with tempfile.TemporaryDirectory(prefix="sparse-hw-timeloop-") as work:
            files = fit_problem_files([Path(f) for f in files], Path(work))
            ev = TimeloopBackend().map(files, workdir=Path(work), timeout_s=float(settings.get("timeout_s", 3600)))
        return {"evaluation": ev.to_json(), "mapping_yaml": dump_yaml(ev.mapping or {}), "mapper": {}}
    spec = load_files(files, dict(settings["jinja"]) if settings.get("jinja") else None)
    overrides = {k: settings.get(k) for k in ("seed", "budget_s", "jobs", "max_exact")}
    if settings.get("metrics"):
        overrides["metrics"] = settings["metrics"]
    result, engine = map_spec(spec, arch_name=job.arch, overrides=overrides, pad=bool(settings.get("pad")),
                              seeds=json.loads(settings["warm_start"]) if settings.get("warm_start") else None)
    payload = {
        "evaluation": result.evaluation.to_json(),
        "mapping_yaml": mapping_yaml(result, engine),
        "mapper": result.stats() | {"seed": search_settings(spec, overrides).seed},
        "notes": result.notes,
    }
    if settings.get("keep_best"):  # a sweep seeds the same layer's searches at other points with it
        payload["best_mapping"] = {"fingerprint": result.fingerprint, "mapping": seed_json(result.batch)}
    if settings.get("actual_problem"):  # simulate --density actual: the chosen mapping on the real masks
        payload["actual"] = evaluate_actual(result, engine, [*job.arch_files, settings["actual_problem"]],
                                            job.arch).to_json()
    return payload


def evaluate_actual(
    result: SearchResult, engine: Engine, files: Sequence[str | Path], arch_name: str
) -> Evaluation:
    """The mapping the statistical search chose, re-evaluated on a real-data problem (same shape).

    The statistical search stays the search (fast, and what Sparseloop's mapper does); only the
    chosen mapping meets the masks. A problem the search padded is padded alike (the masks with zeros)."""
    spec = load_files(files)
    actual = Engine.from_spec(spec, arch_name)
    sizes = {d: int(b) for d, b, own in zip(engine.problem.dims, engine.problem.bounds, actual.problem.bounds)
             if int(b) != int(own)}
    if sizes:
        actual = Engine(pad_problem(actual.problem, sizes), actual.arch)
    return actual.evaluation(result.batch, 0)


def model_spec(spec) -> Evaluation:
    """Evaluate the mapping of a loaded spec (what `timeloop-model` does with the same files)."""
    if spec.mapping is None:
        raise SpecError("no mapping in the input files", key_path="mapping",
                        fix="pass a mapping YAML, or use `sparse-hw map` to search for one")
    engine = Engine.from_spec(spec)
    batch = engine.compile_mapping(spec.mapping)
    ev = engine.evaluation(batch, 0)
    ev.notes.extend(estimate_notes(spec))
    return ev


class BuiltinBackend:
    """`model` and `map` with sparse-hw's engine and mapper, on Timeloop input files."""

    name = "builtin"

    def model(
        self,
        files: Sequence[Path],
        *,
        workdir: Path | None = None,
        timeout_s: float = 600,
        jinja_data: dict[str, Any] | None = None,
    ) -> Evaluation:
        return model_spec(load_files(files, jinja_data))

    def map(self, files: Sequence[Path], *, workdir: Path | None = None, timeout_s: float = 3600) -> Evaluation:
        spec = load_files(files)
        result, _ = map_spec(spec, overrides={"budget_s": timeout_s})
        return result.evaluation
