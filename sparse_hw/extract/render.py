"""LayerRecord -> Timeloop problem YAML (Jinja, StrictUndefined), checked by reading it back.

Templates live in ``workloads/templates/problem_v03.yaml.j2`` (Timeloop v3.0.3's hyphenated keys) and
``problem_v04.yaml.j2`` (timeloopfe's underscore keys). Provenance goes in a ``#`` comment header,
never in an extra key. Every rendered file is parsed back before it is kept (:func:`check_problem`):
always as plain YAML, and through the spec layer (``sparse_hw.spec.load_spec``) whenever that layer is
installed; the dimensions, strides, dilations, densities and projections read back must equal the
record's.

Densities (reference README, pitfalls): below 1.0 the weights get the record's density model
(``hypergeometric`` for unstructured, ``fixed_structured`` for N:M/block) and activations get
``hypergeometric`` (zeros after ReLU fall where the data puts them); a density of 1.0 is dense and is
never written as ``{distribution: hypergeometric, density: 1.0}``, which Timeloop v3.0.3 mis-models
(``HypergeometricDistribution::GetMinTileDensity`` wraps around).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from ..errors import DataError, SpecError
from ..io import load_yaml_text
from ..names import DensityModel
from ..resources import WORKLOADS_DIR
from .record import LayerRecord

TEMPLATES_DIR = WORKLOADS_DIR / "templates"
DIALECTS = {"v0.3": "problem_v03.yaml.j2", "v0.4": "problem_v04.yaml.j2"}
TENSORS = ("Weights", "Inputs", "Outputs")

_CNN_DIMS = ("C", "M", "R", "S", "N", "P", "Q")
_GROUPED_DIMS = (*_CNN_DIMS, "G")
_Term = tuple[str, str | None]
#: Timeloop's CNN-Layer projections (``problem-shapes/cnn-layer.yaml``) and the grouped variant of the
#: Sparseloop artifact (reference ``designs/eyeriss_v2_pe``, with E/F named P/Q), as (dim, coefficient).
PROJECTIONS: dict[bool, dict[str, list[list[_Term]]]] = {
    False: {
        "Weights": [[("C", None)], [("M", None)], [("R", None)], [("S", None)]],
        "Inputs": [[("N", None)], [("C", None)], [("R", "Wdilation"), ("P", "Wstride")],
                   [("S", "Hdilation"), ("Q", "Hstride")]],
        "Outputs": [[("N", None)], [("M", None)], [("Q", None)], [("P", None)]],
    },
    True: {
        "Weights": [[("C", None)], [("M", None)], [("G", None)], [("R", None)], [("S", None)]],
        "Inputs": [[("N", None)], [("C", None)], [("G", None)], [("R", "Wdilation"), ("P", "Wstride")],
                   [("S", "Hdilation"), ("Q", "Hstride")]],
        "Outputs": [[("N", None)], [("G", None)], [("M", None)], [("Q", None)], [("P", None)]],
    },
}  # fmt: skip


@dataclass(frozen=True)
class ProblemDensity:
    """How one tensor's density is written: a distribution and a value (plain number or map)."""

    distribution: str
    density: float
    plain: bool


# ------------------------------------------------------------------------------------------ numbers
def tensor_sizes(dims: dict[str, int], record: LayerRecord) -> dict[str, int]:
    """Elements of each data space for ``dims`` (the size of its projection, Timeloop's AAHR)."""
    width = (dims["R"] - 1) * record.dilation_w + (dims["P"] - 1) * record.stride_w + 1
    height = (dims["S"] - 1) * record.dilation_h + (dims["Q"] - 1) * record.stride_h + 1
    return {
        "Weights": dims["G"] * dims["C"] * dims["M"] * dims["R"] * dims["S"],
        "Inputs": dims["N"] * dims["G"] * dims["C"] * width * height,
        "Outputs": dims["N"] * dims["G"] * dims["M"] * dims["P"] * dims["Q"],
    }


