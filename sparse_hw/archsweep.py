"""Design-space sweeps: vary architecture attributes over a grid, re-estimate, map every layer.

``--set NAME.ATTR=v1,v2`` names a component or container of a timeloopfe v0.4 architecture and one
of its ``attributes`` (``shared_glb.data_storage_depth``, ``eyeriss_168.technology``) or of its
``spatial`` fan-out (``DummyBuffer.meshX``). Each grid point gets its own copy of the architecture
files (the user's files are never edited) with the value replaced on its line, so comments and
layout survive. The recorded ERT/ART entries of the components a ``--set`` changes are dropped, at
*every* point, so that the estimator prices them the same way everywhere (a recorded table at the
original value and an estimated one elsewhere would not compare like with like). Layer jobs run on
the cached, resumable runner of ``simulate`` (`sparse_hw.sweep.run_sweep`).
"""

from __future__ import annotations

import io
import itertools
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, SparseHwError
from .io import RunManifest, atomic_dir, atomic_write, check_out_dir, dump_yaml, load_yaml, out_lock
from .pareto import pareto_mask

#: short names accepted when the component spells the attribute the smartbuffer way
ALIASES = {"depth": "data_storage_depth", "width": "data_storage_width"}
SPATIAL = ("meshX", "meshY")
_POSITIVE_INT = re.compile(r"(depth|width|meshX|meshY|n_banks|num_banks|block_size|entries|ports)$")
_TECH = re.compile(r"^\s*\d+(\.\d+)?\s*nm\s*$")
SET_HELP = (
    "NAME.ATTR=v1,v2,... : NAME is a component or container of the architecture, ATTR one of its "
    "attributes (depth/width also find data_storage_depth/width) or meshX/meshY of its spatial fan-out"
)


@dataclass(frozen=True)
class Axis:
    """One ``--set``: where the attribute lives and the values it takes."""

    path: str  # as typed, the CSV column name
    node: str
    attr: str  # key as spelled in the file
    section: str  # "attributes" or "spatial"
    values: tuple[str, ...]
    reestimate: tuple[str, ...]  # components whose recorded ERT/ART entries are dropped


def _bad(message: str, fix: str, key: str = "--set", file: Path | None = None) -> ConfigError:
    return ConfigError(message, file=file, key_path=key, fix=fix)


def parse_set(text: str) -> tuple[str, tuple[str, ...]]:
    """``PATH=v1,v2`` -> (PATH, values)."""
    path, eq, rest = text.partition("=")
    values = tuple(v.strip() for v in rest.split(",")) if eq else ()
    if not eq or "." not in path.strip() or not values or any(v == "" for v in values):
        raise _bad(f"--set {text!r} is not NAME.ATTR=v1,v2,...", f"e.g. --set shared_glb.depth=4096,8192; {SET_HELP}")
    if len(set(values)) != len(values):
        raise _bad(f"--set {text!r} repeats a value", "give each value once")
    return path.strip(), values


def arch_files(arch: str) -> list[Path]:
    """A built-in architecture's files, or those of a folder laid out the same way (arch.yaml, components/)."""
    from .spec.library import FILE_ORDER, architecture_files

    folder = Path(arch)
    if not (folder / "arch.yaml").is_file():
        return architecture_files(arch)
    files: list[Path] = []
    for part in FILE_ORDER:
        p = folder / part
        if part == "components":
            files.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [])
        elif p.is_file():
            files.append(p)
    return files


def _nodes(arch_yaml: Path) -> list[tuple[dict, list[str]]]:
    """Every named node in document order with the components it scopes (a container: all after it)."""
    data = load_yaml(arch_yaml)
    nodes = (data or {}).get("architecture", {}).get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, list):
        raise _bad("the architecture is not a timeloopfe v0.4 node list; sweeps edit v0.4 architectures",
                   "convert it to v0.4 (architecture: nodes: [...])", key="architecture", file=arch_yaml)
    flat: list[dict] = []

    def walk(items: list) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
            elif isinstance(item, dict) and "name" in item:
                flat.append(item)
                for v in item.values():
                    if isinstance(v, list):
                        walk(v)

    walk(nodes)
    out = []
    for i, node in enumerate(flat):
        if (getattr(node, "tag", "") or "").lstrip("!") == "Container":
            scope = [str(n["name"]) for n in flat[i + 1:] if (getattr(n, "tag", "") or "").lstrip("!") != "Container"]
        else:
            scope = [str(node["name"])]
        out.append((node, scope))
    return out


