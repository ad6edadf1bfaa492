"""The stages, composed in one place: train -> extract -> simulate -> report (and model/map).

Each function is what one CLI command calls; stage modules are imported lazily so that a command
only pays for what it uses (torch is not imported to model a Timeloop file).
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import BackendError, ConfigError, MappingError
from .io import atomic_dir, atomic_write, atomic_write_json, check_out_dir, out_lock, refuse_foreign_folder


# ---------------------------------------------------------------------------------- model / map
def _with_arch(files: Sequence[Path], arch: str | None) -> list[Path]:
    files = [Path(f) for f in files]
    if arch is None:
        return files
    from .spec.library import architecture_files

    return [*architecture_files(arch), *files]


def model_files(
    files: Sequence[Path],
    *,
    arch: str | None = None,
    out: Path | None = None,
    force: bool = False,
    jinja: dict[str, Any] | None = None,
    on_start: Callable[[], None] | None = None,
):
    """Evaluate the mapping in ``files`` (Timeloop inputs); optionally write the outputs to ``out``.
    ``jinja``: variables for templated inputs (``--jinja KEY=VALUE``). ``on_start``: called once the
    inputs are validated and the engine imported, before the work (the command line's start-up ends)."""
    from .backends.inputs import load_files

    paths = _with_arch(files, arch)
    if out is not None:
        check_out_dir(out, inputs=paths, force=force)
    spec = load_files(paths, jinja)  # read and validated before numpy and the engine are imported
    from .backends.analytical import model_spec

    if on_start is not None:
        on_start()
    ev = model_spec(spec)
    if out is not None:
        _write_eval(out, ev, stage="model", inputs=paths, mapping=ev.mapping, force=force)
    return ev


def map_files(
    files: Sequence[Path],
    *,
    arch: str | None = None,
    metrics: Sequence[str] | None = None,
    seed: int | None = None,
    budget_s: float | None = None,
    jobs: int = 1,
    mode: str = "auto",
    pad: bool = False,
    out: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
    jinja: dict[str, Any] | None = None,
    on_start: Callable[[], None] | None = None,
):
    """Search the best mapping for ``files``; returns (SearchResult, Evaluation) and writes ``out``.
    ``jinja``: variables for templated inputs (``--jinja KEY=VALUE``). ``on_start``: called once the
    inputs are validated and the engine and mapper imported, before the search (the command line's
    start-up ends, `sparse_hw.cli._process.started`)."""
    from .backends.inputs import load_files

    paths = _with_arch(files, arch)
    from .mapper.options import check_search_options

    check_search_options(budget_s=budget_s, mode=mode, seed=seed)
    if out is not None:
        check_out_dir(out, inputs=paths, force=force)
    spec = load_files(paths, jinja)  # read and validated before numpy, the engine and the mapper are imported
    from .backends.analytical import map_spec, mapping_yaml

    if on_start is not None:
        on_start()
    overrides: dict[str, Any] = {"seed": seed, "budget_s": budget_s, "jobs": jobs, "mode": mode}
    if metrics:
        overrides["metrics"] = list(metrics)
    result, engine = map_spec(spec, arch_name=arch, overrides=overrides, pad=pad, progress=progress)
    ev = result.evaluation
    if out is not None:
        with atomic_dir(out, force=force, inputs=paths) as tmp:
            atomic_write(tmp / "map.yaml", mapping_yaml(result, engine))
            _eval_files(tmp, ev)
            from .manifest import RunManifest  # pydantic: only when a folder is written

            manifest = RunManifest(stage="map", seeds={"mapper": result.stats().get("seed", seed)},
                                   settings=result.stats() | {"metrics": list(metrics or [])} | _estimated(ev))
            for p in paths:
                manifest.add_input(p)
            manifest.outputs = ["map.yaml", "evaluation.json", "stats.txt"]
            manifest.finish().write(tmp)
    return result, ev


def _estimated(ev) -> dict[str, Any]:
    """The manifest's record that sparse-hw's estimator filled missing ERT/ART entries."""
    from .estimate import manifest_settings

    return manifest_settings(list(getattr(ev, "notes", []) or []))


def _eval_files(folder: Path, ev) -> None:
    from .model.stats_text import render_stats

    atomic_write_json(folder / "evaluation.json", ev.to_json())
    atomic_write(folder / "stats.txt", render_stats(ev))


def _write_eval(out: Path, ev, *, stage: str, inputs: Sequence[Path], mapping, force: bool = False) -> None:
    from .io import dump_yaml

    with atomic_dir(out, force=force, inputs=inputs) as tmp:
        _eval_files(tmp, ev)
        if mapping:
            atomic_write(tmp / "map.yaml", dump_yaml(mapping))
        from .manifest import RunManifest

        manifest = RunManifest(stage=stage)
        manifest.settings.update(_estimated(ev))
        for p in inputs:
            manifest.add_input(p)
        manifest.outputs = ["evaluation.json", "stats.txt"] + (["map.yaml"] if mapping else [])
        manifest.finish().write(tmp)


# ---------------------------------------------------------------------------------- simulate
RESULT_KEYS = (
    "arch", "arch_exploits", "backend", "energy_pj", "cycles", "area_um2", "utilization",
    "algorithmic_computes", "actual_computes", "gated_computes", "skipped_computes",
    "mapper_seed", "method", "target_sparsity", "accuracy",
)  # fmt: skip


def _extract_layers(folder: Path):
    """(layers.csv rows, problem file per layer order, checkpoint facts) of one extract folder."""
    return _extract_folder(folder)[:3]


def _extract_folder(folder: Path):
    """:func:`_extract_layers` plus the rows without a Timeloop form (model, checkpoint, layer, order, op,
    reason): they have no problem file, and simulate skips them."""
    from .table_checks import check_checkpoint_facts, read_layer_table

    csv = folder / "layers.csv"
    if not csv.is_file():
        raise ConfigError(
            "not an extract folder: layers.csv is missing",
            file=folder,
            fix="pass folders written by `sparse-hw extract`",
        )
    layers, unmodeled = read_layer_table(csv)  # every row checked: an edited density of 1.7 must not become a result
    problems = sorted((folder / "problems").glob("*.yaml"))
    by_order = {}
    for p in problems:
        head = p.name.split("_", 1)[0]
        if head.isdigit():
            by_order[int(head)] = p
    facts: dict[str, Any] = {}
    meta = folder / "layers.json"
    if meta.is_file():
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"not valid JSON: {exc}", file=meta,
                              fix="re-run `sparse-hw extract` into this folder") from None
        if isinstance(data, dict):
            facts = {k: data.get(k) for k in ("method", "target_sparsity", "accuracy") if k in data}
            for k in ("method", "target_sparsity", "accuracy"):
                if k not in facts and isinstance(data.get("checkpoint_meta"), dict):
                    facts[k] = data["checkpoint_meta"].get(k)
            check_checkpoint_facts(facts, meta)  # they are copied into every results.csv row
        else:
            raise ConfigError(f"layers.json holds a JSON {type(data).__name__}, not an object", file=meta,
                              fix="re-run `sparse-hw extract` into this folder")
    missing = [int(o) for o in layers["order"] if int(o) not in by_order]
    if missing:
        raise ConfigError(
            f"problem files missing for layer order(s) {missing[:5]}",
            file=folder / "problems",
            fix="re-run `sparse-hw extract` into this folder",
        )
    for o in layers["order"]:
        _check_problem_file(by_order[int(o)], folder)
    return layers, by_order, facts, unmodeled