def problem_densities(record: LayerRecord) -> dict[str, ProblemDensity]:
    """The density of each data space as the problem states it.

    Inputs: the density of the tensor the problem describes, the padded window
    (``record.input_density_padded``: nonzeros inside it / its elements, counted exactly during
    measurement), not the unpadded input's ``input_density``: spreading the unpadded density over the
    padded tensor overstated every padded layer by up to padded/real area - 1 (issue 16).

    When ``--pad`` enlarged a dimension, the added elements are zeros too: a tensor's density becomes
    ``density x unpadded size / padded size`` (same nonzeros, more elements).

    A tensor that was dense before ``--pad`` and gained only ``--pad``'s zeros is written fixed-structured
    (a regular pattern; the added share is a few percent). A dense input inside a convolution's padding
    border is *not*: it keeps hypergeometric. The border is regular too, but it is a large share on small
    maps (36 % of an 8x8 map's 10x10 window) and concentrated at the edges, so tiles inside the data are
    wholly dense: fixed-structured's capacity bound ``ceil(d x tile)`` is then far below a real tile, and
    the mapper picks mappings whose real tiles overflow a compressed input buffer (measured: a dense 16x8x8
    input, 3x3 padding 1, on eyeriss_v2: the fixed-structured mapping's real ``iact_spad`` tile is 24 of 16;
    the 4x4 map likewise). Hypergeometric's bound ``min(tile, nonzeros)`` is the dense tile, which is right.
    A sparse tensor keeps its model: the padding zeros join zeros that fall where the data puts them.

    Raises:
        DataError: a padded convolution's record without ``input_density_padded`` (written by an older
            sparse-hw, which did not measure the window).
    """
    inputs = record.input_density_padded
    if inputs is None:
        if record.pad_h or record.pad_w:
            raise DataError(
                f"layer {record.layer!r} has convolution padding but no input_density_padded (a record of an "
                "older sparse-hw, which measured the input without the padding border)",
                key_path="input_density_padded",
                fix="re-run `sparse-hw extract` with this version",
            )
        inputs = record.input_density  # no border: at most trailing rows a stride leaves unread differ
    measured = {"Weights": record.weight_density, "Inputs": inputs, "Outputs": record.output_density}
    # dense: the problem's tensor before --pad (the Inputs window: a border around dense data is not)
    dense = {t: float(d) >= 1.0 for t, d in measured.items()}
    models = {
        "Weights": record.density_model,
        "Inputs": DensityModel.HYPERGEOMETRIC.value,
        "Outputs": DensityModel.HYPERGEOMETRIC.value,
    }
    before = tensor_sizes(record.dims, record)
    after = tensor_sizes(record.problem_dims, record)
    out = {}
    for t in TENSORS:
        d = float(measured[t])
        model = DensityModel.FIXED_STRUCTURED.value if dense[t] else models[t]
        if before[t] != after[t]:
            d = d * before[t] / after[t]
        if d >= 1.0:
            out[t] = ProblemDensity(DensityModel.FIXED_STRUCTURED.value, 1.0, plain=True)
        else:
            out[t] = ProblemDensity(model, d, plain=model == DensityModel.FIXED_STRUCTURED.value)
    return out


def _number(value: Any) -> str:
    """Full-precision YAML number (``repr`` round-trips a float exactly)."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number here")
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"density {value} is not finite")
    return repr(value)


# ------------------------------------------------------------------------------------------ render
@cache
def _environment() -> jinja2.Environment:
    # sandboxed like every template sparse-hw renders (issue 15), though these are our own package data
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["number"] = _number
    return env


def _comment(line: str) -> str:
    # one line, and no Jinja opener: spec/ renders any file with `{{`/`{%` in it, comments included
    return re.sub(r"\{([{%#])", r"{ \1", re.sub(r"[\r\n]+", " ", str(line)))


def problem_context(record: LayerRecord, *, header: Sequence[str] = ()) -> dict[str, Any]:
    """The template variables of ``record``."""
    dims = record.problem_dims
    densities = problem_densities(record)
    if densities["Weights"].distribution == DensityModel.HYPERGEOMETRIC.value and densities["Weights"].plain:
        raise ValueError("internal: a hypergeometric density must be written as a map")
    return {
        "header": [_comment(h) for h in header],
        "grouped": record.grouped,
        "dimensions": list(_GROUPED_DIMS if record.grouped else _CNN_DIMS),
        "instance": dims,
        "coefficients": {"Wstride": record.stride_w, "Hstride": record.stride_h,
                         "Wdilation": record.dilation_w, "Hdilation": record.dilation_h},
        "densities": {t: {"distribution": d.distribution, "density": d.density, "plain": d.plain}
                      for t, d in densities.items()},
    }  # fmt: skip


def render_problem(record: LayerRecord, *, dialect: str = "v0.4", header: Sequence[str] = ()) -> str:
    """The problem YAML text of ``record`` in ``dialect`` (``v0.3`` or ``v0.4``)."""
    if dialect not in DIALECTS:
        from ..errors import ConfigError

        raise ConfigError(f"unknown dialect {dialect!r}", key_path="dialect", fix="use v0.3 or v0.4")
    template = _environment().get_template(DIALECTS[dialect])
    return template.render(**problem_context(record, header=header))


def problem_filename(record: LayerRecord) -> str:
    """``NNN_<layer>.yaml``: the order (3 digits) and the module path with unusual characters replaced."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", record.layer).strip("._") or "layer"
    return f"{record.order:03d}_{safe}.yaml"


