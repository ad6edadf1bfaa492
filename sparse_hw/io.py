"""Safe file I/O shared by every stage: YAML with line numbers, atomic writes, hashes, manifests."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, SpecError
from .safe_yaml import DepthLimitedComposer, read_input_text
from .safe_yaml import load as _bounded_load

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]


class YamlMap(dict):
    """A YAML mapping that remembers its tag (``!Container``...), its line and each key's line."""

    tag: str | None = None
    line: int | None = None
    key_lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}


class YamlList(list):
    """A YAML sequence that remembers its tag and line."""

    tag: str | None = None
    line: int | None = None


class _Loader(DepthLimitedComposer, yaml.SafeLoader):
    """SafeLoader that keeps line numbers and accepts any ``!Tag`` (timeloopfe v4 uses them); nesting
    and alias expansion are bounded (`sparse_hw.safe_yaml`)."""


class DuplicateKeyYamlError(yaml.constructor.ConstructorError):
    """A key written twice in one mapping; carries the key and both lines for a specific fix."""

    def __init__(self, key: str, first_line: int, mark: Any) -> None:
        super().__init__(None, None, f"duplicate key {key!r} (first at line {first_line})", mark)
        self.key, self.first_line, self.second_line = key, first_line, mark.line + 1


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, tag: str | None = None) -> YamlMap:
    seen: dict[str, int] = {}  # a key written twice is a typo whose first value would be lost silently
    for key_node, _ in node.value:  # (before merging: a key that overrides a `<<` merge is fine)
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            if key_node.value in seen:
                raise DuplicateKeyYamlError(key_node.value, seen[key_node.value], key_node.start_mark)
            seen[key_node.value] = key_node.start_mark.line + 1
    loader.flatten_mapping(node)
    out = YamlMap()
    out.tag = tag
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict)):
            raise yaml.constructor.ConstructorError(
                None, None, "unhashable key", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[str(key)] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode, tag: str | None = None) -> YamlList:
    out = YamlList(loader.construct_object(child, deep=True) for child in node.value)
    out.tag = tag
    out.line = node.start_mark.line + 1
    return out


def _construct_tagged(loader: _Loader, tag_suffix: str, node: yaml.Node) -> Any:
    tag = "!" + tag_suffix
    if isinstance(node, yaml.MappingNode):
        return _construct_mapping(loader, node, tag)
    if isinstance(node, yaml.SequenceNode):
        return _construct_sequence(loader, node, tag)
    value = loader.construct_scalar(node)
    if value == "":
        out = YamlMap()
        out.tag = tag
        out.line = node.start_mark.line + 1
        return out
    return value


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_multi_constructor("!", _construct_tagged)


def load_yaml_text(text: str, source: str | Path = "<string>") -> Any:
    """Parse YAML text safely; a syntax error becomes a SpecError naming the file and line."""
    try:
        return _bounded_load(text, _Loader, source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        fix = "correct the YAML syntax at that line (indentation, ':' after keys, quoting)"
        if isinstance(exc, DuplicateKeyYamlError):
            fix = (f"key {exc.key!r} appears twice in this mapping (lines {exc.first_line} and {exc.second_line});"
                   " keep one")
        raise SpecError(f"malformed YAML: {problem}", file=source, line=line, fix=fix) from None


def load_yaml(path: str | Path) -> Any:
    """Read and parse one YAML file; a missing file is a SpecError too."""
    path = Path(path)
    text = read_input_text(path)  # regular files within the size cap only (sparse_hw.safe_yaml)
    return load_yaml_text(text, path)


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def dump_yaml(data: Any) -> str:
    """Dump plain data as block-style YAML, keys in insertion order."""
    return yaml.safe_dump(_plain(data), sort_keys=False, default_flow_style=False, width=100)


# ---------------------------------------------------------------------------------- safe outputs
# Every temporary this module makes carries ``_MARK`` and the writer's pid in its name
# (``.NAME.sparse-hw-PID-XXXX.tmp``, a swapped-out old folder ``….old``), so that a later run can
# recognise, and remove or restore, only its own leftovers of a killed run, never a user's file.
_MARK = "sparse-hw"
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\." + _MARK + r"-(?P<pid>\d+)-[A-Za-z0-9_]+\.(?P<kind>tmp|old)$")
# ctypes, hashlib, platform, shutil and tempfile are imported where they are used: a ``check``/``model``/
# ``map --json`` process writes no folder, and they cost it ~7 ms of start-up (issue 15, item 14).
# What sparse-hw 0.x left before this naming: ``.NAME.XXXXXXXX.tmp`` folders, ``.NAME.old-PID-NS`` backups.
_LEGACY = re.compile(r"^\.(?P<name>.+)\.(?:(?P<old>old-(?P<pid>\d+)-\d+)|[a-z0-9_]{8}\.tmp)$")
_log = logging.getLogger(__name__)


def _leftovers(path: Path) -> list[tuple[Path, int, str]]:
    """(entry, writer pid, 'tmp' | 'old') of every temporary of ``path`` in its folder."""
    found = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return []
    for entry in entries:
        m = _LEFTOVER.match(entry.name)
        if m and m["name"] == path.name:
            found.append((Path(entry.path), int(m["pid"]), m["kind"]))
            continue
        m = _LEGACY.match(entry.name)
        if m and m["name"] == path.name and entry.is_dir(follow_symlinks=False):
            found.append((Path(entry.path), int(m["pid"] or 0), "old" if m["old"] else "tmp"))
    return found


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs: another user's process counts as alive, a zombie (killed, not yet
    reaped) as dead. Shared by the leftover clean-up here and the sweep workers' parent watch."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, but another user's process
        return True
    try:  # its parent may be waiting on our output: a zombie will never finish its work
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):  # no /proc (macOS), or it was reaped meanwhile
        return True