def _refuse_repeats(folders: Sequence[Path], archs: Sequence[str]) -> None:
    """An extract folder or architecture given twice would map every layer twice and write each result row
    twice (the report then refuses to sum them): refused before any work."""
    seen: dict[Path, Path] = {}
    for f in folders:
        key = f.resolve() if f.exists() else f
        if key in seen:
            raise ConfigError(f"the extract folder is given twice ({seen[key]} and {f})", file=f,
                              fix="pass each extract folder once")
        seen[key] = f
    twice = sorted({a for a in archs if list(archs).count(a) > 1})
    if twice:
        raise ConfigError(f"architecture {twice[0]!r} is given twice", key_path="--arch",
                          fix="pass each --arch once")


def _check_problem_file(path: Path, folder: Path) -> None:
    """A layer's problem file, before any job starts (a folder or an empty file failed only inside the jobs,
    after the cache was made): a non-empty regular file inside the extract folder (a link to /etc/passwd was
    read as a problem)."""
    fix = "re-run `sparse-hw extract` into this folder"
    try:
        inside = path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):
        inside = False
    if not inside:
        raise ConfigError("the problem file leads outside its extract folder (a link or a symlink loop)", file=path,
                          fix=fix + ", or copy the file into it instead of linking")
    if not path.is_file():
        raise ConfigError("the problem file is not a regular file", file=path, fix=fix)
    if path.stat().st_size == 0:
        raise ConfigError("the problem file is empty", file=path, fix=fix)