def _check_value(path: str, attr: str, original: Any, value: str) -> None:
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        raise _bad(f"--set {path}: {value!r} is not a YAML scalar", "give plain numbers or words") from None
    # .nan/.inf passed every `< 0` test below, and a 30-digit depth swept to a CSV of points that none fit
    # (exit 0); Timeloop reads attributes as 64-bit integers (`spec.arch.MAX_ATTRIBUTE`)
    if isinstance(parsed, (int, float)) and not isinstance(parsed, bool) and not (
            math.isfinite(parsed) and abs(parsed) <= 2**63 - 1):
        raise _bad(f"--set {path}: {attr} {value!r} is not a finite number up to 2^63 - 1",
                   f"give {attr} realistic finite values")
    if attr == "technology":
        ok = _TECH.match(value) or (isinstance(parsed, (int, float)) and not isinstance(parsed, bool) and parsed > 0)
        if not ok:
            raise _bad(f"--set {path}: technology {value!r} is not a node size", "write e.g. 45nm or 22nm")
    elif attr.endswith("bandwidth"):
        if not isinstance(parsed, (int, float)) or isinstance(parsed, bool) or parsed <= 0:
            raise _bad(f"--set {path}: {attr} must be a number above 0, not {value!r}", "give words per cycle > 0")
    elif _POSITIVE_INT.search(attr):
        if not isinstance(parsed, int) or isinstance(parsed, bool) or parsed < 1:
            raise _bad(f"--set {path}: {attr} must be a whole number of at least 1, not {value!r}",
                       f"give sizes >= 1 (a {attr} of 0 holds nothing)")
    elif isinstance(original, bool):  # `maybe` swept to points that the model refused one by one (exit 0)
        if not isinstance(parsed, bool):
            raise _bad(f"--set {path}: {attr} is true or false in the architecture; {value!r} is neither",
                       "give true or false")
    elif isinstance(original, (int, float)):
        if not isinstance(parsed, (int, float)) or isinstance(parsed, bool) or parsed < 0:
            raise _bad(f"--set {path}: {attr} is a number in the architecture; {value!r} is not a number >= 0",
                       "give numbers")


#: Most grid points one sweep may have (the product of the --set value counts), unless ``--max-points``
#: says more: each point is a copy of the architecture and a mapping of every layer, so a 10,000-point
#: grid typed by mistake (100 x 100 values) started hours of work
MAX_POINTS = 4_096


def resolve_axes(arch_yaml: Path, sets: Sequence[str], max_points: int = MAX_POINTS) -> list[Axis]:
    """Check every ``--set`` against the architecture (names, attributes, values) before anything runs;
    the grid they make must have at most ``max_points`` points."""
    if not sets:
        raise _bad("no --set given: a sweep needs at least one attribute to vary", f"pass --set {SET_HELP}")
    nodes = _nodes(arch_yaml)
    by_name = {str(n["name"]): (n, scope) for n, scope in nodes}
    axes: list[Axis] = []
    for text in sets:
        path, values = parse_set(text)
        name, _, attr = path.rpartition(".")
        for section in ("attributes.", "spatial."):  # NAME.attributes.KEY spelled out
            if name.endswith("." + section.rstrip(".")):
                name = name[: -len(section)]
        if name not in by_name:
            raise _bad(f"--set {path}: no component or container named {name!r} in {arch_yaml}",
                       "use one of: " + ", ".join(by_name), file=arch_yaml)
        node, scope = by_name[name]
        section = "spatial" if attr in SPATIAL else "attributes"
        table = node.get(section) if isinstance(node.get(section), dict) else {}
        key = attr if attr in table else ALIASES.get(attr) if ALIASES.get(attr) in table else None
        if key is None:
            known = [*(node.get("attributes") or {}), *(node.get("spatial") or {})]
            raise _bad(f"--set {path}: {name} has no {section} {attr!r}",
                       f"{name} has: {', '.join(map(str, known)) or 'nothing to vary'}", file=arch_yaml)
        if any(a.node == name and a.attr == key for a in axes):
            raise _bad(f"--set {path}: {name}.{key} is set twice", "give each attribute once, with all its values")
        for v in values:
            _check_value(path, key, table[key], v)
        # a fan-out changes the instance count, not the per-instance tables; an attribute re-prices its scope
        reest = () if section == "spatial" else tuple(scope)
        axes.append(Axis(path, name, key, section, values, reest))
    points = math.prod(len(a.values) for a in axes)
    if points > max_points:  # each point is a copy of the architecture on disk: 2000 x 2000 values hung
        counts = " x ".join(f"{a.path} ({len(a.values):,} values)" for a in axes)
        raise _bad(f"the --set values make a grid of {points:,} points ({counts}), more than {max_points:,}",
                   "sweep fewer values at once (split the grid over several sweeps), or allow more points "
                   f"with --max-points {points}")
    return axes


