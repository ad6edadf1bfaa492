"""Row-by-row checks of the tables one stage writes and the next reads (``layers.csv``, ``results.csv``).

Those files are plain CSV that users open and edit; an edited density of 1.7, a negative dimension or an
infinite energy used to flow on into results and sums with exit 0 (issue 15, item 4). Every value a later
stage relies on is checked here, and each problem names the file, the line, the layer and the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError, ProblemCollector
from .names import LAYER_TABLE_COLUMNS

#: Dimensions and geometry: whole numbers of at least 1.
LAYER_POSITIVE_INTS = (
    "N", "C", "M", "R", "S", "P", "Q", "G", "stride_h", "stride_w", "dilation_h", "dilation_w",
)  # fmt: skip
#: Counts: whole numbers of at least 0.
LAYER_COUNTS = ("order", "macs", "params", "nnz")
#: Fractions in [0, 1].
DENSITIES = ("weight_density", "input_density", "output_density")
#: Fractions in [0, 1] of columns that layers.csv files of older versions lack (checked when present):
#: ``input_density_padded`` is the Inputs density the problem states (padding border included).
LAYER_OPTIONAL_DENSITIES = ("input_density_padded",)
#: The largest dimension or count accepted (a 10^29 dimension is an edit, not a layer).
MAX_INT = 2**62
#: Problems listed before the rest are summarized.
_MAX_LISTED = 10


def _line(i: int) -> int:
    return int(i) + 2  # the header is line 1, rows are 1-based


def _row_name(df: pd.DataFrame, i: int) -> str:
    layer = df["layer"].iloc[i] if "layer" in df.columns else None
    return f"line {_line(df.index[i])}" + (f" (layer {layer})" if isinstance(layer, str) and layer else "")


def read_csv_table(path: Path, required: Sequence[str], *, text: Sequence[str] = (),
                   numbers: Sequence[str] = (), what: str, fix: str) -> pd.DataFrame:
    """Read a CSV that must have the ``required`` columns and at least one row. In the ``numbers`` columns
    only an empty cell is missing: pandas' NA words (``nan``, ``NA``, ``null``) stay text, so that
    `check_numbers` refuses them instead of reading them as blanks (an optional density of ``nan`` was
    dropped in silence).

    Raises:
        DataError: unreadable, empty, or missing a column (all of them named).
    """
    from pandas.io.parsers.readers import STR_NA_VALUES

    try:
        head = pd.read_csv(path, nrows=0)
        dtypes = {c: "string" for c in head.columns if c in text}
        na = {c: [""] if c in numbers else sorted(STR_NA_VALUES) for c in head.columns}
        df = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=na)
    except pd.errors.EmptyDataError:
        raise DataError(f"the {what} is empty", file=path, fix=fix) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"not a readable CSV {what}: {exc}", file=path, fix=fix) from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", file=path, key_path=missing[0], fix=fix)
    if df.empty:
        raise DataError(f"the {what} has no rows", file=path, fix=fix)
    return df


def check_numbers(df: pd.DataFrame, path: Path, problems: ProblemCollector, column: str, *, low: float,
                  high: float, integer: bool = False, required: bool = True, fix: str) -> None:
    """Add a problem for the first rows of ``column`` that are not numbers in ``[low, high]``.

    Blank cells are problems only when ``required``. The column is converted to numbers in place.
    """
    if column not in df.columns:
        return
    raw = df[column]
    numbers = pd.to_numeric(raw, errors="coerce").astype("float64")
    values = numbers.to_numpy()
    blank = raw.isna().to_numpy()
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values < low) | (values > high)
        if integer:
            bad |= np.isfinite(values) & (np.floor(values) != values)
    bad &= ~blank | required
    bad |= blank & required
    rows = np.flatnonzero(bad)
    what = ("a whole number" if integer else "a number") + (
        "" if low == -np.inf else f" of at least {low:g}" if high >= MAX_INT else f" between {low:g} and {high:g}")
    what = what.replace("a number", "a finite number") if low == -np.inf else what
    for i in rows[:_MAX_LISTED]:
        cell = raw.iloc[i]
        shown = "blank" if blank[i] else repr(cell.item() if hasattr(cell, "item") else cell)
        problems.add(f"{_row_name(df, i)}: {column} is {shown}, not {what}", file=path, key_path=column,
                     fix=fix)
    if len(rows) > _MAX_LISTED:
        problems.add(f"{len(rows) - _MAX_LISTED} more rows with a bad {column}", file=path, key_path=column,
                     fix=fix)
    df[column] = numbers


def read_layers_csv(path: Path) -> pd.DataFrame:
    """The modeled rows of an extract folder's ``layers.csv`` (see :func:`read_layer_table`)."""
    return read_layer_table(path)[0]