def arch_exploits(arch_name: str) -> str:
    """Which tensors' sparsity an architecture exploits (weights / inputs / outputs), for every report."""
    from .spec.library import load_architecture

    spec = load_architecture(arch_name)
    tensors: set[str] = set()
    formatted: set[str] = set()
    compute_opt = False
    sparse = getattr(spec, "sparse_optimizations", None)
    for target in getattr(sparse, "targets", None) or []:
        # gating/skipping conditioned on a tensor exploits that tensor's zeros
        for opt in getattr(target, "action_optimization", None) or []:
            for option in opt.options:
                tensors.update(option.condition_on)
        compute_opt = compute_opt or bool(getattr(target, "compute_optimization", None))
        formatted.update(ds.name for ds in getattr(target, "representation_format", None) or [])
    if compute_opt:
        # compute gating/skipping acts on operands whose zeros are identifiable (compressed/metadata)
        tensors |= formatted - {"Outputs"}
    order = ["Weights", "Inputs", "Outputs"]
    names = [t.lower() for t in order if t in tensors]
    return "+".join(names) if names else "none"


def _cache_path(out: Path, cache: Path | None) -> Path:
    return Path(cache) if cache is not None else Path(out).parent / ".sparse-hw-cache.sqlite"


def _check_cache_outside(cache: Path, dirs: Sequence[Path]) -> None:
    """``--cache ex/c.db`` wrote the result cache into the extract folder it reads: refused, like an --out there."""
    where = cache.resolve().parents
    for d in dirs:
        if Path(d).is_dir() and Path(d).resolve() in where:
            raise ConfigError(f"the result cache would be written inside the input folder {d}", file=cache,
                              key_path="--cache", fix=f"put the cache outside {d} (or leave --cache out)")


def _owns_out(stage):
    """Check ``out`` before any work and hold its lock for the whole stage, so that a second run on
    the same folder is refused at once (exit 2, naming the holder) instead of racing this one."""

    @functools.wraps(stage)
    def wrapper(dirs, archs, *, out, force: bool = False, cache=None, **kwargs):
        inputs = [*dirs, _cache_path(out, cache)]
        check_out_dir(out, inputs=inputs, force=force)
        _check_cache_outside(_cache_path(out, cache), dirs)
        with out_lock(out):
            return stage(dirs, archs, out=out, force=force, cache=cache, **kwargs)

    return wrapper


