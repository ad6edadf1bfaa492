"""``LayerRecord``: one extracted layer (shape, measured densities, pruning pattern), and its table forms.

A record is one row of ``layers.csv`` (the per-layer sparsity report, Distiller style) and one entry of
``layers.json`` (the same numbers at full precision, read back by :func:`load_layer_records`).

Dimension convention (Timeloop's CNN-Layer, ``/work/shared/reference/timeloop/README.md``, "Layers and
densities"): ``Inputs[N][C][R*Wdilation + P*Wstride][S*Hdilation + Q*Hstride]``, ``Weights[C][M][R][S]``,
``Outputs[N][M][Q][P]``. So P pairs with R and the *width* stride: for a 2-D convolution P is the output
width, Q the output height, R the kernel width and S the kernel height. A 1-D convolution runs along Q
(kernel S, stride ``stride_h``; P = R = 1), as the reference's PointNet layer puts its points on Q.
C and M are per group; G is the number of groups (1 unless grouped or depthwise).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import DataError
from ..names import LAYER_TABLE_COLUMNS

#: The columns of ``layers.csv`` fixed by the CLI contract (``CLI.md``), in this order.
CSV_COLUMNS: tuple[str, ...] = LAYER_TABLE_COLUMNS

#: Columns after the contract's ones: geometry the problem does not carry, provenance, padding, meta.
EXTRA_COLUMNS: tuple[str, ...] = (
    "pad_h", "pad_w", "prime_dims", "padded", "weight_nnz",
    "input_nnz", "input_numel", "input_h", "input_w", "input_window_nnz", "input_window_numel",
    "input_density_padded", "output_nnz", "output_numel",
    "calib_samples", "calib_batches", "calib_seed",
    "weight_density_source", "input_density_source", "output_density_source", "output_consumer",
    "pattern_detail", "module_type", "method", "target_sparsity", "accuracy", "modeled", "reason",
)  # fmt: skip

#: Columns only an :class:`UnmodeledLayer` fills (a modeled layer: ``True`` and blank).
_STATUS_COLUMNS = ("modeled", "reason")

ALL_COLUMNS: tuple[str, ...] = CSV_COLUMNS + EXTRA_COLUMNS

#: The operation kinds a record can have.
OPS: tuple[str, ...] = ("conv2d", "pointwise", "conv1d", "depthwise", "grouped", "linear", "matmul")
DIMS: tuple[str, ...] = ("N", "C", "M", "R", "S", "P", "Q", "G")

_CSV_TO_FIELD = {"checkpoint": "checkpoint_id", "nnz": "weight_nnz"}
_DERIVED = {"macs", "nnz"}


@dataclass(frozen=True)
class LayerRecord:
    """One conv/linear layer as a Timeloop problem, with its measured densities and where they came from.

    Densities are fractions of nonzero elements, never rounded. ``input_density`` counts the tensor this
    layer receives (after the previous batch norm / activation), without convolution padding zeros;
    ``input_density_padded`` counts the tensor the problem's Inputs describe: the padded window
    ``(P-1)*stride_w + (R-1)*dilation_w + 1`` wide (likewise high), its padding border as zeros, real rows
    a stride leaves unread excluded; it is the density the problem states (before ``--pad``'s scaling).
    ``output_density`` counts the tensor the next layer receives (its consumer's input), or this layer's
    own output for the network's last layer.
    """

    model: str
    """Registry name of the model (or the module's class name for a foreign model)."""
    checkpoint_id: str
    """First 12 hex digits of the sha256 of the checkpoint's tensors (the same weights, the same id)."""
    layer: str
    """Module path (``layer1.0.conv1``)."""
    order: int
    """Position among the extracted layers (module definition order), from 0."""
    op: str
    """``conv2d``, ``pointwise`` (1x1 conv2d), ``conv1d``, ``depthwise``, ``grouped``, ``linear`` or ``matmul``
    (a functional product, :mod:`.matmul`)."""
    N: int
    """Instances per input sample (1, or the number of calls of a module reused in one forward pass)."""
    C: int
    """Input channels (per group)."""
    M: int
    """Output channels (per group)."""
    R: int
    """Kernel width (pairs with P and the width stride)."""
    S: int
    """Kernel height (pairs with Q and the height stride)."""
    P: int
    """Output width."""
    Q: int
    """Output height (the sequence/point axis of a 1-D convolution)."""
    G: int
    """Groups (``C`` and ``M`` are per group)."""
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    pad_h: int
    """Padding on each side of the height axis (``padding`` of the module; ``same`` puts the odd one after).
    Not a problem dimension, but inside the problem's Inputs window: ``input_density_padded`` counts it."""
    pad_w: int
    weight_density: float
    """Nonzero weights / weights."""
    input_density: float
    """Nonzero / all elements of the layer's input over every calibration sample."""
    output_density: float
    """Nonzero / all elements of the consumer's input (own output for the last layer)."""
    params: int
    """Weights of the layer (the bias is not part of the Timeloop problem and not counted)."""
    weight_nnz: int
    """Nonzero weights."""
    input_nnz: int
    input_numel: int
    output_nnz: int
    output_numel: int
    pattern: str
    """Weight zero pattern: dense, unstructured, n:m, block, channel (shape shrunk), or ``channel+<pattern>``."""
    pattern_detail: str
    """What the pattern detection found (``2:4 along C``, ``block 1x1x3x3``, shapes before channel pruning)."""
    density_model: str
    """Sparseloop density model of the weights: ``hypergeometric`` or ``fixed_structured``."""
    weight_density_source: str
    input_density_source: str
    output_density_source: str
    output_consumer: str
    """Layer whose input gave ``output_density`` (empty for the last layer)."""
    calib_samples: int
    calib_batches: int
    calib_seed: int
    module_type: str
    """Class name of the torch module (``Conv2d``)."""
    method: str = "none"
    """Pruning method(s) of the checkpoint, ``+``-joined in the order applied."""
    target_sparsity: float | None = None
    accuracy: float | None = None
    """Top-1 accuracy of the checkpoint (``accuracy_after`` of its metadata), when known."""
    prime_dims: tuple[tuple[str, int], ...] = ()
    """Dimensions with a prime factor above 7 (they defeat perfect factorization), with their size."""
    padded: tuple[tuple[str, int], ...] = field(default=())
    """Dimensions padded by ``--pad`` and their padded size (the problem YAML uses these)."""
    input_h: int | None = None
    """Height of the real input per instance (pairs with Q and S; the rows of a linear layer)."""
    input_w: int | None = None
    """Width of the real input per instance (pairs with P and R; 1 for 1-D and linear layers)."""
    input_window_nnz: int | None = None
    """Nonzeros inside the problem's Inputs window over every calibration sample (counted exactly)."""
    input_window_numel: int | None = None
    """Elements of the problem's Inputs window over every calibration sample (padding border included)."""
    input_density_padded: float | None = None
    """``input_window_nnz / input_window_numel``: the Inputs density the problem states. None only in
    records written before sparse-hw measured it (their padded layers cannot be rendered again)."""

    # ------------------------------------------------------------------ derived
    @property
    def dims(self) -> dict[str, int]:
        """The problem dimensions as measured (unpadded)."""
        return {d: int(getattr(self, d)) for d in DIMS}

    @property
    def problem_dims(self) -> dict[str, int]:
        """The dimensions the problem YAML carries (padded where ``--pad`` padded them)."""
        return self.dims | dict(self.padded)

    @property
    def macs(self) -> int:
        """Dense multiply-accumulates per input sample: N*G*C*M*R*S*P*Q."""
        return math.prod(self.dims.values())

    @property
    def grouped(self) -> bool:
        return self.G > 1

    # ------------------------------------------------------------------ table forms
    def to_dict(self) -> dict[str, Any]:
        """All fields at full precision (JSON-ready), plus the derived ``macs``."""
        out = dataclasses.asdict(self)
        out["prime_dims"] = {k: v for k, v in self.prime_dims}
        out["padded"] = {k: v for k, v in self.padded}
        out["macs"] = self.macs
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> LayerRecord:
        """Inverse of :meth:`to_dict` (``macs`` is checked, not stored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names - {"macs"})
        missing = sorted(f.name for f in dataclasses.fields(cls) if f.name not in data and _required(f))
        if unknown or missing:
            what = "; ".join(
                part for part in (
                    f"unknown key(s) {', '.join(unknown)}" if unknown else "",
                    f"missing key(s) {', '.join(missing)}" if missing else "",
                ) if part
            )  # fmt: skip
            raise DataError(
                f"layer record of {data.get('layer', '?')!r} does not match this sparse-hw version: {what}",
                file=source,
                key_path="layers",
                fix="re-run `sparse-hw extract` with this version",
            )
        values = {k: v for k, v in data.items() if k in names}
        values["prime_dims"] = _pairs(values.get("prime_dims", ()))
        values["padded"] = _pairs(values.get("padded", ()))
        record = cls(**_coerce(values))
        if "macs" in data and int(data["macs"]) != record.macs:
            raise DataError(
                f"layer {record.layer!r}: macs {data['macs']} does not equal the product of its dimensions "
                f"({record.macs})",
                file=source,
                key_path="layers.macs",
                fix="the file was edited by hand; re-run `sparse-hw extract`",
            )
        return record

    def to_row(self) -> dict[str, Any]:
        """One ``layers.csv`` row: the contract's columns first, then :data:`EXTRA_COLUMNS`."""
        row: dict[str, Any] = {}
        for col in ALL_COLUMNS:
            if col == "macs":
                row[col] = self.macs
            elif col == "prime_dims":
                row[col] = ";".join(f"{k}={v}" for k, v in self.prime_dims)
            elif col == "padded":
                row[col] = ";".join(f"{k}:{self.dims[k]}->{v}" for k, v in self.padded)
            elif col in _STATUS_COLUMNS:
                row[col] = True if col == "modeled" else ""
            else:
                row[col] = getattr(self, _CSV_TO_FIELD.get(col, col))
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LayerRecord:
        """Inverse of :meth:`to_row` (values may be strings, as read by ``csv.DictReader``)."""
        data: dict[str, Any] = {}
        for col in ALL_COLUMNS:
            if (col in _DERIVED and col != "nnz") or col in _STATUS_COLUMNS:
                continue
            if col not in row:
                continue
            data[_CSV_TO_FIELD.get(col, col)] = row[col]
        data["prime_dims"] = tuple(
            (k, int(v))
            for k, _, v in (p.partition("=") for p in _text(row.get("prime_dims")).split(";") if p)
        )
        data["padded"] = tuple(
            (k, int(v.split("->")[1]))
            for k, _, v in (p.partition(":") for p in _text(row.get("padded")).split(";") if p)
        )
        record = cls.from_dict(data)
        if "macs" in row and _text(row["macs"]) and int(float(row["macs"])) != record.macs:
            raise DataError(
                f"layer {record.layer!r}: macs {row['macs']} does not equal the product of its dimensions",
                key_path="macs",
                fix="re-run `sparse-hw extract`",
            )
        return record


@dataclass(frozen=True)
class UnmodeledLayer:
    """A layer or product that does work but has no Timeloop CNN-layer form (issue 14): a row of the layer
    table with ``modeled`` False and the reason, no problem file, and no dimensions or densities (a made-up
    shape would put made-up energy into the network totals). Simulate skips it and says so."""

    model: str
    checkpoint_id: str
    layer: str
    order: int
    """After every modeled layer's order (problem files are named by the modeled orders)."""
    op: str
    module_type: str
    """The torch module class or the functional op (``torch.einsum``)."""
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_row(self) -> dict[str, Any]:
        """One ``layers.csv`` row: its identity, ``modeled`` False and the reason; every number blank."""
        row: dict[str, Any] = dict.fromkeys(ALL_COLUMNS, None)
        row.update(model=self.model, checkpoint=self.checkpoint_id, layer=self.layer, order=self.order, op=self.op,
                   module_type=self.module_type, modeled=False, reason=self.reason)
        return row


def layer_table(records, unmodeled=()):
    """The layer table (``layers.csv``, ``records.to_pandas()``): the modeled layers, then the unmodeled ones.

    With unmodeled rows the columns hold objects, so that blank cells do not turn the modeled rows' whole
    numbers into floats (``6`` stays ``6`` in the CSV)."""
    import pandas as pd

    rows = [r.to_row() for r in records]
    if not unmodeled:
        return pd.DataFrame(rows, columns=list(ALL_COLUMNS))
    return pd.DataFrame(rows + [u.to_row() for u in unmodeled], columns=list(ALL_COLUMNS), dtype=object)


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _pairs(value: Any) -> tuple[tuple[str, int], ...]:
    if isinstance(value, Mapping):
        return tuple((str(k), int(v)) for k, v in value.items())
    return tuple((str(k), int(v)) for k, v in value)


_INT_FIELDS = {f.name for f in dataclasses.fields(LayerRecord) if f.type in ("int",)}
_FLOAT_FIELDS = {f.name for f in dataclasses.fields(LayerRecord) if f.type in ("float",)}
_OPT_FLOAT_FIELDS = {f.name for f in dataclasses.fields(LayerRecord) if f.type in ("float | None",)}
_OPT_INT_FIELDS = {f.name for f in dataclasses.fields(LayerRecord) if f.type in ("int | None",)}
_STR_FIELDS = {f.name for f in dataclasses.fields(LayerRecord) if f.type in ("str",)}


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    """Turn CSV strings (or JSON values) into the field types; a bad value is a DataError."""
    out = dict(values)
    for name, value in values.items():
        try:
            if name in _INT_FIELDS:
                number = float(value)
                if number != int(number):
                    raise ValueError(f"{value!r} is not an integer")
                out[name] = int(number)
            elif name in _FLOAT_FIELDS:
                out[name] = float(value)
            elif name in _OPT_FLOAT_FIELDS:
                text = _text(value)
                out[name] = None if text in ("", "None", "nan") else float(value)
            elif name in _OPT_INT_FIELDS:
                text = _text(value)
                number = None if text in ("", "None", "nan") else float(value)
                if number is not None and number != int(number):
                    raise ValueError(f"{value!r} is not an integer")
                out[name] = None if number is None else int(number)
            elif name in _STR_FIELDS:
                out[name] = _text(value)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"layer record field {name} has a bad value {value!r} ({exc})",
                key_path=name,
                fix="re-run `sparse-hw extract`",
            ) from None
    return out


__all__ = ["ALL_COLUMNS", "CSV_COLUMNS", "DIMS", "EXTRA_COLUMNS", "OPS", "LayerRecord", "UnmodeledLayer", "layer_table"]
