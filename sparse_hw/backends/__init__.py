"""Backends that turn (problem, architecture, mapping or mapspace) into an Evaluation.

``timeloop`` runs the real Timeloop binaries when they are on PATH and parses their outputs
(:mod:`.timeloop`, :mod:`.timeloop_output`); the builtin analytical engine lives in
:mod:`sparse_hw.model` and the mapper. Backends are chosen by name through :data:`BACKENDS`
(``--backend builtin|timeloop``); each entry is a class with ``name``, ``model(files, *, workdir,
timeout_s)`` and ``map(files, *, workdir, timeout_s)`` returning an Evaluation.
"""

from __future__ import annotations

from ..registry import Registry
from .timeloop import BINARIES, MAPPER, MODEL, TimeloopBackend, timeloop_available
from .timeloop_output import find_outputs, read_outputs

#: Backend classes by name; the builtin engine registers itself as "builtin".
BACKENDS: Registry[type] = Registry("backend")
BACKENDS.add(TimeloopBackend.name, TimeloopBackend)


def _register_builtin() -> None:
    from .analytical import BuiltinBackend

    BACKENDS.add(BuiltinBackend.name, BuiltinBackend)


_register_builtin()

__all__ = [
    "BACKENDS",
    "BINARIES",
    "MAPPER",
    "MODEL",
    "TimeloopBackend",
    "find_outputs",
    "read_outputs",
    "timeloop_available",
]
