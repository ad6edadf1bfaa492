"""Mappings as integer arrays: a batch of N mappings evaluated at once (a single mapping is N = 1).

Per storage level ``l`` (innermost first) and problem dimension ``d``:
``temporal[n, l, d]`` and ``spatial[n, l, d]`` factors (spatial = the fan-out from level ``l`` to
its children, as a Timeloop ``type: spatial`` directive on target ``l``), ``perm[n, l, :]`` the
temporal loop order innermost first (Timeloop reads permutation strings innermost first,
`src/mapping/parser.cpp` ParseUserPermutations), ``spatial_perm``/``split`` for the X/Y
assignment of spatial loops (positions ``< split`` go to mesh X), and ``keep[n, l, t]``.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from ..errors import MappingError, ProblemCollector
from .arch import ArchModel
from .problem import ProblemModel


class MappingBatch(msgspec.Struct):
    """N mappings of one problem onto one architecture, as arrays."""

    temporal: np.ndarray  # [N, L, D] int64
    spatial: np.ndarray  # [N, L, D] int64
    perm: np.ndarray  # [N, L, D] int64 dim indices, innermost first
    spatial_perm: np.ndarray  # [N, L, D] int64 dim indices
    split: np.ndarray  # [N, L] int64
    keep: np.ndarray  # [N, L, T] bool
    notes: list[str] = msgspec.field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.temporal.shape[0])

    @property
    def spatial_x(self) -> np.ndarray:
        """bool [N, L, D]: the spatial loop of dim d at level l runs along mesh X."""
        n, levels, dims = self.spatial.shape
        # pos[n, l, spatial_perm[n, l, j]] = j, through flat indices (cheaper than `put_along_axis`)
        rows = n * levels
        pos = np.empty(rows * dims, dtype=self.spatial_perm.dtype)
        flat = (np.arange(rows, dtype=np.int64) * dims)[:, None] + self.spatial_perm.reshape(rows, dims)
        pos[flat.ravel()] = np.broadcast_to(np.arange(dims), (rows, dims)).ravel()
        return pos.reshape(n, levels, dims) < self.split[:, :, None]

    def select(self, idx) -> MappingBatch:
        idx = np.atleast_1d(np.asarray(idx))
        return MappingBatch(
            self.temporal[idx],
            self.spatial[idx],
            self.perm[idx],
            self.spatial_perm[idx],
            self.split[idx],
            self.keep[idx],
            list(self.notes),
        )

    @staticmethod
    def concat(batches: list[MappingBatch]) -> MappingBatch:
        return MappingBatch(
            np.concatenate([b.temporal for b in batches]),
            np.concatenate([b.spatial for b in batches]),
            np.concatenate([b.perm for b in batches]),
            np.concatenate([b.spatial_perm for b in batches]),
            np.concatenate([b.split for b in batches]),
            np.concatenate([b.keep for b in batches]),
        )


def _default_perm(n_dims: int) -> np.ndarray:
    return np.arange(n_dims, dtype=np.int64)


def _order(names: list[str] | None, dims: tuple[str, ...], key: str, problems: ProblemCollector, src) -> np.ndarray:
    seen: list[int] = []
    for ch in names or []:
        if ch not in dims:
            problems.add(
                f"permutation names unknown dimension {ch!r}",
                file=src,
                key_path=key,
                fix=f"use the problem's dimensions {' '.join(dims)}",
            )
            continue
        i = dims.index(ch)
        if i not in seen:
            seen.append(i)
    # Timeloop appends the dimensions missing from a permutation (they only matter when > 1).
    seen += [i for i in range(len(dims)) if i not in seen]
    return np.array(seen, dtype=np.int64)


def compile_mapping(mapping, arch: ArchModel, problem: ProblemModel, source: str | None = None) -> MappingBatch:
    """Turn the spec layer's ``Mapping`` (Timeloop mapping directives) into a batch of one."""
    levels = arch.n_levels
    dims = problem.dims
    n_dims = len(dims)
    spaces = problem.dataspace_names
    temporal = np.ones((1, levels, n_dims), dtype=np.int64)
    spatial = np.ones((1, levels, n_dims), dtype=np.int64)
    perm = np.tile(_default_perm(n_dims), (1, levels, 1))
    sperm = np.tile(_default_perm(n_dims), (1, levels, 1))
    split = np.full((1, levels), n_dims, dtype=np.int64)
    keep = np.ones((1, levels, len(spaces)), dtype=bool)
    problems = ProblemCollector()
    names = arch.names()
    notes: list[str] = []
    for i, d in enumerate(mapping.directives):
        key = f"mapping[{i}]"
        if d.target not in names:
            problems.add(
                f"mapping target {d.target!r} is not a storage level of the architecture",
                file=source,
                key_path=f"{key}.target",
                fix=f"use one of: {', '.join(names)}",
            )
            continue
        lv = names.index(d.target)
        kind = str(d.type)
        if kind in ("temporal", "spatial"):
            arr = temporal if kind == "temporal" else spatial
            for dim, value in (d.factors or {}).items():
                if dim not in dims:
                    problems.add(
                        f"factor names unknown dimension {dim!r}",
                        file=source,
                        key_path=f"{key}.factors",
                        fix=f"use the problem's dimensions {' '.join(dims)}",
                    )
                    continue
                value = int(value)
                if value == 0:
                    # Timeloop: "Interpreting 0 to mean full problem dimension instead of residue".
                    value = int(problem.bounds[dims.index(dim)])
                    notes.append(f"{d.target} {kind} {dim}=0 interpreted as the full dimension {value}")
                if value < 1:
                    problems.add(
                        f"factor {dim}={value} must be a positive integer",
                        file=source,
                        key_path=f"{key}.factors.{dim}",
                        fix="use positive factors (0 means the full dimension)",
                    )
                    continue
                arr[0, lv, dims.index(dim)] = value
            order = _order(d.permutation, dims, f"{key}.permutation", problems, source)
            if kind == "temporal":
                perm[0, lv] = order
            else:
                sperm[0, lv] = order
                split[0, lv] = n_dims if d.split is None else int(d.split)
        elif kind in ("bypass", "datatype"):
            for t in d.keep or []:
                if t in spaces:
                    keep[0, lv, spaces.index(t)] = True
                else:
                    problems.add(f"keep names unknown data space {t!r}", file=source, key_path=f"{key}.keep",
                                 fix=f"use one of: {', '.join(spaces)}")
            for t in d.bypass or []:
                if t in spaces:
                    keep[0, lv, spaces.index(t)] = False
                else:
                    problems.add(f"bypass names unknown data space {t!r}", file=source, key_path=f"{key}.bypass",
                                 fix=f"use one of: {', '.join(spaces)}")
        else:
            problems.add(f"unknown mapping directive type {kind!r}", file=source, key_path=f"{key}.type",
                         fix="use temporal, spatial or bypass")
    keep[0, levels - 1, :] = True  # the outermost level always keeps every data space (Timeloop)
    total = (temporal * spatial).prod(axis=1)[0]
    for di, dim in enumerate(dims):
        if int(total[di]) != int(problem.bounds[di]):
            problems.add(
                f"the factors of {dim} multiply to {int(total[di])} over all levels but the problem has "
                f"{dim}={int(problem.bounds[di])}",
                file=source,
                key_path="mapping",
                fix=f"make the temporal and spatial factors of {dim} multiply to {int(problem.bounds[di])}",
            )
    problems.raise_if_any(MappingError)
    return MappingBatch(temporal, spatial, perm, sperm, split, keep, notes)


