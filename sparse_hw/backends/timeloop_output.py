"""Turn a folder of Timeloop outputs into an :class:`Evaluation` (the parsers' one entry point).

``timeloop-model`` / ``timeloop-mapper`` write ``<prefix>.stats.txt``, ``<prefix>.map.txt`` and, for the
mapper, ``<prefix>.map.yaml`` (the best mapping); the prefix is ``timeloop-model`` / ``timeloop-mapper``
unless the mapper settings say ``out_prefix`` (NVlabs/timeloop v3.0.3,
``src/applications/mapper/mapper.cpp``). The parsers themselves live in :mod:`.timeloop_stats`,
:mod:`.timeloop_map` and :mod:`.timeloop_tables`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BackendError
from ..model.result import Evaluation
from .timeloop_map import (
    Loop,
    MapLevel,
    loop_bounds,
    mapping_bounds,
    normalize_mapping,
    parse_factors,
    parse_map_txt,
    parse_map_yaml,
)
from .timeloop_stats import (
    COMPUTE_DATASPACE,
    NO_DATA_DATASPACE,
    TimeloopStats,
    parse_stats_file,
    parse_stats_text,
)
from .timeloop_tables import art_total_um2, component_name, parse_art, parse_ert, path_instances

__all__ = [
    "COMPUTE_DATASPACE",
    "NO_DATA_DATASPACE",
    "Loop",
    "MapLevel",
    "OutputFiles",
    "TimeloopStats",
    "art_total_um2",
    "component_name",
    "find_outputs",
    "loop_bounds",
    "mapping_bounds",
    "normalize_mapping",
    "parse_art",
    "parse_ert",
    "parse_factors",
    "parse_map_txt",
    "parse_map_yaml",
    "parse_stats_file",
    "parse_stats_text",
    "path_instances",
    "read_outputs",
]

_DEFAULT_PREFIXES = ("timeloop-mapper", "timeloop-model")


@dataclass(frozen=True)
class OutputFiles:
    """The files of one Timeloop run in an output folder (``None`` where not written)."""

    prefix: str
    stats: Path
    map_txt: Path | None
    map_yaml: Path | None
    log: Path | None


def find_outputs(folder: str | Path, *, prefix: str | None = None) -> OutputFiles:
    """Locate ``<prefix>.stats.txt`` and its siblings (no prefix: the mapper's, the model's or the only one)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BackendError("Timeloop output folder not found", file=folder, fix="check the path")
    if prefix is None:
        for candidate in _DEFAULT_PREFIXES:
            if (folder / f"{candidate}.stats.txt").is_file():
                prefix = candidate
                break
        else:
            found = sorted(folder.glob("*.stats.txt"))
            if len(found) != 1:
                listed = ", ".join(p.name for p in found) or "none"
                raise BackendError(
                    f"expected one Timeloop *.stats.txt in the folder, found {listed}",
                    file=folder,
                    fix="name the run with prefix= (the mapper's out_prefix) or clean the folder",
                )
            prefix = found[0].name[: -len(".stats.txt")]
    stats = folder / f"{prefix}.stats.txt"
    if not stats.is_file():
        raise BackendError(
            f"{stats.name} not found: Timeloop wrote no statistics",
            file=folder,
            fix="check the run's log; a mapper that found no valid mapping writes no stats file",
        )

    def optional(suffix: str) -> Path | None:
        p = folder / f"{prefix}{suffix}"
        return p if p.is_file() else None

    return OutputFiles(prefix, stats, optional(".map.txt"), optional(".map.yaml"), optional(".log"))


def read_outputs(
    folder: str | Path, *, prefix: str | None = None, mapping: dict[str, Any] | None = None
) -> Evaluation:
    """Parse one run's outputs into an Evaluation.

    Args:
        folder: the folder given to Timeloop with ``-o``.
        prefix: the file prefix; found automatically when there is one run in the folder.
        mapping: the mapping to attach when the run wrote no ``*.map.yaml`` (timeloop-model evaluates the
            mapping it was given); a ``*.map.yaml`` in the folder takes precedence.
    """
    files = find_outputs(folder, prefix=prefix)
    stats = parse_stats_file(files.stats)
    if files.map_yaml is not None:
        mapping = parse_map_yaml(files.map_yaml)
    evaluation = stats.to_evaluation(mapping=mapping)
    if files.map_txt is not None:
        nest = parse_map_txt(files.map_txt)
        evaluation.notes.append(
            "loop nest: "
            + " | ".join(
                f"{lv.name}: "
                + " ".join(f"{lp.dim}{lp.bound}{lp.spatial or ''}" for lp in lv.loops if lp.bound > 1)
                for lv in nest
            )
        )
    return evaluation