@_owns_out
def simulate(
    dirs: Sequence[Path],
    archs: Sequence[str],
    *,
    out: Path,
    backend: str = "builtin",
    workers: int = 0,
    engine: str = "local",
    scheduler: str | None = None,
    seed: int = 0,
    budget_s: float | None = None,
    metrics: Sequence[str] | None = None,
    pad: bool = True,
    cache: Path | None = None,
    progress: Callable[[Any], None] | None = None,
    force: bool = False,
    jinja: dict[str, Any] | None = None,
    density: str = "statistical",
) -> Path:
    """Map and evaluate every layer of every extract folder on every architecture.

    ``density="actual"``: each layer is mapped with the statistical densities, then the chosen mapping
    is re-evaluated on the masks of ``extract --masks``; results.csv gets both (``*_statistical``,
    ``*_actual`` and the statistical model's relative error ``*_stat_error``).

    ``out`` is replaced only when a sparse-hw stage wrote it (or ``force``), never when it is or holds
    an input; while this runs, a second run on the same ``out`` is refused."""
    import pandas as pd

    from .backends import BACKENDS
    from .mapper.options import check_search_options
    from .mapper.search import resolve_jobs
    from .report.tables import breakdown_rows
    from .spec.library import architecture_files
    from .sweep import LayerJob, check_scheduler, job_settings, jobs_table, run_cached

    BACKENDS.get(backend)
    if backend == "timeloop":
        from .backends.timeloop import MAPPER, timeloop_available

        if timeloop_available().get(MAPPER) is None:
            raise BackendError(
                f"--backend timeloop needs {MAPPER} on PATH, and it is not there",
                fix="put the Timeloop v3.0.3 binaries on PATH (see ../shared/reference/timeloop/README.md, "
                "'Tools') or use --backend builtin, sparse-hw's own engine",
            )
    if not dirs:
        raise ConfigError("no extract folder given", fix="pass one or more folders written by `sparse-hw extract`")
    if not archs:
        raise ConfigError("no architecture given", fix="pass --arch NAME (see `sparse-hw arch list`)")
    folders = [Path(d) for d in dirs]
    _refuse_repeats(folders, archs)
    from .report.inputs import SKIPPED_FILE

    extracted = {f: _extract_folder(f) for f in folders}
    layer_tables = {f: t[:3] for f, t in extracted.items()}
    skipped = pd.concat([t[3] for t in extracted.values()], ignore_index=True)
    for s in skipped.itertuples():  # named, never dropped silently (issue 14)
        print(f"simulate: skipped layer {s.layer} of {s.model}/{s.checkpoint}, not modeled: {s.reason}",
              file=sys.stderr)
    from .actual import actual_settings, check_density, result_columns

    check_density(density, backend, {f: t[0] for f, t in layer_tables.items()})
    arch_info = {a: ([str(p) for p in architecture_files(a)], arch_exploits(a)) for a in archs}
    settings = job_settings(seed=seed, budget_s=budget_s, metrics=tuple(metrics) if metrics else None, pad=pad)
    if jinja:
        if backend != "builtin":
            raise ConfigError(
                "--jinja is read by the builtin backend only", fix="render the templates first, or drop --backend"
            )
        # part of the job settings, so the result cache keys on the variables too
        settings = (*settings, ("jinja", tuple(sorted(jinja.items()))))
    jobs = []
    rows_meta = []
    for folder in folders:
        layers, by_order, facts = layer_tables[folder]
        for _, row in layers.iterrows():
            for a in archs:
                jobs.append(
                    LayerJob(
                        model=str(row["model"]),
                        checkpoint=str(row["checkpoint"]),
                        layer=str(row["layer"]),
                        order=int(row["order"]),
                        problem_file=str(by_order[int(row["order"])].resolve()),
                        arch=a,
                        arch_files=tuple(arch_info[a][0]),
                        backend=backend,
                        settings=actual_settings(settings, folder, row) if density == "actual" else settings,
                    )
                )
                rows_meta.append((row.to_dict(), facts))
    if not jobs:
        raise ConfigError("no layer of these extract folders can be modeled (every row of layers.csv has "
                          "modeled False)", file=folders[0] / "layers.csv",
                          fix="extract a model with at least one conv, linear or matmul layer")
    cache_path = _cache_path(out, cache)
    workers = resolve_jobs(workers)
    if engine not in ("local", "dask"):  # run_sweep says so too, but only after the cache was made
        raise ConfigError(f"unknown engine {engine!r}", key_path="--engine", fix="use local or dask")
    check_scheduler(scheduler)
    check_search_options(budget_s=budget_s, metrics=metrics, seed=seed)
    started = time.time()
    results = run_cached(jobs, cache_path, workers=workers, engine=engine, scheduler=scheduler, progress=progress)
    failed = [r for r in results if r.error]
    if failed:
        by_error: dict[str, list[str]] = {}
        for r in failed:
            by_error.setdefault(str(r.error), []).append(r.job.label())
        parts = []
        for error, labels in list(by_error.items())[:3]:
            shown = ", ".join(labels[:4]) + (f" and {len(labels) - 4} more" if len(labels) > 4 else "")
            parts.append(f"{shown}: {error}")
        raise MappingError(
            f"{len(failed)} of {len(results)} layer jobs failed (nothing was written; finished jobs are cached). "
            + " | ".join(parts),
            fix="`sparse-hw map --arch ARCH PROBLEM.yaml` on one of the problem files gives the full diagnosis",
        )
    from .model.result import Evaluation

    out_rows, breakdown = [], []
    mapping_files: dict[str, str] = {}
    for res, (layer_row, facts) in zip(results, rows_meta):
        job = res.job
        ev = Evaluation.from_json(res.payload["evaluation"])
        mapper = res.payload.get("mapper", {})
        row = dict(layer_row)
        row.update(
            arch=job.arch,
            arch_exploits=arch_info[job.arch][1],
            backend=job.backend,
            energy_pj=ev.energy_pj,
            cycles=ev.cycles,
            area_um2=ev.area_um2,
            utilization=ev.utilization,
            algorithmic_computes=ev.algorithmic_computes,
            actual_computes=ev.actual_computes,
            gated_computes=ev.gated_computes,
            skipped_computes=ev.skipped_computes,
            mapper_seed=mapper.get("seed", seed),
            method=facts.get("method", row.get("method")),
            target_sparsity=facts.get("target_sparsity", row.get("target_sparsity")),
            accuracy=facts.get("accuracy", row.get("accuracy")),
            bound_by=ev.bound_by,
            notes=" | ".join(res.payload.get("notes", []) or ev.notes),
        )
        if density == "actual":
            row.update(result_columns(ev, Evaluation.from_json(res.payload["actual"])))
        out_rows.append(row)
        keys = {"model": job.model, "checkpoint": job.checkpoint, "arch": job.arch, "layer": job.layer}
        breakdown += [keys | b for b in breakdown_rows(ev)]
        name = f"{job.model}__{job.checkpoint}__{int(job.order):03d}_{job.layer}__{job.arch}.yaml".replace("/", "_")
        mapping_files[name] = res.payload.get("mapping_yaml", "")
    table = pd.DataFrame(out_rows)
    first = [c for c in table.columns if c not in RESULT_KEYS]
    ordered = first + [c for c in RESULT_KEYS if c in table.columns]
    with atomic_dir(out, force=force, inputs=[*folders, cache_path]) as tmp:
        atomic_write(tmp / "results.csv", table[ordered].to_csv(index=False))
        atomic_write(tmp / "breakdown.csv", pd.DataFrame(breakdown).to_csv(index=False))
        # wall times and cache hits differ between two identical runs: kept apart from the results
        atomic_write(tmp / "timings.csv", pd.DataFrame(jobs_table(results)).to_csv(index=False))
        for name, text in mapping_files.items():
            atomic_write(tmp / "mappings" / name, text)
        if len(skipped):  # the layers without a Timeloop form, for the report
            atomic_write(tmp / SKIPPED_FILE, skipped.to_csv(index=False))
        from .manifest import RunManifest

        manifest = RunManifest(
            stage="simulate",
            seeds={"mapper": seed},
            settings={
                "archs": list(archs), "backend": backend, "workers": workers, "engine": engine,
                "budget_s": budget_s, "metrics": list(metrics or []), "pad": pad, "cache": str(cache_path),
                "density": density,
                "extract_dirs": [str(f) for f in folders],
                "cache_hits": sum(r.cached for r in results), "jobs": len(results),
            },
        )
        for f in folders:
            manifest.add_input(f / "layers.csv")
        manifest.started = started
        manifest.outputs = ["results.csv", "breakdown.csv", "timings.csv", "mappings/",
                            *([SKIPPED_FILE] if len(skipped) else [])]
        manifest.finish().write(tmp)
    return Path(out)