def _alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():  # 0: a legacy name without a pid; never probe the process group
        return True
    return pid_alive(pid)


def _remove(entry: Path) -> None:
    """Delete one of our own temporaries (a folder tree or a file; links are unlinked, never followed)."""
    import shutil

    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()


def _inside_our_tmp(folder: Path) -> bool:
    return any(_LEFTOVER.match(part) for part in folder.parts)


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask() sets it briefly)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write a file via a temporary sibling and ``os.replace``, so readers never see half a file.

    Temporaries of earlier writers of ``path`` that were killed (their pid is gone) are removed.
    """
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not _inside_our_tmp(path.parent):
        for entry, pid, kind in _leftovers(path):
            if kind == "tmp" and not _alive(pid) and not entry.is_dir():
                _remove(entry)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_MARK}-{os.getpid()}-", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the output gets the user's usual mode
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def _our_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest.json when a sparse-hw stage wrote it (stage and sparse_hw version), else None."""
    file = folder / "manifest.json"
    try:
        if not file.is_file() or file.is_symlink() or file.stat().st_size > 16 << 20:
            return None
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = (isinstance(data, dict) and isinstance(data.get("stage"), str)
          and isinstance(data.get("versions"), dict) and "sparse_hw" in data["versions"])
    return data if ok else None


def _foreign_files(folder: Path, manifest: dict[str, Any], also: set[str] = frozenset()) -> list[str]:
    """Files in ``folder`` that its manifest does not list as outputs (nor ``also``): not ours to delete."""
    listed = {str(o) for o in manifest.get("outputs") or [] if isinstance(o, str)} | set(also)
    listed.add("manifest.json")
    dirs = tuple(o for o in listed if o.endswith("/"))
    foreign = []
    for f in sorted(folder.rglob("*")):
        if f.is_dir() and not f.is_symlink():
            continue
        rel = f.relative_to(folder).as_posix()
        if rel not in listed and not rel.startswith(dirs):
            foreign.append(rel)
    return foreign


def _refuse(message: str, path: Path, fix: str, option: str) -> None:
    raise ConfigError(message, file=path, key_path=option, fix=fix)