def read_layer_table(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An extract folder's ``layers.csv``, every row checked: the contract's columns present, dimensions
    positive whole numbers, counts non-negative, densities in [0, 1], layer orders unique.

    A row with ``modeled`` False (a layer without a Timeloop form, issue 14) needs only its identity and a
    reason; its numbers are blank. Returns (modeled rows, unmodeled rows).

    Raises:
        DataError: naming the file, each bad line and layer, and the column.
    """
    df = read_csv_table(path, LAYER_TABLE_COLUMNS, text=("model", "checkpoint", "layer", "reason"),
                        numbers=(*LAYER_POSITIVE_INTS, *LAYER_COUNTS, *DENSITIES, *LAYER_OPTIONAL_DENSITIES),
                        what="layers table", fix="re-run `sparse-hw extract` into this folder")
    fix = ("re-run `sparse-hw extract`, or undo the edit (dimensions are whole numbers >= 1, "
           "densities in [0, 1])")
    problems = ProblemCollector()
    for c in ("model", "checkpoint", "layer"):
        blank = np.flatnonzero(df[c].isna().to_numpy() | (df[c].fillna("").str.strip() == "").to_numpy())
        for i in blank[:_MAX_LISTED]:
            problems.add(f"{_row_name(df, i)}: {c} is blank", file=path, key_path=c, fix=fix)
    unmodeled = _unmodeled_rows(df, path, problems, fix)
    check_numbers(df, path, problems, "order", low=0, high=MAX_INT, integer=True, fix=fix)
    modeled = df.loc[~unmodeled].copy()  # the index keeps each row's line number for the messages
    for c in LAYER_POSITIVE_INTS:
        check_numbers(modeled, path, problems, c, low=1, high=MAX_INT, integer=True, fix=fix)
    for c in LAYER_COUNTS[1:]:  # order: checked on every row above
        check_numbers(modeled, path, problems, c, low=0, high=MAX_INT, integer=True, fix=fix)
    for c in DENSITIES:
        check_numbers(modeled, path, problems, c, low=0.0, high=1.0, fix=fix)
    for c in LAYER_OPTIONAL_DENSITIES:  # absent in older files: check_numbers skips a missing column
        check_numbers(modeled, path, problems, c, low=0.0, high=1.0, required=False, fix=fix)
    problems.raise_if_any(DataError)
    repeated = df["order"][df["order"].duplicated()]
    if len(repeated):
        raise DataError(f"layer order {int(repeated.iloc[0])} appears more than once", file=path,
                        key_path="order",
                        fix="every layer needs its own order number; re-run `sparse-hw extract`")
    names = df[["model", "checkpoint", "layer"]].astype(str)
    twice = np.flatnonzero(names.duplicated().to_numpy())
    if len(twice):  # results are keyed by layer name: the report would refuse to sum them later
        raise DataError(f"{_row_name(df, twice[0])}: layer {names['layer'].iloc[twice[0]]!r} of "
                        f"{names['model'].iloc[twice[0]]}/{names['checkpoint'].iloc[twice[0]]} appears more than once",
                        file=path, key_path="layer", fix="every layer needs its own name; re-run `sparse-hw extract`")
    for c in (*LAYER_POSITIVE_INTS, *LAYER_COUNTS):
        modeled[c] = modeled[c].astype("int64")
    if "reason" not in df.columns:  # a `modeled` column without its `reason` (an edited header) was a KeyError
        df["reason"] = pd.Series([pd.NA] * len(df), dtype="string", index=df.index)
    skipped = df.loc[unmodeled, ["model", "checkpoint", "layer", "order", "op", "reason"]].copy()
    skipped["order"] = skipped["order"].astype("int64")
    # a modeled row's status columns say nothing further: they stay out of results.csv
    modeled = modeled.drop(columns=["modeled", "reason"], errors="ignore")
    return modeled.reset_index(drop=True), skipped.reset_index(drop=True)


def _unmodeled_rows(df: pd.DataFrame, path: Path, problems: ProblemCollector, fix: str) -> np.ndarray:
    """Which rows say ``modeled`` False (none without the column); a value other than True/False, or an
    unmodeled row without a reason, is a problem."""
    if "modeled" not in df.columns:
        return np.zeros(len(df), dtype=bool)
    text = df["modeled"].astype("string").str.strip().str.lower()
    unmodeled = (text == "false").fillna(False).to_numpy(dtype=bool)
    bad = ~(text.isin(["true", "false"]).fillna(False).to_numpy(dtype=bool))
    for i in np.flatnonzero(bad)[:_MAX_LISTED]:
        problems.add(f"{_row_name(df, i)}: modeled is {df['modeled'].iloc[i]!r}, not True or False", file=path,
                     key_path="modeled", fix=fix)
    reason = df["reason"].fillna("").astype(str).str.strip() if "reason" in df.columns else pd.Series([""] * len(df))
    for i in np.flatnonzero(unmodeled & (reason == "").to_numpy())[:_MAX_LISTED]:
        problems.add(f"{_row_name(df, i)}: modeled is False but the reason is blank", file=path,
                     key_path="reason", fix=fix)
    return unmodeled


#: results.csv quantities that sums and ratios are taken of: finite and non-negative.
RESULT_QUANTITIES = (
    "energy_pj", "cycles", "area_um2", "macs", "params", "nnz",
    "algorithmic_computes", "actual_computes", "gated_computes", "skipped_computes", "mapper_seconds",
)  # fmt: skip
#: results.csv fractions.
RESULT_FRACTIONS = (*DENSITIES, "utilization", "target_sparsity", "accuracy")
#: Blank values are allowed in results.csv: the report leaves the totals they belong to empty, with a note.
RESULT_REQUIRED: tuple[str, ...] = ()


def check_results(df: pd.DataFrame, path: Path, problems: ProblemCollector) -> None:
    """Add a problem for every results.csv value that would make a sum or ratio meaningless: negative or
    infinite energies, cycles and counts, and fractions outside [0, 1] (blank cells stay blank)."""
    fix = "re-run `sparse-hw simulate`, or correct the value (energies, cycles and counts are >= 0)"
    for c in RESULT_QUANTITIES:
        high = np.inf if c in ("energy_pj", "area_um2") else MAX_INT
        check_numbers(df, path, problems, c, low=0.0, high=high, required=c in RESULT_REQUIRED, fix=fix)
    for c in RESULT_FRACTIONS:
        check_numbers(df, path, problems, c, low=0.0, high=1.0, required=False, fix=fix)


def check_weight_hist(df: pd.DataFrame, path: Path, problems: ProblemCollector) -> None:
    """weight_hist.csv: bin edges are finite magnitudes (>= 0), counts whole numbers >= 0."""
    fix = "re-run `sparse-hw extract`, or undo the edit"
    for c in ("bin_lo", "bin_hi"):
        check_numbers(df, path, problems, c, low=0.0, high=np.inf, fix=fix)
    check_numbers(df, path, problems, "count", low=0, high=MAX_INT, integer=True, fix=fix)


def check_checkpoint_facts(facts: dict, path: Path) -> None:
    """``layers.json``'s method, target sparsity and accuracy: text, and fractions in [0, 1] (or absent).

    Raises:
        DataError: naming the file and the key.
    """
    import math

    fix = "re-run `sparse-hw extract`, or undo the edit of layers.json"
    method = facts.get("method")
    if method is not None and not isinstance(method, str):
        raise DataError(f"method is {method!r}, not text", file=path, key_path="method", fix=fix)
    for key in ("target_sparsity", "accuracy"):
        value = facts.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0.0 <= value <= 1.0:
            raise DataError(f"{key} is {value!r}, not a fraction in [0, 1]", file=path, key_path=key, fix=fix)