def _edit_lines(text: str, edits: list[tuple[int, str, str]], file: Path) -> str:
    """Replace the value of ``key`` on each (1-based) line, keeping indentation and comments."""
    lines = text.splitlines(keepends=True)
    for lineno, key, value in edits:
        line = lines[lineno - 1]
        pat = re.compile(rf"^(\s*(?:-\s+)?{re.escape(key)}\s*:\s*)([^#\n]*?)(\s*(?:#.*)?\n?)$")
        m = pat.match(line)
        if m is None:
            raise _bad(f"{key} on line {lineno} is not written as 'key: value' on its own line; it cannot be "
                       "edited in place", "write that attribute in block style", key=key, file=file)
        lines[lineno - 1] = m.group(1) + value + m.group(3)
    return "".join(lines)


def _drop_tables(path: Path, drop: set[str]) -> str | None:
    """An ERT/ART file's text without the entries of ``drop`` (None: not a table file, copy as is)."""
    from .spec.tables import component_key

    data = load_yaml(path)
    if not isinstance(data, dict) or not ({"ERT", "ART"} & set(data)):
        return None
    for key in ("ERT", "ART"):
        section = data.get(key)
        if isinstance(section, dict) and isinstance(section.get("tables"), list):
            section["tables"] = [t for t in section["tables"]
                                 if not (isinstance(t, dict) and component_key(str(t.get("name"))) in drop)]
    return dump_yaml(data)


def write_point(files: Sequence[Path], root: Path, dest: Path, axes: Sequence[Axis],
                values: Sequence[str], texts: dict[Path, str] | None = None) -> list[Path]:
    """Copy the architecture files to ``dest`` with this point's values and the changed tables dropped.

    ``texts`` memoizes the files other than arch.yaml, which are the same at every point (parsing and
    re-dumping a recorded ERT was most of a point's set-up time): pass one dict for a whole grid."""
    arch_yaml = next(f for f in files if f.name == "arch.yaml")
    by_name = {str(n["name"]): n for n, _ in _nodes(arch_yaml)}
    edits = []
    for axis, value in zip(axes, values):
        table = by_name[axis.node][axis.section]
        edits.append((table.key_lines[axis.attr], axis.attr, value))
    drop = {c for a in axes for c in a.reestimate}
    out = []
    for f in files:
        target = dest / f.relative_to(root)
        if f == arch_yaml:
            text = _edit_lines(f.read_text(encoding="utf-8"), edits, f)
        elif texts is not None and f in texts:
            text = texts[f]
        else:
            text = (_drop_tables(f, drop) if drop else None) or f.read_text(encoding="utf-8")
            if texts is not None:
                texts[f] = text
        out.append(atomic_write(target, text))
    return out


def _layer_inputs(layers: Sequence[Path]) -> list[dict[str, Any]]:
    """(model, checkpoint, layer, order, problem file) for extract folders and plain problem files."""
    from .pipeline import _extract_layers

    found: list[dict[str, Any]] = []
    for item in map(Path, layers):
        if item.is_dir():
            table, by_order, _ = _extract_layers(item)
            for _, row in table.iterrows():
                found.append({"model": str(row["model"]), "checkpoint": str(row["checkpoint"]),
                              "layer": str(row["layer"]), "order": int(row["order"]),
                              "problem_file": str(by_order[int(row["order"])].resolve())})
        elif item.is_file():
            found.append({"model": "files", "checkpoint": "-", "layer": item.stem, "order": len(found),
                          "problem_file": str(item.resolve())})
        else:
            raise ConfigError("no such extract folder or problem file", file=item,
                              fix="pass folders written by `sparse-hw extract` or Timeloop problem files")
    if not found:
        raise ConfigError("no layers given", fix="pass an extract folder or problem files after the architecture")
    return found


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _precheck(files: list[Path]) -> str | None:
    """Load the point's architecture and estimate its tables; the reason it cannot run, or None."""
    from .estimate import fill_missing
    from .spec import load_spec

    try:
        fill_missing(load_spec(files))
    except SparseHwError as exc:
        return _one_line(exc.render())
    return None