def check_out_dir(
    path: str | Path, *, inputs: Iterable[str | Path] = (), force: bool = False, option: str = "--out",
    new_files: Iterable[str] = (),
) -> None:
    """Refuse an output folder whose replacement could lose data; reads only, writes nothing.

    Refused always: a file or a link at ``path`` (never replaced by a folder), a non-folder above it,
    and a folder that is or holds one of ``inputs``. Refused without ``force``: an existing folder
    that no sparse-hw stage wrote (no manifest of ours), or one holding files that neither its manifest
    nor ``new_files`` (what replaces it, relative paths) lists.
    """
    path = Path(path)
    if path.is_symlink():
        _refuse("the output path is a symbolic link; sparse-hw does not replace links", path,
                "pass the real folder the link points to, or another path", option)
    if path.exists() and not path.is_dir():
        _refuse("the output path is an existing file; sparse-hw writes a folder there and never replaces a "
                "file with a folder", path, "choose another output folder (or move the file away)", option)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                _refuse(f"{parent} is a file, so no folder can be made below it", path,
                        "choose an output folder whose parents are folders", option)
            break
    target = path.resolve()
    for inp in inputs:
        src = Path(inp).resolve()
        if src == target or target in src.parents:
            beside = target.parent / f"{target.name}-out"
            _refuse(f"the output folder would replace an input folder: it is or holds the input {inp}", path,
                    f"write to a new folder that holds no input (e.g. {beside}); an input is never replaced",
                    option)
        if src in target.parents and src.is_dir():  # `simulate ex --out ex/sim` changed the extract folder
            _refuse(f"the output folder is inside the input folder {inp}; writing there would change an input",
                    path, f"write to a folder outside {inp} (e.g. {src.parent / (src.name + '-out')})", option)
    if force or not path.is_dir():
        return
    try:
        if not any(path.iterdir()):
            return  # an empty folder loses nothing
    except OSError as exc:
        _refuse(f"the output folder cannot be read ({exc.strerror})", path, "check its permissions", option)
    manifest = _our_manifest(path)
    if manifest is None:
        _refuse("the output folder exists and was not written by sparse-hw (no manifest.json of a sparse-hw "
                "stage); replacing it would delete its files", path,
                f"choose a new folder for {option}, or pass --force to replace this one", option)
    foreign = _foreign_files(path, manifest, set(new_files))
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        _refuse(f"the output folder holds files its sparse-hw run did not write ({shown}); replacing it "
                "would delete them", path, "move those files out, choose a new folder, or pass --force", option)


def refuse_foreign_folder(folder: Path, foreign: Callable[[list[str]], list[str]], *, what: str,
                          config: str | Path | None = None) -> None:
    """Refuse a run's or a search's own folder (``what``) when ``foreign`` finds entries there it did not write:
    ``out: /`` wrote a run's stages, or a search's study, into the root folder. A missing folder passes."""
    if not folder.is_dir():
        return
    try:
        names = sorted(p.name for p in folder.iterdir())
    except OSError as exc:
        raise ConfigError(f"the {what} folder {folder} cannot be read ({exc.strerror})", file=config, key_path="out",
                          fix="check its permissions, or point `out` at another folder") from None
    bad = foreign(names)
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ConfigError(f"the {what} folder {folder} holds files no sparse-hw {what} wrote ({shown})", file=config,
                          key_path="out", fix=f"point `out` at a new folder, or at the folder of an earlier {what}")


def check_out_file(
    path: str | Path, *, inputs: Iterable[str | Path] = (), force: bool = False, option: str = "--out",
    ours: Callable[[Path], bool] | None = None,
) -> None:
    """Refuse an output file whose replacement could lose data: a folder, an input, or (without ``force``)
    an existing file that ``ours`` does not recognise as a sparse-hw output. A ``path`` given as text that ends
    in a separator (``--out m/``) names a folder, even where none exists yet."""
    folder = isinstance(path, str) and path.endswith(("/", os.sep))
    path = Path(path)
    if path.is_dir() or folder:
        what = "is a folder" if path.is_dir() else "ends in a separator, so it names a folder"
        _refuse(f"the output path {what}; sparse-hw writes a file there and never replaces a folder", path,
                f"name a file, e.g. {path / 'model.pt'}", option)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                _refuse(f"{parent} is a file, so no file can be made below it", path,
                        "choose an output path whose parents are folders", option)
            break
    if path.exists():
        for inp in inputs:
            with contextlib.suppress(OSError):
                if Path(inp).exists() and os.path.samefile(inp, path):
                    _refuse(f"the output file is the input {inp}; writing it would destroy the input", path,
                            "write to a new file", option)
        if not force and ours is not None and not ours(path):
            _refuse("the output file exists and was not written by sparse-hw; replacing it would lose it", path,
                    f"choose a new file for {option}, or pass --force to replace it", option)


# Locks held by this process (re-entrant: a stage holds its --out lock while atomic_dir takes it again).
_HELD: dict[str, list[int]] = {}


def _lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.{_MARK}.lock"


