"""Read and check the report's inputs: simulate folders and the extract folders beside them.

A simulate folder holds ``results.csv`` (one row per model, checkpoint, arch, layer), ``breakdown.csv``
(long) and ``manifest.json``. The nonzero-weight histograms (``weight_hist.csv``) live in extract
folders; they are found in the folders given explicitly, in the simulate folder, in the folders its
manifest names, and beside the simulate folder (siblings and their children).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, ProblemCollector
from ..table_checks import check_numbers, check_results, check_weight_hist
from . import columns as col

RESULTS_FILE = "results.csv"
BREAKDOWN_FILE = "breakdown.csv"
MANIFEST_FILE = "manifest.json"
WEIGHT_HIST_FILE = "weight_hist.csv"
LAYERS_FILE = "layers.csv"
#: Written by simulate beside results.csv when some layers have no Timeloop form (issue 14): model,
#: checkpoint, layer, order, op, reason.
SKIPPED_FILE = "skipped.csv"
SKIPPED_COLUMNS = ("model", "checkpoint", "layer", "order", "op", "reason")
#: At most this many sibling (and child) folders are looked at when searching for extract folders.
_MAX_NEIGHBOURS = 200


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report is computed from, checked and with every optional column present."""

    results: pd.DataFrame
    breakdown: pd.DataFrame
    weight_hist: pd.DataFrame
    files: tuple[Path, ...]
    notes: tuple[str, ...]
    skipped: pd.DataFrame | None = None
    """The layers simulate skipped (:data:`SKIPPED_COLUMNS`), None when none was."""


def read_table(
    path: Path, problems: ProblemCollector, required: Sequence[str], *, allow_empty: bool = False
) -> pd.DataFrame | None:
    """Read one CSV with text columns as text; a problem (not an exception) when it is unusable."""
    try:
        head = pd.read_csv(path, nrows=0)
    except FileNotFoundError:
        problems.add("file not found", file=path, fix="check the path")
        return None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        problems.add(f"not a readable CSV file ({exc})", file=path, fix="regenerate it with sparse-hw")
        return None
    dtypes = {c: "string" for c in head.columns if c in col.TEXT_COLUMNS}
    try:
        # only an empty cell is missing: pandas' default NA words ("nan", "NA", "null", ...) would turn a
        # `nan` typed into a number cell into a blank one, shown as "-" instead of refused (`_coerce_numeric`)
        df = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, ValueError) as exc:
        problems.add(f"not a readable CSV file ({exc})", file=path, fix="regenerate it with sparse-hw")
        return None
    missing = [c for c in required if c not in df.columns]
    if missing:
        problems.add(
            f"missing column(s) {', '.join(missing)}",
            file=path,
            key_path="columns",
            fix=f"write a table with at least the columns {', '.join(required)}",
        )
        return None
    if df.empty and not allow_empty:
        problems.add("the table has no rows", file=path, fix="re-run the stage that writes it")
        return None
    return df


def _coerce_numeric(df: pd.DataFrame, columns: Iterable[str], path: Path, problems: ProblemCollector) -> None:
    for c in columns:
        if c not in df.columns or pd.api.types.is_numeric_dtype(df[c]):
            continue
        numbers = pd.to_numeric(df[c], errors="coerce")
        bad = df[c].notna() & numbers.isna()
        if bad.any():
            rows = [int(i) + 2 for i in np.flatnonzero(bad.to_numpy())[:5]]  # +2: header and 1-based lines
            problems.add(
                f"column {c} holds non-numeric values ({df[c][bad].iloc[0]!r}) on line(s) {rows}",
                file=path,
                key_path=c,
                fix=f"write numbers in {c} (in {col.UNITS.get(c, 'its unit')})",
            )
        df[c] = numbers


_NUMERIC_RESULT_COLUMNS = tuple(
    c for c in (*col.LAYER_COLUMNS, *col.RESULT_COLUMNS) if c not in col.TEXT_COLUMNS
)


def _complete_results(df: pd.DataFrame) -> list[str]:
    """Add the optional columns a results.csv lacks; return which ones were missing."""
    missing = [c for c in (*col.LAYER_COLUMNS, *col.RESULT_COLUMNS) if c not in df.columns]
    for c in missing:
        if c in ("arch_exploits", "backend"):
            df[c] = pd.Series(["unknown"] * len(df), dtype="string", index=df.index)
        elif c in col.TEXT_COLUMNS:
            df[c] = pd.Series([pd.NA] * len(df), dtype="string", index=df.index)
        elif c == "order":
            df[c] = df.groupby(["model", "checkpoint"], sort=False).cumcount()
        else:
            df[c] = np.nan
    for c in ("arch_exploits", "backend"):
        df[c] = df[c].fillna("unknown")
    return missing


def _read_manifest(folder: Path, notes: list[str]) -> dict[str, Any]:
    path = folder / MANIFEST_FILE
    if not path.is_file():
        notes.append(f"{folder}: no {MANIFEST_FILE} (provenance of these results unknown)")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        notes.append(f"{path}: unreadable ({exc}); provenance unknown")
        return {}
    return data if isinstance(data, dict) else {}