# ---------------------------------------------------------------------------------- report
def report(dirs: Sequence[Path], *, out: Path, baseline: str | None = None, extract_dirs: Sequence[Path] = (),
           force: bool = False):
    from .report import report as _report

    return _report(list(dirs), baseline=baseline, out=out, extract_dirs=tuple(extract_dirs), force=force)


# ---------------------------------------------------------------------------------- train / extract
def train(config, *, progress=None):
    """Train and prune one model (`sparse_hw.train.api.train`)."""
    from .train.api import train as _train

    return _train(config, progress=progress)


def extract(ckpt: Path, *, out: Path, threads: int | None = 1, **options):
    """Measure per-layer shapes and densities of a checkpoint (`sparse_hw.extract.api.extract`).

    ``threads``: torch intra-op threads while the calibration data runs (see ``TrainConfig.threads`` for
    why one is the default); None keeps torch's setting."""
    from .extract.api import extract as _extract
    from .train.api import torch_threads

    with torch_threads(threads):
        return _extract(ckpt, out=out, **options)


# ---------------------------------------------------------------------------------- run
def _stamp_ok(stamp: Path, key: str, target: Path) -> bool:
    return target.exists() and stamp.is_file() and stamp.read_text().strip() == key


#: What a run writes in its folder (its stages and manifest); hidden names with ``.sparse-hw`` are its cache
#: and our temporaries and locks (io.py).
_RUN_ENTRIES = frozenset({"checkpoints", "extract", "simulate", "report", "manifest.json"})


def _foreign_in_run_dir(names: list[str]) -> list[str]:
    """What a run did not write: an earlier run's folder, even an interrupted one with no manifest yet, holds
    only its stage folders (and our hidden cache, temporaries and locks)."""
    return [n for n in names if n not in _RUN_ENTRIES and not (n.startswith(".") and ".sparse-hw" in n)]