@contextlib.contextmanager
def out_lock(path: str | Path, *, option: str = "--out") -> Iterator[None]:
    """Hold an exclusive lock on writing ``path``; a second writer is refused with the holder's pid.

    The lock is ``flock`` on a hidden sibling file, released by the kernel when the holder dies (even by
    ``kill -9``). On acquiring it, the leftovers of a killed writer of ``path`` are restored or removed.
    """
    path = Path(path)
    lock = _lock_path(path)
    key = os.path.abspath(lock)
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    if fcntl is None:  # no flock on this platform: no protection against a concurrent writer
        _recover(path)
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 400, 0).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise ConfigError(
                    f"another sparse-hw run is writing this output folder ({holder})", file=path,
                    key_path=option, fix=f"wait until it finishes, or pass another {option}",
                ) from None
            try:  # a holder that released meanwhile unlinked the file we opened: lock the new one
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
    except OSError as exc:
        raise ConfigError(f"cannot write next to the output folder ({exc.strerror})", file=path,
                          key_path=option, fix="choose a folder you can write to") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:300]}\n".encode())
    _HELD[key] = [fd, 1]
    try:
        _recover(path)
        yield
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def _recover(path: Path) -> None:
    """Undo what a killed writer of ``path`` left: restore a swapped-out folder, delete temporaries.

    Called with the lock held, so no other live writer of ``path`` exists: every leftover not made by
    this process is stale. A folder moved aside (``….old``) while ``path`` is missing is the last
    complete output; it is put back rather than trusting an unfinished new one.
    """
    leftovers = [(e, pid, kind) for e, pid, kind in _leftovers(path) if pid != os.getpid()]
    olds = sorted((e for e, _, kind in leftovers if kind == "old"), key=lambda e: e.lstat().st_mtime)
    restored = None
    if olds and not path.exists() and not path.is_symlink():
        restored = olds[-1]
        os.replace(restored, path)
        _log.warning("restored %s, moved aside by a sparse-hw run that was killed while replacing it", path)
    for entry, _, _ in leftovers:
        if entry != restored:
            _remove(entry)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(tmp: Path, path: Path) -> None:
    """Put the finished folder ``tmp`` at ``path``; at every instant ``path`` is the old or the new folder,
    or (fallback, killed between two renames) the old one waits under ``….old`` for ``_recover``."""
    if not path.exists():
        os.replace(tmp, path)
    elif _exchange(tmp, path):
        _remove(tmp)  # now the old folder
    else:
        backup = tmp.with_name(tmp.name[: -len(".tmp")] + ".old")
        os.replace(path, backup)
        try:
            os.replace(tmp, path)
        except BaseException:
            os.replace(backup, path)
            raise
        _remove(backup)


@contextlib.contextmanager
def atomic_dir(
    path: str | Path, *, force: bool = False, inputs: Iterable[str | Path] = (), option: str = "--out"
) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move it into place only if the block succeeds.

    An existing directory at ``path`` is replaced as a whole, but only when ``check_out_dir`` allows it
    (ours, or ``force``; never an input or a file) and no file in it would be lost that neither its
    manifest nor the new folder accounts for. On failure the old directory is left untouched and the
    temporary one is removed; a ``kill -9`` at any point leaves nothing that the next run trusts.
    """
    import shutil
    import tempfile

    path = Path(path)
    inputs = list(inputs)
    check_out_dir(path, inputs=inputs, force=force, option=option)
    with out_lock(path, option=option):
        check_out_dir(path, inputs=inputs, force=force, option=option)  # _recover may have restored it
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{_MARK}-{os.getpid()}-", suffix=".tmp",
                                        dir=path.parent))
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; the output gets the user's usual mode
        except OSError as exc:
            raise ConfigError(f"cannot create the output folder ({exc.strerror})", file=path, key_path=option,
                              fix="choose a folder you can write to, on a disk with free space") from None
        try:
            yield tmp
            # again at the swap: the folder may have changed during the work (files the new folder
            # also has are no loss: a stage may write more files than its old manifest listed)
            check_out_dir(path, inputs=inputs, force=force, option=option,
                          new_files={f.relative_to(tmp).as_posix() for f in tmp.rglob("*")})
            _swap_in(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes | str) -> str:
    import hashlib

    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def versions() -> dict[str, str]:
    """Versions of the interpreter and the libraries whose numbers end up in outputs."""
    import platform
    from importlib import metadata

    from . import __version__

    out = {"sparse_hw": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    # Read from the installed distributions' metadata: importing torch only to print its version cost
    # a sweep or a simulate ~4 s of start-up (a loaded module's own __version__ wins, it is what ran).
    for mod, dist in (("numpy", "numpy"), ("pandas", "pandas"), ("torch", "torch"),
                      ("torch_pruning", "torch-pruning"), ("pydantic", "pydantic")):
        loaded = sys.modules.get(mod)
        try:
            out[mod] = str(loaded.__version__) if loaded is not None else metadata.version(dist)
        except Exception:  # noqa: BLE001 - an optional library may be missing
            continue
    return out


def __getattr__(name: str) -> object:
    """``RunManifest`` lives in `sparse_hw.manifest` (pydantic, imported on first use: reading an input
    file must not pay for it, issue 15, item 14); ``from sparse_hw.io import RunManifest`` still works."""
    if name == "RunManifest":
        from .manifest import RunManifest

        return RunManifest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