def _manifest_dirs(manifest: dict[str, Any]) -> list[Path]:
    """Extract folders a simulate manifest names (settings lists, or parents of its layers files)."""
    out: list[Path] = []
    settings = manifest.get("settings") or {}
    for key in ("extract_dirs", "inputs", "dirs"):
        value = settings.get(key) if isinstance(settings, dict) else None
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            out += [Path(v) for v in value if isinstance(v, str)]
    for path in manifest.get("inputs") or {}:
        p = Path(path)
        if p.name in (LAYERS_FILE, "layers.json", WEIGHT_HIST_FILE):
            out.append(p.parent)
    return out


def _extract_identity(folder: Path) -> set[tuple[str, str]]:
    """(model, checkpoint) pairs an extract folder's layers.csv describes."""
    path = folder / LAYERS_FILE
    if not path.is_file():
        return set()
    try:
        df = pd.read_csv(path, usecols=["model", "checkpoint"], dtype="string")
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return set()
    return {(str(m), str(c)) for m, c in df.dropna().drop_duplicates().itertuples(index=False)}


def _candidate_extract_dirs(sim_dirs: Sequence[Path], manifests: Sequence[dict], explicit: Sequence[Path]):
    seen: set[Path] = set()
    ordered: list[Path] = []

    def add(p: Path) -> None:
        try:
            key = p.resolve()
        except OSError:
            return
        if key not in seen and p.is_dir():
            seen.add(key)
            ordered.append(p)

    for p in explicit:
        add(Path(p))
    for sim, manifest in zip(sim_dirs, manifests, strict=True):
        add(sim)
        for p in _manifest_dirs(manifest):
            add(p)  # absolute, or relative to where the pipeline ran
            if not p.is_absolute():
                add(sim / p)
        parent = sim.resolve().parent
        siblings = sorted(p for p in parent.iterdir() if p.is_dir())
        for sibling in siblings[:_MAX_NEIGHBOURS]:
            add(sibling)
            children = sorted(p for p in sibling.iterdir() if p.is_dir())
            for child in children[:_MAX_NEIGHBOURS]:
                add(child)
    return ordered


def _weight_hists(
    candidates: Sequence[Path], wanted: set[tuple[str, str]], problems: ProblemCollector, files: list[Path]
) -> pd.DataFrame:
    frames = []
    found: set[tuple[str, str]] = set()
    for folder in candidates:
        path = folder / WEIGHT_HIST_FILE
        if not path.is_file():
            continue
        ids = _extract_identity(folder) & wanted
        hist = read_table(path, problems, ("layer", "bin_lo", "bin_hi", "count"))
        if hist is None:
            continue
        before = len(problems.problems)
        _coerce_numeric(hist, ("bin_lo", "bin_hi", "count"), path, problems)
        if len(problems.problems) == before:
            check_weight_hist(hist, path, problems)
        if {"model", "checkpoint"} <= set(hist.columns):
            hist = hist[[(m, c) in wanted for m, c in zip(hist["model"], hist["checkpoint"], strict=True)]]
        elif len(ids) == 1:
            model, ckpt = next(iter(ids))
            hist = hist.assign(model=model, checkpoint=ckpt)
        else:
            continue
        keys = {(str(m), str(c)) for m, c in zip(hist["model"], hist["checkpoint"], strict=True)}
        if not keys or keys & found:
            continue
        found |= keys
        files.append(path)
        frames.append(hist[list(col.WEIGHT_HIST_COLUMNS)])
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in col.WEIGHT_HIST_COLUMNS})
    return pd.concat(frames, ignore_index=True)


