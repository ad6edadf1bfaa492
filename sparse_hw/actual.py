"""``simulate --density actual``: the statistical model's mapping, re-evaluated on the real masks.

The statistical density models (hypergeometric, fixed-structured) drive the search: they are fast
and the search needs only to rank mappings. The chosen mapping is then evaluated once more on the
masks ``extract --masks`` stored (the layer's real-data problem, ``masks/NNN_<layer>.yaml``), and
results.csv carries both, with how far the statistical numbers were from the actual ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ConfigError
from .io import sha256_bytes

DENSITIES = ("statistical", "actual")
#: layers.csv column naming each layer's mask file (relative to the extract folder; written by extract --masks)
MASK_COLUMN = "mask_file"
#: results.csv columns --density actual adds (relative errors: statistical / actual - 1)
ACTUAL_COLUMNS = ("cycles_statistical", "cycles_actual", "cycles_stat_error",
                  "energy_pj_statistical", "energy_pj_actual", "energy_stat_error")


def check_density(density: str, backend: str, layer_tables: dict[Path, Any]) -> None:
    """Refuse an unknown ``--density``, or ``actual`` without masks or on a backend that cannot read them."""
    if density not in DENSITIES:
        raise ConfigError(f"unknown density {density!r}", key_path="density",
                          fix="use --density statistical or --density actual")
    if density != "actual":
        return
    if backend != "builtin":
        raise ConfigError("--density actual needs the builtin backend (Timeloop v3.0.3 has no real-data "
                          "model)", key_path="density", fix="drop --backend timeloop, or use --density statistical")
    for folder, layers in layer_tables.items():
        if MASK_COLUMN not in layers.columns or layers[MASK_COLUMN].fillna("").eq("").any():
            raise ConfigError(
                "--density actual needs masks, and this extract folder has none for some layer",
                file=Path(folder) / "layers.csv", key_path=MASK_COLUMN,
                fix="re-run `sparse-hw extract --masks` into this folder",
            )


def actual_problem(folder: Path, mask_file: str) -> Path:
    """The real-data problem written beside a layer's masks."""
    path = (Path(folder) / str(mask_file)).with_suffix(".yaml")
    npz = Path(folder) / str(mask_file)
    for p in (npz, path):
        if not p.is_file():
            raise ConfigError(f"mask file {p} is missing", file=Path(folder) / "layers.csv",
                              key_path=MASK_COLUMN, fix="re-run `sparse-hw extract --masks` into this folder")
    return path.resolve()


def actual_settings(settings: tuple, folder: Path, row: Any) -> tuple:
    """A job's settings plus its real-data problem (part of the cache key, with the masks' hash)."""
    problem = actual_problem(folder, row[MASK_COLUMN])
    masks = sha256_bytes(problem.with_suffix(".npz").read_bytes()) + sha256_bytes(problem.read_bytes())
    extra = (("actual_problem", str(problem)), ("actual_masks", masks))
    return tuple(sorted((*settings, *extra), key=lambda kv: kv[0]))


def _error(stat: float, actual: float) -> float:
    return float(stat) / float(actual) - 1.0 if actual else float("nan")


def result_columns(statistical, actual) -> dict[str, float]:
    """The columns of one results.csv row: both evaluations of the same mapping, and the error."""
    return {
        "cycles_statistical": statistical.cycles,
        "cycles_actual": actual.cycles,
        "cycles_stat_error": _error(statistical.cycles, actual.cycles),
        "energy_pj_statistical": statistical.energy_pj,
        "energy_pj_actual": actual.energy_pj,
        "energy_stat_error": _error(statistical.energy_pj, actual.energy_pj),
    }


__all__ = ["ACTUAL_COLUMNS", "DENSITIES", "actual_settings", "check_density", "result_columns"]
