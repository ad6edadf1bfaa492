"""The problem compiled to arrays: dimension bounds, projections as coefficient matrices, densities.

A data space's projection is a list of coordinates, each a sum of ``dim * coefficient`` terms
(Timeloop's "SOP" projections, e.g. Inputs' width ``R*Wdilation + P*Wstride``). We store it as a
``[coordinates, dims]`` matrix so that the extent of the projection of any box of the operation
space is ``1 + A @ (extents - 1)`` per coordinate, exactly the axis-aligned hyper-rectangle
Timeloop builds (`src/loop-analysis/point-set-aahr.cpp`; holes between strided points included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from math import prod

import numpy as np

from ..errors import SpecError


@dataclass(frozen=True)
class DensitySpec:
    """A tensor's density model (Sparseloop `density-models`)."""

    distribution: str
    density: float
    params: tuple[tuple[str, float], ...] = ()
    #: ``real_data``: the tensor's nonzero mask (masks.py), indexed by the ranks in projection order
    mask: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def is_dense(self) -> bool:
        # The reference README's pitfall: density 1.0 is dense under every distribution.
        return self.density >= 1.0


# below this many extents, one matmul beats a loop over the coordinates (`DataSpaceModel.extents`)
_LOOP_MIN_ELEMENTS = 4096


