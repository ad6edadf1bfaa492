"""The `problem` key: shape (dimensions, coefficients, data spaces and projections), instance, densities.

Semantics follow Timeloop v3.0.3 `src/workload/shape-models/problem-shape.cpp` (`Shape::Parse`:
a projection is a list of coordinates, each a list of terms ``[dim]`` or ``[dim, coefficient]``, or
the simple form, a list of dimension names) and `src/workload/workload.cpp`
(`ParseWorkloadInstance`: every dimension needs a bound, coefficients default, densities under
``instance.densities``, a bare number is fixed-structured, a data space without one is dense).
"""

import difflib
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from .base import SpecModel, fix_note, norm_key, norm_word
from .expressions import Namespace

DISTRIBUTIONS = ("fixed_structured", "hypergeometric", "banded")


class Coefficient(SpecModel, kw_only=True):
    """A named coefficient of the projections (``Wstride``...), with its default value."""

    name: str
    default: int = 1

    @staticmethod
    def _not_bool(value: Any) -> Any:  # a lax int read `default: true` as a stride of 1
        if isinstance(value, bool):
            raise ValueError(fix_note(f"{str(value).lower()} is a boolean, not a number", "give a whole number"))
        return value

    field_hooks: ClassVar[dict[str, Any]] = {"default": _not_bool}


class ProjectionTerm(SpecModel, kw_only=True):
    """One term ``dim * coefficient`` of a projected coordinate (coefficient None = 1)."""

    dim: str
    coefficient: str | None = None


def _parse_term(term: Any) -> Any:
    if isinstance(term, (ProjectionTerm, dict)):
        return term
    if isinstance(term, str):
        return {"dim": term}
    if isinstance(term, (list, tuple)) and len(term) in (1, 2) and all(isinstance(t, str) for t in term):
        return {"dim": term[0], "coefficient": term[1] if len(term) == 2 else None}
    raise ValueError(f"a projection term is [dim] or [dim, coefficient], not {term!r}")


