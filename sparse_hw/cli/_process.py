"""How a ``sparse-hw`` process starts and ends, when the process is the command line itself.

`start`: the garbage collector's first generation is collected every 10,000 new container objects
instead of every 700. Start-up creates ~60,000 long-lived objects (modules, classes, validators) and a
large search keeps ~900,000 alive, so the default also ran full collections over all of them, again
and again: ~50 ms of collections in a small ``map`` process that spends ~0.5 s outside its search
(~20 ms with this threshold), 2.0 s in the 14 s search of eyeriss_v2 mobilenet05_L07 (0.4 s with
it; issue 15, item 14). The peak memory did not change (cyclic garbage waits for at most 10,000 more
allocations). Nothing a command computes depends on when garbage is collected.

`start` also opens the command's start-up, for a ``check``/``model``/``map`` command line that runs
without typer (`sparse_hw.cli._fast`): while it reads and validates its inputs and imports the engine,
the threshold is STARTUP_GC_THRESHOLD0. Start-up only builds what lives until the process ends (modules,
classes, the spec) and leaves little cyclic garbage (~1,500 objects on a reference
case), yet its ~25 collections at 10,000 took ~10-20 ms of each ``map`` process. `started` ends it
(the pipeline calls it before the work, `sparse_hw.pipeline.map_files`'s ``on_start``): ``gc.freeze()``
moves everything start-up made into the permanent generation, which later collections skip (that
start-up garbage is never freed: a few hundred KB), and the threshold becomes GC_THRESHOLD0 for the work.
A start-up that allocates more than STARTUP_GC_THRESHOLD0 container objects (a huge input) is still
collected. Every other command (typer's path) ends the start-up before it runs.

`finish`: end the process without tearing the interpreter down object by object.

Once a command has returned, everything a user can observe is done: its output is in the standard streams'
buffers, its files are written and closed, and ``atexit`` holds the rest (logging's flush, temporary
folders' ``weakref.finalize`` clean-up, worker pools' shutdown). What Python does after that -- garbage-
collect every object, clear every module, free the arrays of the search -- took ~0.1 s of a ``map`` process
that spends ~0.5 s outside its search (issue 15, item 14). `finish` flushes the streams, runs the
``atexit`` handlers and ends the process with the command's exit code; the output, files and exit code are
the same as a normal exit's.

It only does so in a process that is the command line itself (``python -m sparse_hw``, or the
``sparse-hw`` script) and that nothing watches: no profiler or tracer (``python -m cProfile``, coverage, a
debugger), no ``-X dev`` or ``-W`` (which report unclosed resources during that very teardown), no other
thread still running. A caller of `sparse_hw.cli.main` in its own process (a test, a notebook) gets
``SystemExit`` as before; so does any process where a flush fails (Python's own exit then reports it, as
always).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

#: what ``__main__`` is when the process is the command line: ``python -m sparse_hw``, or the console
#: script pip writes for ``[project.scripts] sparse-hw`` (``sparse-hw-script.py`` on Windows)
_MAIN_SPEC = "sparse_hw.__main__"
_SCRIPT_NAMES = ("sparse-hw", "sparse-hw-script.py")


#: the first generation's threshold in a command-line process (Python's default: 700)
GC_THRESHOLD0 = 10_000
#: the first generation's threshold during a command's start-up (``map`` allocates ~75,000 net objects there)
STARTUP_GC_THRESHOLD0 = 500_000

_in_startup = False


def is_cli_main() -> bool:
    """True when ``__main__`` is the command line (not a test, notebook or program calling `main`)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    script = getattr(main, "__file__", None)
    return getattr(spec, "name", None) == _MAIN_SPEC or bool(script and Path(script).name in _SCRIPT_NAMES)


def start() -> None:
    """Tune the garbage collector for a command-line process and open its start-up (module docstring)."""
    global _in_startup
    if is_cli_main():
        import gc

        threshold = gc.get_threshold()
        if threshold[0] == 700:  # Python's default: a setting of the user's own (sitecustomize) stays
            gc.set_threshold(STARTUP_GC_THRESHOLD0, *threshold[1:])
            _in_startup = True


def started() -> None:
    """End the start-up that `start` opened: freeze what it made, collect at GC_THRESHOLD0 from now on.
    Does nothing in any other process, or the second time."""
    global _in_startup
    if _in_startup:
        import gc

        _in_startup = False
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD0, *gc.get_threshold()[1:])


def is_cli_process() -> bool:
    """True when ``__main__`` is the command line and no profiler, tracer, dev mode or warning option runs."""
    if not is_cli_main():
        return False
    if sys.getprofile() is not None or sys.gettrace() is not None:
        return False
    if sys.flags.dev_mode or sys.warnoptions:
        return False
    import threading

    return threading.active_count() == 1


def finish(code: int | None) -> NoReturn:
    """Exit with ``code`` as ``sys.exit(code)`` would, skipping the interpreter's teardown where safe."""
    if not (code is None or isinstance(code, int)) or not is_cli_process() or not _flushed():
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()  # what Python runs at exit first: logging's flush, finalizers, pools
    if not _flushed():
        sys.exit(code)
    os._exit(0 if code is None else int(code) & 0xFF)


def _flushed() -> bool:
    """Flush the standard streams (the ones Python flushes at exit, and the originals if replaced);
    False when one fails, e.g. a closed pipe: Python's own exit then reports it, as always."""
    try:
        for stream in {id(s): s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)}.values():
            if stream is not None:
                stream.flush()
    except BaseException:  # noqa: BLE001
        return False
    return True
