"""Safe file I/O shared by every stage: YAML with line numbers, atomic writes, hashes, manifests."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from .errors import SpecError


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


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps line numbers and accepts any ``!Tag`` (timeloopfe v4 uses them)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, tag: str | None = None) -> YamlMap:
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
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(
            f"malformed YAML: {problem}",
            file=source,
            line=line,
            fix="correct the YAML syntax at that line (indentation, ':' after keys, quoting)",
        ) from None


def load_yaml(path: str | Path) -> Any:
    """Read and parse one YAML file; a missing file is a SpecError too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", file=path, fix="check the path") from None
    except IsADirectoryError:
        raise SpecError("is a directory, expected a YAML file", file=path, fix="name a file") from None
    except UnicodeDecodeError:
        raise SpecError("not a UTF-8 text file", file=path, fix="pass a YAML text file") from None
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


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write a file via a temporary sibling and ``os.replace``, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move it into place only if the block succeeds.

    An existing directory at ``path`` is replaced as a whole; on failure it is left untouched and
    the temporary directory is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    backup = None
    if path.exists():
        backup = path.with_name(f".{path.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.replace(path, backup)
    os.replace(tmp, path)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def versions() -> dict[str, str]:
    """Versions of the interpreter and the libraries whose numbers end up in outputs."""
    from . import __version__

    out = {"sparse_hw": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    for mod in ("numpy", "pandas", "torch", "torch_pruning", "pydantic"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - an optional library may be missing
            continue
    return out


class RunManifest(BaseModel):
    """Provenance of one run folder: what ran, on what inputs, with which seeds and versions."""

    model_config = ConfigDict(extra="forbid")

    stage: str
    command: list[str] = Field(default_factory=lambda: list(sys.argv))
    versions: dict[str, str] = Field(default_factory=versions)
    seeds: dict[str, int | None] = Field(default_factory=dict)
    inputs: dict[str, str] = Field(default_factory=dict, description="input path -> sha256")
    settings: dict[str, Any] = Field(default_factory=dict)
    outputs: list[str] = Field(default_factory=list)
    started: float = Field(default_factory=time.time)
    finished: float | None = None
    status: str = "running"

    def add_input(self, path: str | Path) -> None:
        p = Path(path)
        if p.is_file():
            self.inputs[str(p)] = sha256_file(p)
        elif p.is_dir():
            for f in sorted(q for q in p.rglob("*") if q.is_file()):
                self.inputs[str(f)] = sha256_file(f)

    def finish(self, status: str = "ok") -> RunManifest:
        self.finished = time.time()
        self.status = status
        return self

    def write(self, folder: str | Path) -> Path:
        return atomic_write(Path(folder) / "manifest.json", self.model_dump_json(indent=2) + "\n")
