"""Bounds on what an input file may cost to read and parse: size, file type, nesting, alias expansion.

Every YAML input (spec files, run configs, included files) is read through :func:`read_input_bytes`
and parsed through :func:`load`, so a hostile or broken input is refused with a `SpecError` (exit 2)
that names the file, before it can exhaust memory or hang the process:

- only regular files are read: ``/dev/zero``, a FIFO or a socket is refused after an ``os.stat``,
  and the file is opened non-blocking, so a FIFO swapped in afterwards cannot hang the read either;
- a symlink loop or an unreadable file is an input error, not a crash;
- files larger than ``SPARSE_HW_MAX_INPUT_MB`` (default 16 MB) are refused; the largest published
  Timeloop input is well under 1 MB;
- YAML nesting deeper than ``MAX_DEPTH`` levels is refused (the published examples nest at most 15);
- anchors and aliases may add at most ``MAX_ALIAS_NODES`` nodes to a document once expanded (a
  "billion laughs" bomb expands to 10^9 nodes from a few hundred bytes).

The checks run on the composed node graph, before any Python object is constructed, so they cost
one pass over the nodes and the bomb itself is never built.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError

#: default cap on one input file (bytes); override with SPARSE_HW_MAX_INPUT_MB
DEFAULT_MAX_INPUT_BYTES = 16 << 20
#: deepest YAML nesting accepted (mappings and sequences, aliases followed)
MAX_DEPTH = 100
#: nodes that aliases may add to a document beyond the nodes written in it
MAX_ALIAS_NODES = 1_000_000
#: longest integer literal accepted: Python refuses to convert one of over 4,300 digits (a ValueError,
#: exit 1), and any value past 2^63 (19 digits) is refused later by the value checks with its key
MAX_INT_DIGITS = 1000
_INT_TAG = "tag:yaml.org,2002:int"


def max_input_bytes() -> int:
    """The size cap on one input file: SPARSE_HW_MAX_INPUT_MB megabytes, else 16 MB."""
    raw = os.environ.get("SPARSE_HW_MAX_INPUT_MB", "").strip()
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value > 0:
            return int(value * (1 << 20))
    return DEFAULT_MAX_INPUT_BYTES


def _os_error(exc: OSError, path: Path) -> SpecError:
    if exc.errno == errno.ENOENT:
        return SpecError("file not found", file=path, fix="check the path")
    if exc.errno == errno.ELOOP:
        return SpecError("symbolic link loop", file=path, fix="point the link at a real file")
    if exc.errno == errno.EISDIR:
        return SpecError("is a directory, expected a YAML file", file=path, fix="name a file")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return SpecError("permission denied", file=path, fix="make the file readable")
    if exc.errno == errno.ENAMETOOLONG:
        return SpecError("file name too long", file=path, fix="shorten the path")
    return SpecError(f"cannot read the file: {exc.strerror or exc}", file=path, fix="check the path")


def _refuse_kind(mode: int, path: Path) -> None:
    if stat.S_ISDIR(mode):
        raise SpecError("is a directory, expected a YAML file", file=path, fix="name a file")
    if not stat.S_ISREG(mode):
        if stat.S_ISFIFO(mode):
            kind = "a FIFO"
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            kind = "a device"
        else:
            kind = "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
        raise SpecError(
            f"is {kind}, not a regular file; inputs are read only from regular files",
            file=path,
            fix="save the input to a file and pass that file",
        )


def _refuse_size(size: int, path: Path) -> None:
    cap = max_input_bytes()
    if size > cap:
        raise SpecError(
            f"file is {size / (1 << 20):.1f} MB, larger than the {cap / (1 << 20):g} MB input limit",
            file=path,
            fix="split the input, or raise the limit with SPARSE_HW_MAX_INPUT_MB if the file is trusted",
        )


def read_input_bytes(path: str | Path) -> bytes:
    """The bytes of one input file, after checking that it is a regular file within the size cap."""
    path = Path(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise _os_error(exc, path) from None
    except ValueError:  # an embedded NUL byte
        raise SpecError("invalid file name", file=repr(str(path)), fix="check the path") from None
    _refuse_kind(info.st_mode, path)
    _refuse_size(info.st_size, path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _os_error(exc, path) from None
    try:
        info = os.fstat(fd)  # the file opened may differ from the one checked (a swap in between)
        _refuse_kind(info.st_mode, path)
        cap = max_input_bytes()
        chunks: list[bytes] = []
        total = 0
        while True:
            block = os.read(fd, min(1 << 20, cap + 1 - total))
            if not block:
                break
            chunks.append(block)
            total += len(block)
            if total > cap:
                _refuse_size(total, path)
    except OSError as exc:
        raise _os_error(exc, path) from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_input_text(path: str | Path) -> str:
    """:func:`read_input_bytes` decoded as UTF-8 (a binary file is an input error)."""
    data = read_input_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("not a UTF-8 text file", file=path, fix="pass a YAML text file") from None


def check_node(root: yaml.Node | None, source: str | Path) -> None:
    """Refuse a composed document that nests deeper than MAX_DEPTH or whose aliases expand too far.

    One iterative walk of the document as its aliases expand it, which stops as soon as a bound is
    passed: a bomb costs at most MAX_ALIAS_NODES steps, and an alias that contains itself nests
    past MAX_DEPTH. Nodes under a repeated (aliased) collection are the ones aliases add.
    """
    if root is None:
        return
    mapping, sequence = yaml.MappingNode, yaml.SequenceNode
    seen: set[int] = set()
    added = 0
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth, repeated = pop()
        cls = node.__class__
        if cls is not mapping and cls is not sequence:
            if repeated:
                added += 1
            if node.tag == _INT_TAG and len(node.value) > MAX_INT_DIGITS:
                raise SpecError(
                    f"an integer of {len(node.value):,} characters (more than {MAX_INT_DIGITS:,})",
                    file=source,
                    key_path=_key_of(root, node),
                    line=node.start_mark.line + 1,
                    fix="write a realistic number; no Timeloop input needs one this long",
                )
            continue
        if depth > MAX_DEPTH:
            raise SpecError(
                f"YAML nests deeper than {MAX_DEPTH} levels (or an alias refers to a node that contains it)",
                file=source,
                line=node.start_mark.line + 1,
                fix="flatten the structure; Timeloop inputs nest a few levels deep",
            )
        if not repeated:
            key = id(node)
            if key in seen:
                repeated = True
            else:
                seen.add(key)
        if repeated:
            added += 1
            if added > MAX_ALIAS_NODES:
                raise SpecError(
                    f"YAML anchors and aliases expand this document by more than {MAX_ALIAS_NODES:,} nodes "
                    "(an alias bomb)",
                    file=source,
                    fix="write the repeated parts out, or use fewer nested aliases",
                )
        depth += 1
        if cls is mapping:
            for k, v in node.value:
                push((k, depth, repeated))
                push((v, depth, repeated))
        else:
            for v in node.value:
                push((v, depth, repeated))


def _key_of(root: yaml.Node, target: yaml.Node) -> str | None:
    """The mapping key whose value is ``target`` (for an error message; None at the top or in a list)."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen or not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if v is target:
                    return str(k.value)
                stack.extend((k, v))
        else:
            stack.extend(node.value)
    return None


class DepthLimitedComposer:
    """Mixin for a pure-Python loader: stop composing past MAX_DEPTH, before Python's recursion limit."""

    _sparse_hw_depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._sparse_hw_depth += 1
        try:
            if self._sparse_hw_depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[attr-defined]
                raise yaml.composer.ComposerError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels", mark
                )
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._sparse_hw_depth -= 1


def load(text: str, loader_class: type, source: str | Path) -> Any:
    """``yaml.load(text, loader_class)`` with :func:`check_node` between composing and constructing.

    YAML syntax errors propagate as ``yaml.YAMLError`` (callers turn them into SpecErrors with a line);
    the bounds raise SpecError themselves.
    """
    loader = loader_class(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise SpecError(
                f"YAML nests deeper than {MAX_DEPTH} levels", file=source, fix="flatten the structure"
            ) from None
        check_node(node, source)
        if node is None:
            return None
        try:
            return loader.construct_document(node)
        except RecursionError:
            raise SpecError(
                f"YAML nests deeper than {MAX_DEPTH} levels", file=source, fix="flatten the structure"
            ) from None
    finally:
        loader.dispose()
