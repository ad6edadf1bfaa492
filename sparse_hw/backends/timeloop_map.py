"""Read the mappings Timeloop writes: the ``*.map.txt`` loop nest and the ``*.map.yaml`` mapping.

``*.map.txt`` is printed by ``Nest::PrettyPrint`` (NVlabs/timeloop v3.0.3, ``src/mapping/nest.cpp``):
per storage level, outermost first, ``name [ Tensor:tile (utilized) ... ]`` and its loops
``for D in [start:end[,residual_end]) [(Spatial-X|Y)]`` (``src/mapping/loop.cpp``,
``Descriptor::Print``). ``*.map.yaml`` is a Timeloop mapping whose keep/bypass directives say
``type: datatype`` and whose factors are written ``C1 M8``; :func:`normalize_mapping` rewrites it in
the spelling the rest of sparse-hw writes (``type: bypass``, ``C=1 M=8``), which Timeloop reads too
(``src/mapping/parser.cpp``, ``ParseUserFactors`` accepts ``C=4``, ``C4`` and ``C 4``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BackendError
from ..io import load_yaml

_HEADER = re.compile(r"^(\S+) \[(.*)\]\s*$")
_TILE = re.compile(r"(\S+?):(\d+)\s*(?:\((\d+)\))?")
_LOOP = re.compile(r"^for (\S+) in \[(\d+):(\d+)(?:,(\d+))?\)(?: \(Spatial-([XY])\))?$")
_FACTOR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*?)\s*=?\s*(\d+)(?:,(\d+))?")


@dataclass(frozen=True)
class Loop:
    """One loop of the nest: ``for dim in [start:end)``; ``spatial`` is ``"X"``, ``"Y"`` or ``None``."""

    dim: str
    start: int
    end: int
    residual_end: int | None = None
    spatial: str | None = None

    @property
    def bound(self) -> int:
        return self.end - self.start


@dataclass
class MapLevel:
    """One storage level of a ``*.map.txt``: kept tensors with tile size and utilized capacity, loops."""

    name: str
    tiles: dict[str, int] = field(default_factory=dict)
    utilized: dict[str, int] = field(default_factory=dict)
    loops: list[Loop] = field(default_factory=list)

    @property
    def keeps(self) -> list[str]:
        return list(self.tiles)


def parse_map_txt_text(text: str, source: str | Path = "<map.txt>") -> list[MapLevel]:
    """Parse a ``*.map.txt`` loop nest; levels come outermost first, as printed."""
    levels: list[MapLevel] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or set(line) == {"-"}:
            continue
        m = _HEADER.match(line)
        if m and not line.startswith("|"):
            level = MapLevel(name=m.group(1))
            for tm in _TILE.finditer(m.group(2)):
                level.tiles[tm.group(1)] = int(tm.group(2))
                if tm.group(3) is not None:
                    level.utilized[tm.group(1)] = int(tm.group(3))
            levels.append(level)
            continue
        if line.startswith("|"):
            body = line.lstrip("| ").strip()
            if body == "<< Compute >>":
                continue
            lm = _LOOP.match(body)
            if lm and levels:
                levels[-1].loops.append(
                    Loop(
                        dim=lm.group(1),
                        start=int(lm.group(2)),
                        end=int(lm.group(3)),
                        residual_end=int(lm.group(4)) if lm.group(4) else None,
                        spatial=lm.group(5),
                    )
                )
                continue
        raise BackendError(
            f"cannot read line {lineno} of the Timeloop loop nest: {line!r}",
            file=source,
            line=lineno,
            fix="pass an unmodified *.map.txt written by timeloop-model or timeloop-mapper",
        )
    if not levels:
        raise BackendError(
            "no storage levels found in the Timeloop loop nest",
            file=source,
            fix="pass the *.map.txt that timeloop-model / timeloop-mapper wrote",
        )
    return levels


def parse_map_txt(path: str | Path) -> list[MapLevel]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise BackendError(
            "Timeloop loop-nest file not found", file=path, fix="check the output folder"
        ) from None
    return parse_map_txt_text(text, path)


def loop_bounds(levels: list[MapLevel]) -> dict[str, int]:
    """Product of the loop bounds per dimension over the whole nest (the problem's dimensions)."""
    out: dict[str, int] = {}
    for level in levels:
        for loop in level.loops:
            out[loop.dim] = out.get(loop.dim, 1) * loop.bound
    return out


def parse_factors(
    text: Any, *, source: str | Path = "<mapping>", key_path: str = "factors"
) -> dict[str, int]:
    """``"C1 M8"``, ``"C=1 M=8"``, ``"C 1"`` or a mapping ``{C: 1}`` -> ``{"C": 1, "M": 8}``."""
    if isinstance(text, dict):
        return {str(k): int(v) for k, v in text.items()}
    if isinstance(text, (list, tuple)):
        text = " ".join(str(t) for t in text)
    text = str(text or "")
    out: dict[str, int] = {}
    pos = 0
    for m in _FACTOR.finditer(text):
        if text[pos : m.start()].strip():
            break
        out[m.group(1)] = int(m.group(2))
        pos = m.end()
    if text[pos:].strip():
        raise BackendError(
            f"cannot read the factors {text!r}",
            file=source,
            key_path=key_path,
            fix="write factors as 'C=1 M=8' (or Timeloop's 'C1 M8')",
        )
    return out


def normalize_mapping(doc: Any, *, source: str | Path = "<mapping>") -> dict[str, Any]:
    """A Timeloop mapping document as ``{"mapping": [directive, ...]}`` in sparse-hw's spelling.

    Keep/bypass directives get ``type: bypass`` (Timeloop writes ``datatype``), factors become
    ``"C=1 M=8"`` strings in the order written; ``permutation``, ``split``, ``keep`` and ``bypass`` are kept.
    """
    directives = doc.get("mapping") if isinstance(doc, dict) else doc
    if isinstance(directives, dict) and "targets" in directives:
        directives = directives["targets"]
    if not isinstance(directives, list):
        raise BackendError(
            "a Timeloop mapping must be a list of directives under the key 'mapping'",
            file=source,
            key_path="mapping",
            fix="pass the *.map.yaml that timeloop-mapper wrote",
        )
    out: list[dict[str, Any]] = []
    for i, d in enumerate(directives):
        if not isinstance(d, dict) or "target" not in d or "type" not in d:
            raise BackendError(
                "a mapping directive needs 'target' and 'type'",
                file=source,
                key_path=f"mapping[{i}]",
                fix="pass the *.map.yaml that timeloop-mapper wrote",
            )
        kind = str(d["type"])
        entry: dict[str, Any] = {"target": str(d["target"]), "type": "bypass" if kind == "datatype" else kind}
        if "factors" in d:
            factors = parse_factors(d["factors"], source=source, key_path=f"mapping[{i}].factors")
            entry["factors"] = " ".join(f"{k}={v}" for k, v in factors.items())
        if "permutation" in d:
            entry["permutation"] = str(d["permutation"]).replace(" ", "")
        if "split" in d:
            entry["split"] = int(d["split"])
        for key in ("keep", "bypass"):
            if key in d:
                entry[key] = [str(t) for t in (d[key] or [])]
        out.append(entry)
    return {"mapping": out}


def parse_map_yaml(path: str | Path) -> dict[str, Any]:
    """Read a ``*.map.yaml`` (or any Timeloop mapping file) and normalize it."""
    return normalize_mapping(load_yaml(path), source=path)


def mapping_bounds(mapping: dict[str, Any]) -> dict[str, int]:
    """Product of temporal and spatial factors per dimension over every directive."""
    out: dict[str, int] = {}
    for d in mapping["mapping"]:
        if d["type"] in ("temporal", "spatial") and "factors" in d:
            for dim, value in parse_factors(d["factors"]).items():
                out[dim] = out.get(dim, 1) * value
    return out
