"""Nonzero masks of real tensors, for the actual-data density model (Sparseloop ``real-data``).

The file format is the MICRO'22 artifact's (fig12 ``actual_data_masks/*.txt``): one ``0``/``1``
character per element, the tensor's ranks in the order of its projection in the problem shape,
the *first* rank varying fastest (Timeloop's point linearisation). The artifact's masks show it:
L07's input mask has C fastest (4 whole-zero channels, ReLU's work), its weight mask C fastest
then M, and only that order reproduces the recorded 1,702,140 effectual computes.
Whitespace between characters is ignored; anything else is an error naming the file.

``FILE.npz#Tensor`` names a bit-packed mask of ``extract --masks`` (``sparse_hw.extract.masks``):
``np.packbits`` of the same flat order, the element count beside it in ``Tensor_size``.
"""

from __future__ import annotations

import os
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import SpecError

#: a ``density:`` given next to a mask may be rounded (the artifact writes two digits); beyond
#: this distance from the mask's own density it is a contradiction.
DENSITY_TOLERANCE = 0.005


def resolve_mask_path(path: str, bases: list[Path] | tuple[Path, ...] = ()) -> Path | None:
    """The mask file a ``data_file_path`` names, or None.

    Relative paths are taken from the spec files' folders. An absolute path that does not exist
    (the artifact's sweep.py rewrote them to /home/workspace/...) is relocated: the longest tail of
    it that exists under one of those folders or their parents wins.
    """
    p = Path(os.path.normpath(path))
    if p.is_absolute() and p.is_file():
        return p
    folders: list[Path] = []
    for base in list(bases) + [Path.cwd()]:
        base = Path(base).resolve()
        for folder in (base, *base.parents):
            if folder not in folders:
                folders.append(folder)
    parts = p.parts[1:] if p.is_absolute() else p.parts
    for start in range(len(parts)):
        tail = Path(*parts[start:])
        for folder in folders:
            cand = folder / tail
            if cand.is_file():
                return cand
        if not p.is_absolute():
            break  # a relative path is taken as written
    return None


@lru_cache(maxsize=256)
def _read(path: str, mtime: float) -> np.ndarray:
    raw = np.frombuffer(Path(path).read_bytes(), dtype=np.uint8)
    keep = ~np.isin(raw, np.frombuffer(b" \t\r\n,", dtype=np.uint8))
    chars = raw[keep]
    bad = (chars != ord("0")) & (chars != ord("1"))
    if bad.any():
        pos = int(np.argmax(bad))
        raise ValueError(f"character {chr(int(chars[pos]))!r} at element {pos}")
    out = chars == ord("1")
    out.setflags(write=False)
    return out


@lru_cache(maxsize=256)
def _read_npz(path: str, member: str, mtime: float) -> np.ndarray:
    """A bit-packed mask of ``extract --masks`` (``FILE.npz#Tensor``: ``np.packbits`` of the same
    flat order, with the element count in ``Tensor_size``)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if member not in z.files or f"{member}_size" not in z.files:
                raise ValueError(f"no bit-packed mask {member!r} (holds {', '.join(sorted(z.files))})")
            bits = np.asarray(z[member], dtype=np.uint8)
            out = np.unpackbits(bits, count=int(z[f"{member}_size"])).astype(bool)
    except (OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise ValueError(f"not a readable .npz: {exc}") from None
    out.setflags(write=False)
    return out


def read_mask(
    path: str,
    size: int,
    *,
    bases=(),
    density: float | None = None,
    source: str | None = None,
    key_path: str | None = None,
) -> np.ndarray:
    """The flat boolean mask of a tensor of ``size`` elements; one SpecError for any fault."""
    path, _, member = path.partition("#") if ".npz#" in path else (path, "", "")
    found = resolve_mask_path(path, bases)
    if found is None:
        raise SpecError(
            f"mask file {path} not found (looked beside the spec files and their parent folders)",
            file=source,
            key_path=key_path,
            fix=f"point data_file_path at a text file of {size} characters 0/1",
        )
    try:
        if found.suffix == ".npz":
            mask = _read_npz(str(found), member, found.stat().st_mtime)
        else:
            mask = _read(str(found), found.stat().st_mtime)
    except ValueError as exc:
        raise SpecError(
            f"mask file {found} holds something other than 0/1: {exc}" if found.suffix != ".npz"
            else f"mask file {found}: {exc}",
            file=str(found),
            key_path=key_path,
            fix=f"write exactly {size} characters 0 or 1 (the tensor's elements, first rank fastest)",
        ) from None
    if mask.size != size:
        raise SpecError(
            f"mask file {found} has {mask.size} elements; the tensor has {size}",
            file=str(found),
            key_path=key_path,
            fix=f"write exactly {size} characters 0 or 1, or correct the problem's dimension sizes",
        )
    if density is not None:
        actual = float(mask.sum()) / size if size else 0.0
        if abs(actual - density) > DENSITY_TOLERANCE + 1.0 / max(size, 1):
            raise SpecError(
                f"density {density} disagrees with mask file {found} ({int(mask.sum())} of {size} "
                f"elements nonzero: density {actual:.6f})",
                file=source,
                key_path=key_path,
                fix="drop the density key (the mask gives it) or correct it",
            )
    return mask


def absolutize_mask_paths(problem: dict, folder: Path) -> None:
    """Make the relative ``data_file_path`` of a problem section absolute from ``folder`` (the file's
    own), in place: a problem rewritten elsewhere (spec/problem_shape.py) still finds its masks."""
    densities = (problem.get("instance") or {}).get("densities") if isinstance(problem, dict) else None
    if not isinstance(densities, dict):
        return
    for dens in densities.values():
        if not isinstance(dens, dict):
            continue
        for key in ("data_file_path", "data-file-path"):
            value = dens.get(key)
            if isinstance(value, str) and value and not Path(value).is_absolute():
                dens[key] = str((Path(folder) / value).resolve())