def plot_pareto(rows: list[dict[str, Any]], title: str) -> bytes:
    """Energy against cycles, coloured by area, the Pareto front joined and labelled (PNG bytes)."""
    from .mpl_home import private_config_if_home_unusable

    private_config_if_home_unusable()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 5), dpi=110, layout="constrained")
    ax = fig.add_subplot(111)
    ok = [r for r in rows if r["status"] == "ok"]
    if ok:
        sc = ax.scatter([r["cycles"] for r in ok], [r["energy_pj"] for r in ok], c=[r["area_um2"] for r in ok],
                        cmap="viridis", s=36, edgecolors="black", linewidths=0.4, zorder=3)
        fig.colorbar(sc, ax=ax, label="area (um^2)")
        front = sorted((r for r in ok if r["pareto"]), key=lambda r: r["cycles"])
        ax.step([r["cycles"] for r in front], [r["energy_pj"] for r in front], where="post", color="tab:red",
                linewidth=1, zorder=2, label="Pareto front")
        for r in front:
            ax.annotate(r["point"], (r["cycles"], r["energy_pj"]), textcoords="offset points", xytext=(4, 4),
                        fontsize=7)
        ax.legend(loc="upper right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no feasible point", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("cycles (sum over layers)")
    ax.set_ylabel("energy (pJ, sum over layers)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": "sparse-hw"})
    return buf.getvalue()


@dataclass(frozen=True)
class Plan:
    """A validated sweep: its axes, the architecture files and the layers, read once (see :func:`prepare`)."""

    given: tuple  # (arch, sets, layers) as passed: arch_sweep reuses the plan only for these
    axes: list[Axis]
    files: list[Path]
    layers: list[dict[str, Any]]


def validate(arch: str, sets: Sequence[str], layers: Sequence[Path],
             max_points: int = MAX_POINTS) -> list[Axis]:
    """Every check that needs no work (architecture, ``--set`` paths and values, layers); raises ConfigError."""
    return prepare(arch, sets, layers, max_points).axes


def prepare(arch: str, sets: Sequence[str], layers: Sequence[Path], max_points: int = MAX_POINTS) -> Plan:
    """:func:`validate`'s checks, keeping what they read: pass the plan to ``arch_sweep(plan=...)`` so
    that a caller that validates first (the CLI, before its progress bar) does not validate twice."""
    files = arch_files(arch)
    arch_yaml = next((f for f in files if f.name == "arch.yaml"), None)
    if arch_yaml is None:
        raise ConfigError("the architecture has no arch.yaml", file=Path(arch), key_path="ARCH",
                          fix="pass a built-in name (`sparse-hw arch list`) or a folder with arch.yaml")
    axes = resolve_axes(arch_yaml, sets, max_points)
    return Plan(_given(arch, sets, layers), axes, files, _layer_inputs(layers))


def _given(arch: str, sets: Sequence[str], layers: Sequence[Path]) -> tuple:
    return str(arch), tuple(sets), tuple(str(Path(x)) for x in layers)


def arch_sweep(
    arch: str,
    sets: Sequence[str],
    layers: Sequence[Path],
    *,
    out: Path,
    cache: Path | None = None,
    workers: int = 1,
    engine: str = "local",
    scheduler: str | None = None,
    seed: int = 0,
    budget_s: float | None = None,
    max_exact: int | None = None,
    metrics: Sequence[str] | None = None,
    pad: bool = True,
    warm: bool = True,
    force: bool = False,
    plan: Plan | None = None,
    progress: Callable[[Any, int], None] | None = None,
    log: Callable[[str], None] = lambda m: None,
    max_points: int = MAX_POINTS,
) -> Path:
    """Run the grid of ``sets`` on ``arch`` over ``layers``; write sweep.csv, layers.csv, pareto.png.

    ``warm``: map each layer first at the *anchor* points (every attribute axis at its first value, one
    per combination of fan-out values), then at the others with the anchors' best mappings of that
    layer as seeds (`Mapper.run`): never a worse mapping than a cold search with the same settings;
    uncapped, a faster search (the seed's bound prunes more), capped, a better mapping for the same work.
    Seeds depend on the grid only, never on timing: results stay deterministic.
    ``max_exact`` caps each search's exact evaluations (deterministic, unlike ``budget_s``); ``max_points``
    bounds the grid (`resolve_axes`)."""
    with out_lock(out):  # for the whole stage, as simulate's _owns_out: a second sweep is refused at once
        return _arch_sweep(arch, sets, layers, out=out, cache=cache, workers=workers, engine=engine,
                           scheduler=scheduler, seed=seed, budget_s=budget_s, max_exact=max_exact,
                           metrics=metrics, pad=pad, warm=warm, force=force, plan=plan, progress=progress,
                           log=log, max_points=max_points)


