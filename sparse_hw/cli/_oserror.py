"""Operating-system errors (disk full, read-only folder, name too long, symlink loop...) as user errors.

They come from the user's environment or paths, not from a bug, so the CLI reports them like any other
bad input: exit 2, the path the system names, what went wrong and what to do (issue 15, item 6).
"""

from __future__ import annotations

import errno

from ..errors import SparseHwError

#: errno -> (what happened, how to fix it)
_KNOWN: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device", "free disk space, or write --out to another disk"),
    errno.EROFS: ("the file system is read-only", "write --out to a writable folder"),
    errno.EACCES: ("permission denied", "choose a folder you may write to (or read), or fix its permissions"),
    errno.EPERM: ("operation not permitted", "choose a folder you may write to, or fix its permissions"),
    errno.ENAMETOOLONG: ("a file name is too long", "use a shorter path or name"),
    errno.ELOOP: ("too many levels of symbolic links (a symlink loop)", "fix or remove the symbolic link"),
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the path"),
    errno.EISDIR: ("is a folder, where a file is needed", "pass a file, not a folder"),
    errno.EEXIST: ("already exists", "remove it or choose another name"),
    errno.ENOTEMPTY: ("the folder is not empty", "remove it or choose another folder"),
    errno.EMFILE: ("too many open files", "raise the open-file limit (ulimit -n) or run fewer jobs"),
    errno.EIO: ("input/output error of the device", "check the disk, or use another location"),
    errno.EFBIG: ("the file grew past the file system's or the process's size limit",
                  "free space or raise the limit (ulimit -f), or write --out elsewhere"),
}
_QUOTA = getattr(errno, "EDQUOT", None)
if _QUOTA is not None:
    _KNOWN[_QUOTA] = ("the disk quota is exceeded", "free space in your quota, or write --out elsewhere")


#: sqlite reports the same conditions in words, without a path (its file is the --cache database).
_SQLITE = {
    "database or disk is full": errno.ENOSPC,
    "readonly database": errno.EROFS,
    "unable to open database file": errno.EACCES,
    "disk I/O error": errno.EIO,
}


class EnvironmentProblem(SparseHwError):
    """An ``OSError`` turned into a user-facing error (exit 2)."""


def os_error(exc: OSError) -> EnvironmentProblem:
    """The user-facing form of ``exc``: its path(s), what happened, and a fix."""
    what, fix = _KNOWN.get(exc.errno or -1, (exc.strerror or str(exc) or type(exc).__name__,
                                              "check the path and the disk"))
    paths = [p for p in (exc.filename, exc.filename2) if p not in (None, "")]
    shown = [p.decode(errors="replace") if isinstance(p, bytes) else str(p) for p in paths]
    file = shown[0] if shown else None
    message = what + (f" (also involves {shown[1]})" if len(shown) > 1 else "")
    if file is None and exc.strerror is None and str(exc):
        message = f"{what}: {exc}"
    return EnvironmentProblem(message, file=file, fix=fix)


def environment_error(exc: BaseException) -> EnvironmentProblem | None:
    """The user-facing form of an environment failure, or None for anything else (a bug stays a bug).

    Besides ``OSError`` this covers Python 3.11's ``pathlib`` symlink loops, raised as ``RuntimeError``, and
    sqlite's full-disk, read-only and unopenable-file errors of the result cache.
    """
    if isinstance(exc, OSError):
        return os_error(exc)
    text = str(exc)
    if type(exc).__module__ == "sqlite3" and type(exc).__name__ == "OperationalError":
        for words, code in _SQLITE.items():
            if words in text:
                what, fix = _KNOWN[code]
                return EnvironmentProblem(f"the result cache: {what} (sqlite: {text})", key_path="--cache",
                                          fix=f"{fix}; or pass --cache with another file")
        return None
    if isinstance(exc, RuntimeError) and text.startswith("Symlink loop from "):
        path = text.removeprefix("Symlink loop from ").strip("'\"")
        return os_error(OSError(errno.ELOOP, "Symlink loop", path))
    return None