def run(config_path: Path, *, log: Callable[[str], None] = lambda m: None, train_progress=None,
        sim_progress=None) -> Path:
    """The whole pipeline from one configuration; finished stages are reused when nothing changed."""
    from .io import sha256_bytes
    from .resources import RESULTS_DIR
    from .runconfig import load_run_config
    from .train.config import TrainConfig

    cfg = load_run_config(config_path)
    run_dir = Path(cfg.out) if cfg.out is not None else RESULTS_DIR / cfg.name
    if run_dir.exists() and not run_dir.is_dir():  # stage folders go inside it; a file is never replaced
        raise ConfigError(f"the run folder {run_dir} is an existing file", file=config_path, key_path="out",
                          fix="point `out` at a folder (new, or one of an earlier run)")
    refuse_foreign_folder(run_dir, _foreign_in_run_dir, what="run", config=config_path)
    run_dir.mkdir(parents=True, exist_ok=True)
    from .manifest import RunManifest

    manifest = RunManifest(stage="run", seeds={"run": cfg.seed}, settings=cfg.model_dump(mode="json"))
    manifest.add_input(config_path)
    started = time.time()
    ckpt_paths: dict[str, Path] = {}
    extract_dirs: list[Path] = []
    for plan in cfg.checkpoints:
        merged = {**cfg.train, **plan.overrides}
        merged.setdefault("seed", cfg.seed)
        if plan.init_from is not None:
            merged["init_checkpoint"] = str(ckpt_paths[plan.init_from])
        target = run_dir / "checkpoints" / f"{plan.name}.pt"
        merged["out"] = str(target)
        tconf = TrainConfig.model_validate(merged)
        key = sha256_bytes(tconf.model_dump_json() + (
            sha256_bytes(ckpt_paths[plan.init_from].read_bytes()) if plan.init_from else ""))
        stamp = target.with_suffix(".stamp")
        if _stamp_ok(stamp, key, target):
            log(f"train {plan.name}: unchanged, reusing {target}")
        else:
            log(f"train {plan.name}: {tconf.model} on {tconf.data}, methods {tconf.methods}")
            train(tconf, progress=train_progress)
            atomic_write(stamp, key + "\n")
        ckpt_paths[plan.name] = target
        ex_dir = run_dir / "extract" / plan.name
        ex_opts = {
            "calib_samples": cfg.extract.calib_samples, "seed": cfg.seed, "dialect": cfg.extract.dialect,
            "pad": cfg.extract.pad, "batch_size": cfg.extract.batch_size,
            # the run config names the training dataset, so a dataset path is the user's own (extract refuses
            # paths that only a checkpoint names); path-less datasets keep None and earlier runs' stamps
            "data": cfg.extract.data or (tconf.data if ":" in tconf.data else None),
        }
        ex_key = sha256_bytes(json.dumps(ex_opts, sort_keys=True) + sha256_bytes(target.read_bytes()))
        ex_stamp = run_dir / "extract" / f"{plan.name}.stamp"
        if _stamp_ok(ex_stamp, ex_key, ex_dir / "layers.csv"):
            log(f"extract {plan.name}: unchanged, reusing {ex_dir}")
        else:
            log(f"extract {plan.name}: {cfg.extract.calib_samples} calibration samples")
            extract(target, out=ex_dir, **ex_opts)
            atomic_write(ex_stamp, ex_key + "\n")
        extract_dirs.append(ex_dir)
    sim = cfg.simulate
    log(f"simulate: {len(extract_dirs)} checkpoint(s) on {', '.join(sim.archs)}")
    sim_dir = simulate(
        extract_dirs, sim.archs, out=run_dir / "simulate", backend=sim.backend, workers=sim.workers,
        engine=sim.engine, scheduler=sim.scheduler, seed=cfg.seed, budget_s=sim.budget_s, metrics=sim.metrics,
        pad=sim.pad, cache=run_dir / ".sparse-hw-cache.sqlite", progress=sim_progress,
    )
    log("report")
    baseline = cfg.report.baseline
    if baseline is None and "eyeriss_like" in sim.archs:
        baseline = "eyeriss_like"
    report([sim_dir], out=run_dir / "report", baseline=baseline, extract_dirs=extract_dirs)
    manifest.started = started
    manifest.outputs = ["checkpoints/", "extract/", "simulate/", "report/"]
    manifest.finish().write(run_dir)
    return run_dir


def command_line() -> list[str]:
    return list(sys.argv)


__all__ = ["arch_exploits", "extract", "map_files", "model_files", "report", "run", "simulate", "train"]