def _arch_sweep(arch, sets, layers, *, out, cache, workers, engine, scheduler, seed, budget_s, max_exact, metrics,
                pad, warm, force, plan, progress, log, max_points) -> Path:
    import pandas as pd

    from .mapper.search import resolve_jobs
    from .pipeline import _cache_path, _check_cache_outside
    from .sweep import LayerJob, job_settings, jobs_table

    if plan is None or plan.given != _given(arch, sets, layers):
        plan = prepare(arch, sets, layers, max_points)
    axes, files, layer_list = plan.axes, plan.files, plan.layers
    root = next(f for f in files if f.name == "arch.yaml").parent
    cache_path = _cache_path(out, cache)
    inputs = [*(Path(x) for x in layers), cache_path, root]
    check_out_dir(out, inputs=inputs, force=force)
    _check_cache_outside(cache_path, [Path(x) for x in layers])
    grid = list(itertools.product(*(a.values for a in axes)))
    reest = sorted({c for a in axes for c in a.reestimate})
    if reest:
        log(f"re-estimated at every point with sparse-hw's estimator (recorded ERT/ART entries dropped): "
            f"{', '.join(reest)}")
    settings = job_settings(seed=seed, budget_s=budget_s, max_exact=max_exact or None,
                            metrics=tuple(metrics) if metrics else None, pad=pad)
    arch_label = Path(arch).name if Path(arch).is_dir() else arch
    started = time.time()
    workers = resolve_jobs(workers)
    from .sweep import check_scheduler

    check_scheduler(scheduler)
    from .mapper.options import check_search_options

    check_search_options(budget_s=budget_s, metrics=metrics, seed=seed)
    with atomic_dir(out, force=force, inputs=inputs) as tmp:
        points, jobs, owners = [], [], []
        texts: dict[Path, str] = {}
        anchors = _anchors(axes, grid) if warm else set(range(len(grid)))
        for i, values in enumerate(grid):
            pid = f"p{i:03d}"
            pfiles = write_point(files, root, tmp / "points" / pid, axes, values, texts)
            reason = _precheck(pfiles)
            points.append({"point": pid, "values": values, "reason": reason})
            if reason is None:
                mine = settings + (("keep_best", True),) if warm and i in anchors else settings
                for lay in layer_list:
                    jobs.append(LayerJob(arch=f"{arch_label}@{pid}", arch_files=tuple(map(str, pfiles)),
                                         backend="builtin", settings=mine, **lay))
                    owners.append(i)
        results = _run_waves(jobs, [o in anchors for o in owners], cache_path, workers=workers, engine=engine,
                             scheduler=scheduler, progress=progress)
        rows, layer_rows = _tables(axes, points, layer_list, results, owners, reest)
        columns = ["point", *(a.path for a in axes), "status", "energy_pj", "cycles", "area_um2", "edp_pj_cycles",
                   "pareto", "layers", "reestimated", "reason"]
        atomic_write(tmp / "sweep.csv", pd.DataFrame(rows, columns=columns).to_csv(index=False))
        atomic_write(tmp / "layers.csv", pd.DataFrame(layer_rows).to_csv(index=False))
        atomic_write(tmp / "timings.csv", pd.DataFrame(jobs_table(results)).to_csv(index=False))
        sets_text = ", ".join(f"{a.path}={','.join(a.values)}" for a in axes)
        atomic_write(tmp / "pareto.png", plot_pareto(rows, f"{arch_label}: {sets_text}"))
        manifest = RunManifest(stage="sweep", seeds={"mapper": seed}, settings={
            "arch": arch, "sets": {a.path: list(a.values) for a in axes},
            "resolved": {a.path: f"{a.node}.{a.section}.{a.attr}" for a in axes},
            "reestimated": reest, "points": len(grid), "layers": len(layer_list), "jobs": len(jobs),
            "cache_hits": sum(r.cached for r in results), "backend": "builtin", "engine": engine,
            "workers": workers, "budget_s": budget_s, "max_exact": max_exact, "warm_start": warm,
            "metrics": list(metrics or []), "pad": pad,
            "cache": str(cache_path),
        })
        for f in files:
            manifest.add_input(f)
        for lay in layer_list:
            manifest.add_input(lay["problem_file"])
        manifest.started = started
        manifest.outputs = ["sweep.csv", "layers.csv", "timings.csv", "pareto.png", "points/"]
        manifest.finish().write(tmp)
    return Path(out)