class DataSpace(SpecModel, kw_only=True):
    """A tensor of the problem: its projection from the operation space and whether it is written."""

    name: str
    projection: list[list[ProjectionTerm]]
    read_write: bool = False

    @staticmethod
    def _projection(value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise ValueError("projection must be a list of coordinates")
        out = []
        for coord in value:
            if isinstance(coord, str):
                # Timeloop's simple form: `projection: [C, M, R, S]` (problem-shape.cpp isArray branch)
                out.append([{"dim": coord}])
            elif isinstance(coord, (list, tuple)):
                out.append([_parse_term(t) for t in coord])
            else:
                raise ValueError(f"a projection coordinate is a list of terms, not {coord!r}")
        return out

    field_hooks: ClassVar[dict[str, Any]] = {"projection": _projection}

    def dims(self) -> list[str]:
        """Dimensions that appear in the projection, in order of first appearance."""
        seen: list[str] = []
        for coord in self.projection:
            for term in coord:
                if term.dim not in seen:
                    seen.append(term.dim)
        return seen


class Shape(SpecModel, kw_only=True):
    """The problem shape (Timeloop `shape`): dimensions, coefficients and data spaces."""

    name: str = "problem"
    dimensions: list[str]
    coefficients: list[Coefficient] = []
    data_spaces: list[DataSpace]

    def __post_init__(self) -> None:
        errors = []
        for d in self.dimensions:
            if len(d) != 1:
                # problem-shape.cpp: "dimension names can only be 1 character in length"
                errors.append(
                    f"dimension name {d!r} must be a single character (Timeloop's permutation syntax)"
                )
        if len(set(self.dimensions)) != len(self.dimensions):
            errors.append("dimension names repeat")
        coeffs = {c.name for c in self.coefficients}
        for ds in self.data_spaces:
            for coord in ds.projection:
                for term in coord:
                    if term.dim not in self.dimensions:
                        errors.append(
                            f"data space {ds.name!r} projects unknown dimension {term.dim!r} "
                            f"(dimensions: {' '.join(self.dimensions)})"
                        )
                    if term.coefficient is not None and term.coefficient not in coeffs:
                        errors.append(
                            f"data space {ds.name!r} uses unknown coefficient {term.coefficient!r} "
                            f"(coefficients: {', '.join(sorted(coeffs)) or 'none'})"
                        )
        names = [ds.name for ds in self.data_spaces]
        if len(set(names)) != len(names):
            errors.append("data space names repeat")
        if errors:
            raise ValueError(
                fix_note(
                    "; ".join(errors),
                    "use the shape's own dimensions, coefficients and one-letter dimension names",
                )
            )


class Density(SpecModel, kw_only=True):
    """A tensor's density model (Sparseloop density-models); extra parameters in ``params``.

    ``real_data`` (file spelling ``real-data``, Sparseloop's actual-data model used by the MICRO'22
    artifact fig12) reads the tensor's nonzero mask from ``data_file_path`` and has no ``density``.
    It loads here (``sparse-hw check`` shows it); the engine reads the mask when it compiles the
    problem (`sparse_hw.model.masks`), and `Problem.real_data_densities` lists such data spaces.
    """

    distribution: Literal["fixed_structured", "hypergeometric", "banded", "real_data"] = "fixed_structured"
    density: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None
    data_file_path: str | None = None
    params: dict[str, Any] = {}

    @staticmethod
    def _not_bool(value: Any) -> Any:  # `{density: true}` was read as a dense tensor, exit 0
        if isinstance(value, bool):
            raise ValueError(fix_note(f"{str(value).lower()} is a boolean, not a density", "give a number in [0, 1]"))
        return value

    field_hooks: ClassVar[dict[str, Any]] = {"density": _not_bool}

    def __post_init__(self) -> None:
        if self.distribution == "real_data":
            if not self.data_file_path:
                raise ValueError(
                    fix_note(
                        "distribution real-data needs `data_file_path` (the tensor's mask file)",
                        "add data_file_path, or use a statistical distribution with a density",
                    )
                )
        elif self.density is None:
            raise ValueError(
                fix_note(f"distribution {self.distribution} needs a `density`", "add density: <0..1>")
            )
        elif self.data_file_path is not None:
            raise ValueError(
                fix_note(
                    "data_file_path belongs to distribution real-data only",
                    "remove it, or set distribution: real-data",
                )
            )

    @classmethod
    def prepare(cls, data: Any) -> Any:
        if isinstance(data, bool):
            raise ValueError(f"a density is a number in [0, 1] or a mapping, not {data!r}")
        if isinstance(data, (int, float)):
            return {"distribution": "fixed_structured", "density": float(data)}
        if isinstance(data, dict):
            params = dict(data.pop("params", None) or {})
            out: dict[str, Any] = {}
            for key, value in data.items():
                if key == "distribution":
                    out[key] = norm_word(value)
                elif key in ("density", "data_file_path"):
                    out[key] = value
                elif key in ("band_width", "workload_tensor_size", "bandwidth"):
                    # banded's parameter (banded-distribution.cpp) and timeloopfe's defaults: counts
                    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
                            or value == float("inf"):
                        raise ValueError(f"density {key} is {value!r}, not a count >= 0")
                    params[key] = value
                else:
                    raise ValueError(
                        f"unknown density key {key!r}; known keys: distribution, density, band_width, "
                        "workload_tensor_size, data_file_path"
                    )
            if params:
                out["params"] = params
            return out
        return data


def missing_dimensions(dimensions: list[str], instance: dict[str, Any]) -> str | None:
    """The message for dimensions without a size (workload.cpp asserts every one has a bound)."""
    missing = [d for d in dimensions if d not in instance]
    if not missing:
        return None
    return (
        f"dimension(s) {', '.join(missing)} missing from the instance "
        f"(every dimension of {' '.join(dimensions)} needs a size)"
    )


def densities_location(raw: Any):
    """Key-path rewrite for errors: the file keeps densities under ``instance``."""
    inside = False
    if isinstance(raw, dict):
        inst = next((v for k, v in raw.items() if norm_key(k) == "instance"), None)
        inside = isinstance(inst, dict) and "densities" in inst

    def rewrite(loc: tuple) -> tuple:
        if inside and loc and loc[0] == "densities":
            return ("instance", *loc)
        return loc

    return rewrite


def precheck_raw(raw: Any) -> list[str]:
    """Checks that must be reported even when other keys of the problem fail validation."""
    if not isinstance(raw, dict):
        return []
    data = {norm_key(k): v for k, v in raw.items()}
    shape, inst = data.get("shape"), data.get("instance")
    if not isinstance(shape, dict) or not isinstance(inst, dict):
        return []
    dims = shape.get("dimensions")
    if not isinstance(dims, list) or not all(isinstance(d, str) for d in dims):
        return []
    msg = missing_dimensions(dims, inst)
    return [msg] if msg else []


#: Timeloop's problem coordinates are ``std::int32_t`` (src/loop-analysis/point.hpp ``Coordinate``)
MAX_DIMENSION = 2**31 - 1


class Problem(SpecModel, kw_only=True):
    """The workload: shape, instance (bounds + coefficient values) and per-data-space densities."""

    version: str | None = None
    shape: Shape
    #: whole numbers (`_instance_ints`); not typed ``int``, which would refuse a size past 64 bits before
    #: `__post_init__` can say it is past Timeloop's 32-bit coordinates
    instance: dict[str, Any]
    densities: dict[str, Density] = {}

    @classmethod
    def prepare(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "version" in data and data["version"] is not None:
            data["version"] = str(data["version"])
        inst = data.get("instance")
        if isinstance(inst, dict):
            inst = dict(inst)
            dens = inst.pop("densities", None)
            common = inst.pop("commonDensity", None)
            if dens is not None:
                if "densities" in data:
                    raise ValueError("densities are given both in problem.instance and in problem")
                data["densities"] = dens
            if common is not None:
                # workload.cpp: `commonDensity` applies one density to every data space
                shape = data.get("shape") or {}
                spaces = (
                    shape.get("data_spaces", shape.get("data-spaces", [])) if isinstance(shape, dict) else []
                )
                names = [s.get("name") for s in spaces if isinstance(s, dict)]
                data["densities"] = {n: common for n in names} | dict(data.get("densities") or {})
            data["instance"] = inst
        return data

    @staticmethod
    def _instance_ints(value: Any) -> Any:
        """Every instance value as a whole number: an int, a whole float (8.0) or digits ("8")."""
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                    raise ValueError(f"instance value {k}={v!r} must be a whole number")
                if isinstance(v, float):
                    if v != v or v in (float("inf"), float("-inf")) or v != int(v):
                        raise ValueError(f"instance value {k}={v!r} must be a whole number")  # NaN, inf too
                    v = int(v)
                elif isinstance(v, str):
                    try:
                        v = int(v.strip())
                    except ValueError:
                        raise ValueError(fix_note(f"Input should be a valid integer (got {v!r})",
                                                  "give a whole number", (k,))) from None
                out[k] = v
            return out
        return value

    field_hooks: ClassVar[dict[str, Any]] = {"instance": _instance_ints}

    def __post_init__(self) -> None:
        errors = []
        fix = "correct the instance"
        missing = missing_dimensions(self.shape.dimensions, self.instance)
        if missing:
            errors.append(missing)
            fix = "give every dimension a size in `instance`"
        for d in self.shape.dimensions:
            if d in self.instance and self.instance[d] < 1:
                errors.append(f"dimension {d}={self.instance[d]} must be at least 1")
            elif d in self.instance and self.instance[d] > MAX_DIMENSION:
                errors.append(
                    f"dimension {d}={self.instance[d]} is larger than {MAX_DIMENSION:,}, the largest size "
                    "Timeloop can represent"
                )
        at: tuple = ()  # the key of the one bad coefficient, for the error's key path
        for i, c in enumerate(self.shape.coefficients):  # a stride of 2^70 overflowed numpy; -1 divided by 0
            v = self.instance.get(c.name, c.default)
            # Timeloop's shapes use coefficients as strides and dilations (cnn-layer's Wstride, Hstride,
            # Wdilation, Hdilation; every built-in shape of workloads/): at least 1. A stride of 0 collapsed
            # the Inputs projection to one column and was modeled with exit 0
            if not 1 <= v <= MAX_DIMENSION:
                errors.append(f"coefficient {c.name}={v} must be between 1 and {MAX_DIMENSION:,} (a stride "
                              "or dilation of at least 1)")
                in_instance = c.name in self.instance
                at = ("instance", c.name) if in_instance else ("shape", "coefficients", i, "default")
                fix = f"give {c.name} a whole number from 1 to {MAX_DIMENSION:,}"
        known = [*self.shape.dimensions, *(c.name for c in self.shape.coefficients)]
        # `Hstrid: 2` left the stride at its default (Timeloop ignores an unknown key). Other keys stay legal:
        # timeloopfe problems keep variables such as H, Hpad in the instance for their expressions
        typos = {str(k): m[0] for k in self.instance if k not in known
                 and (m := difflib.get_close_matches(str(k), known, n=1, cutoff=0.8))}
        if typos:
            errors.append("; ".join(f"instance key {k!r} names no dimension or coefficient of the shape (did you "
                                    f"mean {m!r}?)" for k, m in typos.items()))
            fix = f"spell it as the shape does: {', '.join(known)}"
        names = [ds.name for ds in self.shape.data_spaces]
        unknown = [n for n in self.densities if n not in names]
        if unknown:
            errors.append(
                f"densities name unknown data space(s) {', '.join(unknown)} (data spaces: {', '.join(names)})"
            )
            fix = f"name data spaces of the shape: {', '.join(names)}"
        if errors:
            raise ValueError(fix_note("; ".join(errors), fix, at if len(errors) == 1 else ()))
        # coefficient defaults applied; every data space gets a density (missing = dense)
        inst = dict(self.instance)
        for c in self.shape.coefficients:
            inst.setdefault(c.name, c.default)
        dens = {
            n: self.densities.get(n, Density(distribution="fixed_structured", density=1.0)) for n in names
        }
        msgspec.structs.force_setattr(self, "instance", inst)
        msgspec.structs.force_setattr(self, "densities", dens)

    def dimension_bounds(self) -> dict[str, int]:
        """Size of every problem dimension."""
        return {d: int(self.instance[d]) for d in self.shape.dimensions}

    def coefficient_values(self) -> dict[str, int]:
        """Value of every coefficient (the instance's, else the default)."""
        return {c.name: int(self.instance.get(c.name, c.default)) for c in self.shape.coefficients}

    def data_space(self, name: str) -> DataSpace:
        for ds in self.shape.data_spaces:
            if ds.name == name:
                return ds
        raise KeyError(name)

    def data_space_names(self) -> list[str]:
        return [ds.name for ds in self.shape.data_spaces]

    def expression_namespace(self) -> Namespace:
        """``spec`` as timeloopfe expressions see it (``split: len(spec.problem.instance)``): the
        instance with its sizes, coefficients and, as timeloopfe's instance node always has,
        ``densities``."""
        instance = {**self.instance, "densities": dict(self.densities)}
        return Namespace("spec", problem=Namespace("spec.problem", instance=instance))

    def real_data_densities(self) -> list[str]:
        """Data spaces whose density is ``real-data`` (a mask file, read by the engine)."""
        return [name for name, d in self.densities.items() if d.distribution == "real_data"]

    def tensor_size(self, name: str) -> int:
        """Number of elements of a data space (product of its projected coordinate extents)."""
        bounds = self.dimension_bounds()
        coeffs = self.coefficient_values()
        size = 1
        for coord in self.data_space(name).projection:
            extent = 1
            for term in coord:
                extent += (bounds[term.dim] - 1) * (
                    1 if term.coefficient is None else coeffs[term.coefficient]
                )
            size *= extent
        return size
