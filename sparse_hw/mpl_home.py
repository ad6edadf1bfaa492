"""A private matplotlib config/cache folder when the user's home cannot hold one.

With ``HOME=""`` (or a home that is not a writable folder) matplotlib falls back to ``/.config`` and
``/.cache`` (created there when the process may, as root in a container can) or to a temporary folder it
warns about on stderr. A command must write only under its ``--out`` and the user's own caches, so before
the first matplotlib import the modules that draw call `private_config_if_home_unusable`: when the user
set no ``MPLCONFIGDIR`` and matplotlib would need the unusable home, ``MPLCONFIGDIR`` points at a fresh
private temporary folder, removed when the process exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile


def _writable_dir(path: str | None) -> bool:
    return bool(path) and os.path.isabs(path) and os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _home_usable() -> bool:
    """``HOME`` as matplotlib reads it (`pathlib.Path.home`): unset means the password database's home;
    set but empty is no home (Python would expand it to ``/``)."""
    home = os.environ.get("HOME")
    if home is None:
        home = os.path.expanduser("~")
    return _writable_dir(home)


def private_config_if_home_unusable() -> str | None:
    """Set ``MPLCONFIGDIR`` to a private temporary folder when matplotlib has nowhere of the user's to write
    (matplotlib's ``_get_config_or_cache_dir``: ``MPLCONFIGDIR``, else ``$XDG_CONFIG_HOME`` /
    ``$XDG_CACHE_HOME``, else ``~/.config`` / ``~/.cache``); returns the folder it set, None when it left
    matplotlib alone. Idempotent: the second call sees ``MPLCONFIGDIR`` set."""
    if os.environ.get("MPLCONFIGDIR"):
        return None
    if all(_writable_dir(os.environ[v]) if os.environ.get(v) else _home_usable()
           for v in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME")):
        return None
    folder = tempfile.mkdtemp(prefix="sparse-hw-matplotlib-")  # 0700, in $TMPDIR
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["MPLCONFIGDIR"] = folder
    return folder
