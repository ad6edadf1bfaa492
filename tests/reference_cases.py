"""Access to the recorded Timeloop/Sparseloop reference runs (../shared/reference/timeloop)."""

from __future__ import annotations

import functools
import shlex
from pathlib import Path

import pandas as pd

REFERENCE = Path(__file__).resolve().parent.parent.parent / "shared" / "reference" / "timeloop"


@functools.lru_cache(maxsize=1)
def results() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "results.csv")


@functools.lru_cache(maxsize=1)
def levels() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "results_levels.csv")


def case_ids(mode: str) -> list[str]:
    df = results()
    return df.loc[df["mode"] == mode, "case_id"].tolist()


def input_files(case_id: str) -> list[Path]:
    """The case's input files in the order of its recorded command (how Timeloop read them)."""
    row = results().set_index("case_id").loc[case_id]
    case_dir = REFERENCE / row["case_dir"]
    args = shlex.split(row["command"])[1:]
    files = []
    for a in args:
        if a == "-o":
            break
        if a.endswith(".yaml"):
            files.append(case_dir / a)
    return files


def copy_inputs(case_id: str, dest: Path) -> list[Path]:
    """The case's input files copied into ``dest`` (made if missing), in `input_files` order: a test edits
    or writes next to the copies, never the reference."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(f, dest / f.name)) for f in input_files(case_id)]


def best_mapping_file(case_id: str) -> Path:
    return REFERENCE / results().set_index("case_id").loc[case_id, "case_dir"] / "outputs" / "timeloop-mapper.map.yaml"