def _anchors(axes: Sequence[Axis], grid: Sequence[tuple[str, ...]]) -> set[int]:
    """Grid points mapped cold: every attribute axis at its first value (one per fan-out combination)."""
    attr = [k for k, a in enumerate(axes) if a.section != "spatial"]
    return {i for i, values in enumerate(grid) if all(values[k] == axes[k].values[0] for k in attr)}


def _run_waves(jobs: list, anchor: list[bool], cache_path: Path, *, workers: int, engine: str,
               scheduler: str | None, progress) -> list:
    """Run the anchor points' jobs, then the others seeded with the anchors' best mapping of their layer.

    The seeds of a job are the anchors' results for the same layer file, in anchor order: a function
    of the grid, not of which job finished first, so any engine and worker count give the same CSV."""
    import dataclasses
    import json

    from .sweep import ResultCache, run_sweep

    store = ResultCache(cache_path)
    report = (lambda r: progress(r, len(jobs))) if progress else None
    try:
        first = [i for i, a in enumerate(anchor) if a]
        done = dict(zip(first, run_sweep([jobs[i] for i in first], cache=store, workers=workers, engine=engine,
                                         scheduler=scheduler, progress=report)))
        seeds: dict[str, list] = {}
        for i in first:
            best = done[i].payload.get("best_mapping")
            if best:
                seeds.setdefault(jobs[i].problem_file, []).append(best)
        rest = [i for i, a in enumerate(anchor) if not a]
        later = []
        for i in rest:
            mine = seeds.get(jobs[i].problem_file)
            extra = (("warm_start", json.dumps(mine, sort_keys=True)),) if mine else ()
            later.append(dataclasses.replace(jobs[i], settings=jobs[i].settings + extra))
        done.update(zip(rest, run_sweep(later, cache=store, workers=workers, engine=engine, scheduler=scheduler,
                                        progress=report)))
    finally:
        store.close()
    return [done[i] for i in range(len(jobs))]


def _tables(axes, points, layer_list, results, owners, reest) -> tuple[list[dict], list[dict]]:
    """One row per point (totals over layers) and one per (point, layer)."""
    from .model.result import Evaluation

    per_point: dict[int, list] = {}
    for res, owner in zip(results, owners):
        per_point.setdefault(owner, []).append(res)
    rows, layer_rows = [], []
    for i, p in enumerate(points):
        row: dict[str, Any] = {"point": p["point"], **{a.path: v for a, v in zip(axes, p["values"])}}
        row.update(energy_pj=None, cycles=None, area_um2=None, edp_pj_cycles=None, pareto=False,
                   layers=len(layer_list), reestimated=" ".join(reest))
        if p["reason"] is not None:
            row.update(status="error", reason=p["reason"])
            rows.append(row)
            continue
        failed = [r for r in per_point.get(i, []) if r.error]
        energy = cycles = 0.0
        area = None
        for r in per_point.get(i, []):
            lrow = {"point": p["point"], "model": r.job.model, "checkpoint": r.job.checkpoint, "layer": r.job.layer,
                    "order": r.job.order}
            if r.error:
                lrow.update(status="infeasible", energy_pj=None, cycles=None, reason=_one_line(r.error))
            else:
                ev = Evaluation.from_json(r.payload["evaluation"])
                energy += ev.energy_pj
                cycles += ev.cycles
                area = ev.area_um2 if area is None else area
                lrow.update(status="ok", energy_pj=ev.energy_pj, cycles=ev.cycles, reason="")
            layer_rows.append(lrow)
        if failed:
            first = failed[0]
            row.update(status="infeasible", area_um2=area,
                       reason=f"{len(failed)} of {len(layer_list)} layers do not map; "
                              f"{first.job.layer}: {_one_line(first.error)}")
        else:
            row.update(status="ok", energy_pj=energy, cycles=cycles, area_um2=area, edp_pj_cycles=energy * cycles,
                       reason="")
        rows.append(row)
    ok = [r for r in rows if r["status"] == "ok"]
    for r, flag in zip(ok, pareto_mask([r["energy_pj"] for r in ok], [r["cycles"] for r in ok])):
        r["pareto"] = flag
    return rows, layer_rows