def load_inputs(dirs: Sequence[str | Path], *, extract_dirs: Sequence[str | Path] = ()) -> ReportInputs:
    """Read every simulate folder, check it, and find the weight histograms of its checkpoints.

    Raises:
        DataError: listing every unusable folder or table at once.
    """
    problems = ProblemCollector()
    notes: list[str] = []
    files: list[Path] = []
    results, breakdowns, manifests, sim_dirs, skipped = [], [], [], [], []
    if not dirs:
        raise DataError(
            "no simulate folder given", fix="pass one or more folders written by `sparse-hw simulate`"
        )
    for d in dirs:
        folder = Path(d)
        if not folder.is_dir():
            problems.add("folder not found", file=folder, fix="pass a folder written by `sparse-hw simulate`")
            continue
        res_path = folder / RESULTS_FILE
        if not res_path.is_file():
            problems.add(
                f"no {RESULTS_FILE} in this folder: it is not a simulate output",
                file=folder,
                fix="pass folders written by `sparse-hw simulate` (they hold results.csv and breakdown.csv)",
            )
            continue
        df = read_table(res_path, problems, col.REQUIRED_RESULT_COLUMNS)
        if df is None:
            continue
        missing = _complete_results(df)
        if missing:
            notes.append(f"{res_path}: columns not present, left empty: {', '.join(missing)}")
        before = len(problems.problems)
        _coerce_numeric(df, _NUMERIC_RESULT_COLUMNS, res_path, problems)
        if len(problems.problems) == before:
            check_results(df, res_path, problems)  # a negative or infinite energy must not be summed
        blank = [c for c in ("model", "checkpoint", "layer", "arch") if df[c].isna().any()]
        if blank:
            problems.add(
                f"empty values in key column(s) {', '.join(blank)}",
                file=res_path,
                key_path=blank[0],
                fix="every row needs a model, checkpoint, layer and arch",
            )
        df["_source"] = str(res_path)
        results.append(df)
        files.append(res_path)
        sim_dirs.append(folder)
        manifests.append(_read_manifest(folder, notes))
        if (folder / MANIFEST_FILE).is_file():
            files.append(folder / MANIFEST_FILE)
        if (folder / SKIPPED_FILE).is_file():
            sk = read_table(folder / SKIPPED_FILE, problems, SKIPPED_COLUMNS)
            if sk is not None:
                skipped.append(sk[list(SKIPPED_COLUMNS)].astype({"model": "string", "checkpoint": "string",
                                                                 "layer": "string", "reason": "string"}))
                files.append(folder / SKIPPED_FILE)
        bd_path = folder / BREAKDOWN_FILE
        if bd_path.is_file():
            bd = read_table(bd_path, problems, col.REQUIRED_BREAKDOWN_COLUMNS)
            if bd is not None:
                before = len(problems.problems)
                _coerce_numeric(bd, ("value", "order"), bd_path, problems)
                if len(problems.problems) == before:  # an infinite breakdown value would become a figure
                    check_numbers(bd, bd_path, problems, "value", low=-np.inf, high=np.inf, required=False,
                                  fix="re-run `sparse-hw simulate`, or undo the edit")
                for c in ("tensor", "action", "backend"):
                    if c not in bd.columns:
                        bd[c] = pd.Series([pd.NA] * len(bd), dtype="string", index=bd.index)
                bd["_source"] = str(res_path)
                breakdowns.append(bd)
                files.append(bd_path)
        else:
            notes.append(
                f"{folder}: no {BREAKDOWN_FILE}; the energy breakdown figure leaves these results out"
            )
    for d in extract_dirs:  # a folder the user names is read, or refused; never skipped in silence
        if not Path(d).is_dir():
            problems.add("folder not found" if not Path(d).exists() else "is not a folder", file=d,
                         key_path="--extract", fix="pass a folder written by `sparse-hw extract` (it holds "
                         f"{WEIGHT_HIST_FILE}), or leave --extract out")
        elif not (Path(d) / WEIGHT_HIST_FILE).is_file():  # e.g. the simulate folder given twice: only a note
            problems.add(f"no {WEIGHT_HIST_FILE} in this folder: it is not an extract output", file=d,
                         key_path="--extract", fix="pass a folder written by `sparse-hw extract` (it holds "
                         f"{WEIGHT_HIST_FILE}), or leave --extract out")
    problems.raise_if_any(DataError)

    all_results = pd.concat(results, ignore_index=True)
    key = [*col.GROUP_KEYS, "layer"]
    dup = all_results.duplicated(key, keep=False)
    if dup.any():
        rows = all_results[dup].sort_values(key)
        first = rows.iloc[0]
        sources = sorted(set(rows["_source"]))
        raise DataError(
            f"{int(dup.sum())} rows repeat the same (model, checkpoint, arch, backend, layer), e.g. "
            f"{first['model']}/{first['checkpoint']}/{first['arch']}/{first['layer']}: summing them would "
            "count those layers twice",
            file=", ".join(sources),
            key_path="model,checkpoint,arch,backend,layer",
            fix="pass each simulate folder once, or remove the repeated rows",
        )
    breakdown = (
        pd.concat(breakdowns, ignore_index=True)
        if breakdowns
        else pd.DataFrame({c: pd.Series(dtype="string") for c in col.BREAKDOWN_COLUMNS})
    )
    wanted = {
        (str(m), str(c))
        for m, c in all_results[["model", "checkpoint"]].drop_duplicates().itertuples(index=False)
    }
    candidates = _candidate_extract_dirs(sim_dirs, manifests, [Path(p) for p in extract_dirs])
    hist = _weight_hists(candidates, wanted, problems, files)
    problems.raise_if_any(DataError)
    have = {
        (str(m), str(c)) for m, c in hist[["model", "checkpoint"]].drop_duplicates().itertuples(index=False)
    }
    if wanted - have:
        lacking = ", ".join(f"{m}/{c}" for m, c in sorted(wanted - have))
        notes.append(f"no {WEIGHT_HIST_FILE} found for {lacking} (pass their extract folders with --extract)")
    return ReportInputs(
        results=all_results,
        breakdown=breakdown,
        weight_hist=hist,
        files=tuple(files),
        notes=tuple(notes),
        skipped=pd.concat(skipped, ignore_index=True) if skipped else None,
    )