# ------------------------------------------------------------------------------------------ check
def spec_loader() -> Callable[..., Any] | None:
    """``sparse_hw.spec.load_spec`` when the spec layer is installed, else None."""
    try:
        from ..spec import load_spec
    except ImportError:
        return None
    return load_spec


def _expected(record: LayerRecord) -> dict[str, Any]:
    dims = record.problem_dims
    names = _GROUPED_DIMS if record.grouped else _CNN_DIMS
    return {
        "dimensions": list(names),
        "instance": {d: dims[d] for d in names}
        | {
            "Wstride": record.stride_w,
            "Hstride": record.stride_h,
            "Wdilation": record.dilation_w,
            "Hdilation": record.dilation_h,
        },
        "densities": {t: (d.distribution, d.density) for t, d in problem_densities(record).items()},
        "projections": PROJECTIONS[record.grouped],
    }


def _yaml_density(value: Any) -> tuple[str, float]:
    if isinstance(value, dict):
        return str(value.get("distribution", "")).replace("-", "_"), float(value.get("density", math.nan))
    return DensityModel.FIXED_STRUCTURED.value, float(value)


def _yaml_view(text: str, source: str) -> dict[str, Any]:
    """The checked facts read back from the YAML text alone (libyaml's parser when present: fast)."""
    loader = getattr(yaml, "CSafeLoader", None)
    doc = yaml.load(text, Loader=loader) if loader is not None else load_yaml_text(text, source)
    problem = doc["problem"]
    shape, instance = problem["shape"], problem["instance"]
    spaces = shape.get("data_spaces", shape.get("data-spaces"))
    return {
        "dimensions": list(shape["dimensions"]),
        "instance": {k: v for k, v in instance.items() if k != "densities"},
        "densities": {t: _yaml_density(v) for t, v in instance["densities"].items()},
        "projections": {ds["name"]: [[(term[0], term[1] if len(term) > 1 else None) for term in coord]
                                     for coord in ds["projection"]] for ds in spaces},
    }  # fmt: skip


def _spec_view(path: Path, load_spec: Callable[..., Any]) -> dict[str, Any]:
    """The checked facts as the spec layer parsed them."""
    problem = load_spec([path]).problem
    return {
        "dimensions": list(problem.shape.dimensions),
        "instance": {k: int(v) for k, v in dict(problem.instance).items()},
        "densities": {t: (str(d.distribution), float(d.density)) for t, d in problem.densities.items()},
        "projections": {ds.name: [[(term.dim, term.coefficient) for term in coord] for coord in ds.projection]
                        for ds in problem.shape.data_spaces},
    }  # fmt: skip


def _differences(expected: dict[str, Any], got: dict[str, Any], how: str) -> list[str]:
    out = []
    if got["dimensions"] != expected["dimensions"]:
        out.append(f"{how}: dimensions {got['dimensions']} != {expected['dimensions']}")
    for key, value in expected["instance"].items():
        if got["instance"].get(key) != value:
            out.append(f"{how}: instance.{key} = {got['instance'].get(key)!r}, expected {value!r}")
    for t, value in expected["densities"].items():
        if got["densities"].get(t) != value:
            out.append(f"{how}: density of {t} = {got['densities'].get(t)!r}, expected {value!r}")
    for t, proj in expected["projections"].items():
        if got["projections"].get(t) != proj:
            out.append(f"{how}: projection of {t} = {got['projections'].get(t)!r}, expected {proj!r}")
    return out


def check_problem(path: Path, record: LayerRecord, *, use_spec: bool = True) -> list[str]:
    """Parse a rendered problem back and compare it with ``record``; returns the checks done.

    Raises:
        SpecError: the file does not read back as the record (a template bug; names the differences).
    """
    path = Path(path)
    expected = _expected(record)
    differences = _differences(expected, _yaml_view(path.read_text(encoding="utf-8"), str(path)), "YAML")
    checks = ["yaml"]
    load_spec = spec_loader() if use_spec else None
    if load_spec is not None:
        differences += _differences(expected, _spec_view(path, load_spec), "spec layer")
        checks.append("spec")
    if differences:
        raise SpecError(
            f"the rendered problem of layer {record.layer!r} does not read back as extracted: "
            + "; ".join(differences[:6]),
            file=path,
            key_path="problem",
            fix="this is a bug in the problem templates (workloads/templates); please report it",
        )
    return checks


__all__ = [
    "DIALECTS",
    "PROJECTIONS",
    "TEMPLATES_DIR",
    "ProblemDensity",
    "check_problem",
    "problem_context",
    "problem_densities",
    "problem_filename",
    "render_problem",
    "spec_loader",
    "tensor_sizes",
]
