"""Backends that turn (problem, architecture, mapping or mapspace) into an Evaluation.

``timeloop`` runs the real Timeloop binaries when they are on PATH and parses their outputs
(:mod:`.timeloop`, :mod:`.timeloop_output`); the builtin analytical engine lives in
:mod:`sparse_hw.model` and the mapper. Backends are chosen by name through :data:`BACKENDS`
(``--backend builtin|timeloop``, built on first use); each entry is a class with ``name``,
``model(files, *, workdir, timeout_s)`` and ``map(files, *, workdir, timeout_s)`` returning an Evaluation.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any

from ..registry import Registry

if TYPE_CHECKING:
    from .timeloop import BINARIES, MAPPER, MODEL, TimeloopBackend, timeloop_available
    from .timeloop_output import find_outputs, read_outputs

# Everything here is imported on first use: `from sparse_hw.backends.analytical import ...` (every builtin
# `model`/`map`) runs this file, and the Timeloop backend's modules cost ~10 ms of start-up that a
# builtin run never uses (issue 15, item 14).
_LAZY = {
    "BINARIES": ".timeloop",
    "MAPPER": ".timeloop",
    "MODEL": ".timeloop",
    "TimeloopBackend": ".timeloop",
    "timeloop_available": ".timeloop",
    "find_outputs": ".timeloop_output",
    "read_outputs": ".timeloop_output",
}
_lock = threading.Lock()


def _backends() -> Registry[type]:
    """Backend classes by name: ``timeloop`` and the builtin engine (``builtin``)."""
    from .analytical import BuiltinBackend
    from .timeloop import TimeloopBackend

    registry: Registry[type] = Registry("backend")
    registry.add(TimeloopBackend.name, TimeloopBackend)
    registry.add(BuiltinBackend.name, BuiltinBackend)
    return registry


def __getattr__(name: str) -> Any:
    if name == "BACKENDS":
        with _lock:  # one registry, even when two threads ask first
            value = globals().get("BACKENDS")
            if value is None:
                value = _backends()
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


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