def mapping_to_directives(batch: MappingBatch, i: int, arch: ArchModel, problem: ProblemModel) -> list[dict[str, Any]]:
    """Mapping ``i`` of a batch as Timeloop mapping directives (what timeloop-model reads)."""
    dims = problem.dims
    out: list[dict[str, Any]] = []
    for lv, level in enumerate(arch.storage):
        keep = [t for ti, t in enumerate(problem.dataspace_names) if batch.keep[i, lv, ti]]
        bypass = [t for ti, t in enumerate(problem.dataspace_names) if not batch.keep[i, lv, ti]]
        out.append({"target": level.name, "type": "bypass", "keep": keep, "bypass": bypass})
    for lv, level in enumerate(arch.storage):
        factors = " ".join(f"{d}={int(batch.temporal[i, lv, di])}" for di, d in enumerate(dims))
        perm = "".join(dims[j] for j in batch.perm[i, lv])
        out.append({"target": level.name, "type": "temporal", "factors": factors, "permutation": perm})
        if (batch.spatial[i, lv] > 1).any():
            sfactors = " ".join(f"{d}={int(batch.spatial[i, lv, di])}" for di, d in enumerate(dims))
            sperm = "".join(dims[j] for j in batch.spatial_perm[i, lv])
            out.append(
                {
                    "target": level.name,
                    "type": "spatial",
                    "factors": sfactors,
                    "permutation": sperm,
                    "split": int(batch.split[i, lv]),
                }
            )
    return out
