"""Runs ``sparse-hw ARGS`` and ``kill -9``s it (SIGKILL to itself) at one chosen point of its work.

``python -m tests.reliability.kill_at POINT ARGS...``; POINT is one of

* ``call:MODULE:ATTR:N``: at the start of the Nth call of ``MODULE.ATTR`` (``ATTR`` may be ``Class.method``),
  i.e. in the middle of the computation (no output file exists yet);
* ``write:N``: when the Nth file of an atomic write is complete in its temporary but not yet renamed;
* ``half:N``: in the middle of the Nth atomic file write (half its bytes on disk);
* ``swap``: when the output folder is complete in its temporary, just before it replaces ``--out``.

A kill raised from inside the process hits a point exactly, where a timer from outside would hit
somewhere different on a loaded machine; the signal (and what it leaves) is the same as ``kill -9``.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _counted(n: int):
    state = {"calls": 0}

    def due() -> bool:
        state["calls"] += 1
        return state["calls"] == n

    return due


def _arm(point: str) -> None:
    kind, _, rest = point.partition(":")
    if kind == "call":
        module_name, attr, n = rest.split(":")
        owner = importlib.import_module(module_name)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        real, due = getattr(owner, name), _counted(int(n))

        def hooked(*args, **kwargs):
            if due():
                _die()
            return real(*args, **kwargs)

        setattr(owner, name, hooked)
    elif kind in ("write", "half"):
        import sparse_hw.io as sio

        due = _counted(int(rest))
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd):  # atomic_write's last step before the rename
            if kind == "half" and due():
                os.ftruncate(fd, os.fstat(fd).st_size // 2)
                _die()
            return real_fsync(fd)

        def replace(src, dst):
            if kind == "write" and f".{sio._MARK}-" in os.path.basename(src) and os.path.isfile(src) and due():
                _die()
            return real_replace(src, dst)

        sio.os.fsync, sio.os.replace = fsync, replace
    elif kind == "swap":
        import sparse_hw.io as sio

        sio._swap_in = lambda tmp, path: _die()
    else:
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    _arm(sys.argv[1])
    from sparse_hw.cli import main

    sys.argv = ["sparse-hw", *sys.argv[2:]]
    main()
