"""The Timeloop input files of a builtin run, loaded and validated into one spec (tables estimated).

Kept apart from `analytical` (numpy, the engine and the mapper) so that a command reads and validates its
inputs -- and reports a bad one -- before it imports the machinery that evaluates them (issue 15, item 14).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def load_files(files: Sequence[str | Path], jinja_data: dict[str, Any] | None = None):
    """Load and validate Timeloop input files as one merged spec (the spec layer); ``jinja_data`` are
    the variables for templates (``--jinja KEY=VALUE``, timeloopfe's ``jinja_parse_data``).

    A problem file that lacks dimension names the architecture uses is fitted to them (`fit_problem_files`).
    The files are first loaded as they are: when that succeeds and no problem needs fitting (`fits_as_is`:
    every design that names dimensions as Timeloop does), that spec is the result -- validated once
    instead of twice (the other files, then all of them), and no temporary folder made (issue 15, item 14)."""
    from ..errors import SparseHwError
    from ..spec import load_spec
    from ..spec.problem_shape import fit_problem_files, fits_as_is

    paths = [Path(f) for f in files]
    try:
        spec = load_spec(paths, jinja_data=jinja_data)
    except SparseHwError:
        spec = None  # perhaps fitting mends it; if not, the load below reports it
    if spec is None or not fits_as_is(paths, spec, jinja_data):
        import tempfile

        with tempfile.TemporaryDirectory(prefix="sparse-hw-fit-") as work:
            fitted = fit_problem_files(paths, Path(work), jinja_data)
            spec = load_spec(fitted, jinja_data=jinja_data)
    _fill_tables(spec)
    return spec


def _fill_tables(spec) -> None:
    """Estimate the ERT/ART entries the inputs lack (passed tables win per component); say so on stderr."""
    from ..spec.tables import uncovered_levels

    if not any(uncovered_levels(spec)):
        return  # nothing to estimate: the estimator (and numpy under it) need not be imported yet
    from ..estimate import fill_missing, notes_for

    if fill_missing(spec):
        for note in notes_for(spec):
            if note not in _SAID:  # once per process: a sweep loads the same architecture many times
                _SAID.add(note)
                logging.getLogger("sparse_hw.estimate").warning(note)


_SAID: set[str] = set()


def estimate_notes(spec) -> list[str]:
    """`sparse_hw.estimate.notes_for` (the notes `fill_missing` left on ``spec``) without importing the
    estimator when no estimate ran in this process: its notes only exist once it was imported."""
    import sys

    api = sys.modules.get("sparse_hw.estimate.api")
    return api.notes_for(spec) if api is not None else []