@dataclass(frozen=True)
class DataSpaceModel:
    """One data space: its projection matrix, whether it is read-write, its size and density."""

    name: str
    coef: np.ndarray  # [coordinates, dims], integer coefficients
    read_write: bool
    size: int
    density: DensitySpec

    @property
    def n_coords(self) -> int:
        return int(self.coef.shape[0])

    @cached_property
    def _terms(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Per coordinate, its (dim, coefficient) terms: projections are sparse (one or two dims each)."""
        return tuple(tuple((int(d), int(row[d])) for d in np.nonzero(row)[0]) for row in self.coef)

    def _coordinate_extents(self, e: np.ndarray) -> list[np.ndarray] | None:
        """``1 + (e - 1) @ coef.T``, one coordinate at a time, for many rows (None: few rows, use the
        matmul): integer matmul has no BLAS and was the mapper's costliest operation on big batches
        (issue 15, item 14). The same integers, the same dtype."""
        if e.ndim == 0 or e.size < _LOOP_MIN_ELEMENTS:
            return None
        dtype = np.result_type(e.dtype, self.coef.dtype)
        out = []
        for terms in self._terms:
            if not terms:
                out.append(np.ones(e.shape[:-1], dtype=dtype))
                continue
            acc = None
            for d, c in terms:
                x = e[..., d].astype(dtype)
                x -= 1
                if c != 1:
                    x *= c
                if acc is None:
                    acc = x
                else:
                    acc += x
            acc += 1
            out.append(acc)
        return out

    def extents(self, dim_extents: np.ndarray) -> np.ndarray:
        """Per-coordinate extents of the projection of boxes with the given per-dim extents."""
        e = np.asarray(dim_extents)
        cols = self._coordinate_extents(e)
        if cols is None or not cols:
            return 1 + (e - 1) @ self.coef.T
        return np.stack(cols, axis=-1)

    def tile_size(self, dim_extents: np.ndarray) -> np.ndarray:
        """Size of the projection (the product of the coordinate extents)."""
        e = np.asarray(dim_extents)
        cols = self._coordinate_extents(e)
        if cols is None or not cols:
            ext = 1 + (e - 1) @ self.coef.T
            if ext.dtype in (np.int64, np.float64):  # np.prod without its Python wrapper: the same dtype
                return np.multiply.reduce(ext, axis=-1)
            return np.prod(ext, axis=-1)
        size = cols[0]
        for c in cols[1:]:
            size *= c
        return size

    def relevant(self) -> np.ndarray:
        """Dims that appear in the projection (bool per dim)."""
        return (self.coef != 0).any(axis=0)


@dataclass(frozen=True)
class ProblemModel:
    """The workload as the engine sees it."""

    name: str
    dims: tuple[str, ...]
    bounds: np.ndarray  # [dims] int64
    coefficients: dict[str, int]
    dataspaces: tuple[DataSpaceModel, ...]

    @property
    def n_dims(self) -> int:
        return len(self.dims)

    @property
    def macs(self) -> int:
        return int(prod(int(b) for b in self.bounds))

    def dim_index(self, name: str) -> int:
        return self.dims.index(name)

    def dataspace_index(self, name: str) -> int:
        for i, ds in enumerate(self.dataspaces):
            if ds.name == name:
                return i
        raise KeyError(name)

    @property
    def dataspace_names(self) -> tuple[str, ...]:
        return tuple(ds.name for ds in self.dataspaces)


#: Sparseloop density models the engine computes (src/workload/density-models/); "banded" is priced
#: as fixed-structured, as the existing reference runs require; "real_data" reads a mask (masks.py).
MODELLED_DISTRIBUTIONS = ("fixed_structured", "fixed", "hypergeometric", "banded", "real_data")


def _check_density(dens, name: str, source) -> None:
    """Refuse a density the engine cannot model, rather than price it as something else."""
    dist = str(dens.distribution or "fixed_structured").replace("-", "_")
    if dist not in MODELLED_DISTRIBUTIONS:
        raise SpecError(
            f"density distribution {dens.distribution!r} of {name} is not modelled by sparse-hw's engine "
            "(Sparseloop's real-data model reads the nonzero mask of the actual tensor)",
            file=source,
            key_path=f"problem.instance.densities.{name}.distribution",
            fix="give a density with distribution fixed-structured or hypergeometric, or run Timeloop",
        )
    if dens.density is None and dist != "real_data":
        raise SpecError(
            f"the density of {name} has no value",
            file=source,
            key_path=f"problem.instance.densities.{name}.density",
            fix="give a number between 0 and 1",
        )


def compile_problem(problem, source: str | None = None, bases=()) -> ProblemModel:
    """Build a ProblemModel from the spec layer's ``Problem``; ``bases``: folders of the spec files
    (where relative ``data_file_path`` masks are found)."""
    shape = problem.shape
    dims = tuple(shape.dimensions)
    instance = dict(problem.instance)
    coeffs = {c.name: int(instance.get(c.name, c.default)) for c in shape.coefficients}
    missing = [d for d in dims if d not in instance]
    if missing:
        raise SpecError(
            f"dimension(s) {', '.join(missing)} missing from the problem instance",
            file=source,
            key_path="problem.instance",
            fix="give every dimension a size",
        )
    bounds = np.array([int(instance[d]) for d in dims], dtype=np.int64)
    spaces = []
    for ds in shape.data_spaces:
        coef = np.zeros((len(ds.projection), len(dims)), dtype=np.int64)
        for ci, coord in enumerate(ds.projection):
            for term in coord:
                value = 1 if term.coefficient is None else coeffs[term.coefficient]
                coef[ci, dims.index(term.dim)] += value
        size = int(np.prod(1 + (bounds - 1) @ coef.T))
        dens = problem.densities.get(ds.name)
        if dens is None:
            spec = DensitySpec("fixed_structured", 1.0)
        else:
            _check_density(dens, ds.name, source)
            extra = tuple(
                (k, float(v))
                for k, v in (getattr(dens, "params", None) or {}).items()
                if isinstance(v, (int, float))
            )
            if str(dens.distribution).replace("-", "_") == "real_data":
                from .masks import read_mask

                mask = read_mask(
                    str(dens.data_file_path), size, bases=bases, density=dens.density, source=source,
                    key_path=f"problem.instance.densities.{ds.name}.data_file_path",
                )
                real = float(mask.sum()) / size if size else 1.0
                extents = tuple(int(e) for e in 1 + coef @ (bounds - 1))
                # ranks in projection order (the file has the first rank fastest)
                shaped = mask.reshape(extents[::-1]).transpose(tuple(range(len(extents) - 1, -1, -1)))
                spec = DensitySpec("real_data", real, extra, shaped)
            else:
                spec = DensitySpec(str(dens.distribution), float(dens.density), extra)
        spaces.append(DataSpaceModel(ds.name, coef, bool(ds.read_write), size, spec))
    return ProblemModel(str(shape.name), dims, bounds, coeffs, tuple(spaces))
