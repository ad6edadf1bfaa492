"""The extract stage: checkpoint + calibration data -> per-layer records, problem YAML, tables, manifest.

``extract()`` writes, atomically (the folder appears only when everything succeeded):

* ``layers.csv`` — one row per layer, the CLI contract's columns then extras (the Distiller-style
  sparsity report);
* ``layers.json`` — the same records at full precision plus the checkpoint facts later stages need
  (model, checkpoint id, method, target sparsity, accuracy), read back by :func:`load_layer_records`;
* ``problems/NNN_<layer>.yaml`` — one Timeloop problem per layer, parsed back before it is kept;
* ``weight_hist.csv`` — |w| histogram of the nonzero weights per layer (shared log bins);
* ``manifest.json`` — seeds, input hashes, settings, versions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import __version__
from ..errors import ConfigError, DataError
from ..io import RunManifest, atomic_dir, atomic_write, atomic_write_json, check_out_dir
from .activations import Dataflow, Measurement, calibrate, count_nonzero
from .density import weight_pattern
from .histogram import HIST_COLUMNS, weight_histogram
from .layers import extractable_layers, geometry_function, unsupported_weight_layers
from .loader import LoadedModel, RawCheckpoint, build, read_checkpoint
from .masks import MASK_COLUMN, FirstSample, capture, refuse_with_pad, write_masks
from .matmul import MATMUL_OP, MatmulTracer, merge_records, unexpressed_note, unmodeled_products
from .padding import awkward_dims, padded_dims
from .record import LayerRecord, UnmodeledLayer, layer_table
from .render import DIALECTS, check_problem, problem_filename, render_problem

LAYERS_CSV = "layers.csv"
LAYERS_JSON = "layers.json"
WEIGHT_HIST_CSV = "weight_hist.csv"
PROBLEMS_DIR = "problems"
LAYERS_FORMAT = "sparse-hw-layers"
LAYERS_FORMAT_VERSION = 1
#: Dataset folders up to this size are hashed into the manifest.
_HASH_DATA_LIMIT = 256 * 2**20


class CalibrationInfo(BaseModel):
    """Where the measured activation densities come from."""

    model_config = ConfigDict(extra="forbid")

    data: str
    """Dataset spec (``digits``, ``cifar10:PATH``...) or ``caller batches``."""
    dataset_options: dict[str, Any] = Field(default_factory=dict)
    """Options the dataset was loaded with (the checkpoint's own when it is the dataset it was trained on)."""
    dataset_seed: int | None = None
    """Seed the dataset was generated/split with (the checkpoint's training seed when it is the same dataset)."""
    seed: int
    """Seed of the choice of calibration samples."""
    samples_requested: int
    """``--calib-samples``."""
    samples: int
    """Samples actually measured (fewer when the dataset is smaller)."""
    batches: int
    """Batches the samples ran in."""
    batch_size: int
    """``--batch-size`` (the densities do not depend on it)."""
    channels_last: bool
    """Whether images ran in channels-last memory format (same values, faster on CPU)."""


class LayersFile(BaseModel):
    """``layers.json``: every LayerRecord at full precision plus the checkpoint facts."""

    model_config = ConfigDict(extra="forbid")

    format: str = LAYERS_FORMAT
    """Always ``sparse-hw-layers``."""
    format_version: int = LAYERS_FORMAT_VERSION
    """Bumped on incompatible changes of this file."""
    sparse_hw_version: str = __version__
    """Version that wrote the file."""
    model: str
    """Registry name of the model (or its class name for a pickled foreign module)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Constructor arguments the model was built with."""
    checkpoint: str
    """Checkpoint id (first 12 hex digits of its sha256)."""
    checkpoint_file: str
    """File name of the checkpoint (no folder: the same checkpoint gives the same file wherever it lies)."""
    checkpoint_sha256: str
    """Full sha256 of the checkpoint file."""
    checkpoint_source: str
    """``sparse-hw checkpoint``, ``state_dict``, ``torch.nn.utils.prune state_dict`` or ``pickled nn.Module``."""
    method: str
    """Pruning method(s), ``+``-joined in the order applied (``unknown`` without metadata)."""
    target_sparsity: float | None = None
    """Requested sparsity of the checkpoint, when recorded."""
    accuracy: float | None = None
    """Top-1 test accuracy of the checkpoint (``accuracy_after``), when recorded."""
    checkpoint_meta: dict[str, Any] | None = None
    """The checkpoint's whole metadata (``CheckpointMeta``), None for foreign checkpoints."""
    calibration: CalibrationInfo
    """Where the activation densities were measured."""
    dialect: str
    """Dialect of the problem files (``v0.3`` or ``v0.4``)."""
    pad: bool
    """Whether ``--pad`` padded awkward dimensions in the problem files."""
    notes: list[str] = Field(default_factory=list)
    """What the user should know (skipped layers, folded masks, rebuilt layers...)."""
    layers: list[dict[str, Any]]
    """``LayerRecord.to_dict()`` of every layer, in order."""
    unmodeled: list[dict[str, Any]] = Field(default_factory=list)
    """``UnmodeledLayer.to_dict()`` of every layer without a Timeloop form (rows of layers.csv, no problem)."""


@dataclass(frozen=True)
class ExtractResult:
    """What ``extract`` produced: the records and the paths of every file written."""

    records: tuple[LayerRecord, ...]
    out: Path | None
    """None when nothing was written (``out=None``); so are the other paths."""
    layers_csv: Path | None
    layers_json: Path | None
    weight_hist: Path | None
    manifest: Path | None
    problems: tuple[Path, ...]
    model: str
    checkpoint_id: str
    notes: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of each phase: load, calibrate, write."""
    unmodeled: tuple[UnmodeledLayer, ...] = ()
    """Layers without a Timeloop form: rows of the layer table with the reason, no problem file."""


@dataclass(frozen=True)
class _Calibration:
    batches: Iterable[torch.Tensor]
    info: dict[str, Any]
    bundle: Any | None


def _checkpoint_facts(raw: RawCheckpoint) -> dict[str, Any]:
    meta = raw.meta
    if meta is None:
        return {"method": "unknown", "target_sparsity": None, "accuracy": None}
    return {
        "method": "+".join(meta.method) or "none",
        "target_sparsity": meta.target_sparsity,
        "accuracy": meta.accuracy_after,
    }


def _calibration(
    raw: RawCheckpoint,
    data: str | None,
    batches: Iterable[torch.Tensor] | None,
    *,
    calib_samples: int,
    batch_size: int,
    seed: int,
    trust: bool = False,
) -> _Calibration:
    """The calibration batches: the caller's, ``data``, or the dataset the checkpoint was trained on.

    A dataset *path* recorded in the checkpoint is used only when the user confirms it (``--data`` or
    ``--trust-checkpoint``): otherwise a downloaded file could send extract to read any folder on the machine.
    """
    if batches is not None:
        return _Calibration(
            batches, {"data": "caller batches", "dataset_seed": None, "dataset_options": {}}, None
        )
    from ..train.data import calibration_batches, load_dataset

    meta = raw.meta
    spec = data or (meta.dataset if meta is not None else "")
    if not spec:
        raise DataError(
            "no calibration data: the checkpoint does not record its dataset",
            file=raw.path,
            key_path="data",
            fix="pass --data with the dataset the model was trained on (e.g. --data digits or --data cifar10:PATH)",
        )
    if not data and not trust and ":" in spec:
        raise DataError(
            f"the checkpoint names its dataset as {spec!r}, a path on this machine, which is not used "
            "unconfirmed",
            file=raw.path,
            key_path="meta.dataset",
            fix=f"pass --data {spec} if that is the dataset you mean (or --data PATH with your copy of it)",
        )
    same = meta is not None and spec == meta.dataset
    options = dict(meta.dataset_options) if same else {}
    dataset_seed = meta.seed if same else seed
    bundle = load_dataset(spec, seed=dataset_seed, **options)
    it = calibration_batches(bundle, n_samples=calib_samples, batch_size=batch_size, seed=seed)
    return _Calibration(it, {"data": spec, "dataset_seed": dataset_seed, "dataset_options": options}, bundle)


def _check_input_kind(loaded: LoadedModel, bundle: Any | None) -> None:
    from ..train.models import MODELS

    if bundle is None or loaded.model_name not in MODELS:
        return
    kind = MODELS.get(loaded.model_name).input_kind
    if kind != bundle.input_kind:
        raise DataError(
            f"model {loaded.model_name!r} takes {kind} inputs but the calibration dataset {bundle.name!r} holds "
            f"{bundle.input_kind}",
            key_path="data",
            fix="pass --data with the dataset the model was trained on",
        )


def _sources(
    name: str, flow: Dataflow, meas: Measurement, calib: dict[str, Any], seed: int, nnz: int, params: int
) -> tuple[str, str, str]:
    where = f"{meas.samples} calibration samples of {calib['data']} (sample seed {seed})"
    weight = f"measured: {nnz} of {params} weights nonzero in the checkpoint"
    count, window = meas.inputs[name], meas.window(name)
    inputs = f"measured: this layer's input over {where}; {count.nnz} of {count.numel} nonzero"
    if name in meas.windows:
        inputs += (
            f" (convolution padding zeros excluded); the problem's Inputs window (padding border as zeros, "
            f"rows a stride leaves unread excluded), counted exactly: {window.nnz} of {window.numel} nonzero"
        )
    else:
        inputs += " (the problem's Inputs tensor: no padding, nothing cut)"
    consumer = flow.consumers.get(name)
    if consumer is None:
        out = meas.outputs[name]
        outputs = f"measured: own output (no later layer consumes it) over {where}; {out.nnz} of {out.numel} nonzero"
    else:
        via = ", ".join(flow.paths.get(name, ())) or "no op"
        c = meas.inputs[consumer]
        outputs = f"measured: input of {consumer} (after {via}) over {where}; {c.nnz} of {c.numel} nonzero"
    return weight, inputs, outputs


def _records(
    loaded: LoadedModel,
    layers: Mapping[str, torch.nn.Module],
    flow: Dataflow,
    meas: Measurement,
    calib: dict[str, Any],
    *,
    seed: int,
    pad: bool,
) -> list[LayerRecord]:
    facts = _checkpoint_facts(loaded.raw)
    out: list[LayerRecord] = []
    for name, module in layers.items():
        obs = flow.observations.get(name)
        if obs is None:
            continue
        geo = geometry_function(module)(name, module, obs)  # type: ignore[misc]
        weight = module.weight.detach()
        params = weight.numel()
        nnz = count_nonzero(weight)
        pattern = weight_pattern(weight, loaded.dense_shapes.get(name))
        consumer = flow.consumers.get(name)
        in_count, window = meas.inputs[name], meas.window(name)
        out_count = meas.inputs[consumer] if consumer is not None else meas.outputs[name]
        w_src, in_src, out_src = _sources(name, flow, meas, calib, seed, nnz, params)
        dims = {d: getattr(geo, d) for d in ("N", "C", "M", "R", "S", "P", "Q", "G")}
        awkward = awkward_dims(dims)
        record = LayerRecord(
            model=loaded.model_name, checkpoint_id=loaded.raw.checkpoint_id, layer=name, order=len(out),
            op=geo.op, **dims,
            stride_h=geo.stride_h, stride_w=geo.stride_w, dilation_h=geo.dilation_h, dilation_w=geo.dilation_w,
            pad_h=geo.pad_h, pad_w=geo.pad_w,
            weight_density=nnz / params if params else 0.0,
            input_density=in_count.density, output_density=out_count.density,
            params=params, weight_nnz=nnz,
            input_nnz=in_count.nnz, input_numel=in_count.numel,
            output_nnz=out_count.nnz, output_numel=out_count.numel,
            pattern=pattern.pattern, pattern_detail=pattern.detail, density_model=pattern.density_model,
            weight_density_source=w_src, input_density_source=in_src, output_density_source=out_src,
            output_consumer=consumer or "",
            calib_samples=meas.samples, calib_batches=meas.batches, calib_seed=seed,
            module_type=type(module).__name__,
            method=facts["method"], target_sparsity=facts["target_sparsity"], accuracy=facts["accuracy"],
            prime_dims=tuple(awkward.items()),
            padded=tuple(padded_dims(dims).items()) if pad else (),
            input_h=geo.in_h, input_w=geo.in_w, input_window_nnz=window.nnz, input_window_numel=window.numel,
            input_density_padded=window.density,
        )  # fmt: skip
        out.append(record)
    return out


def _header(record: LayerRecord, raw: RawCheckpoint, dialect: str) -> list[str]:
    lines = [
        (
            f"sparse-hw {__version__} extract: Timeloop problem ({dialect}) of layer {record.layer} "
            f"(#{record.order}, {record.op}, {record.module_type}) of model {record.model}"
        ),
        f"checkpoint {raw.path.name} sha256 {raw.sha256} ({raw.source})",
        (
            f"stride h{record.stride_h} w{record.stride_w}, dilation h{record.dilation_h} w{record.dilation_w}, "
            f"padding h{record.pad_h} w{record.pad_w}; Inputs window {_window_text(record)}"
        ),
        (
            f"Weights density {record.weight_density!r}: {record.weight_density_source}; pattern {record.pattern} "
            f"({record.pattern_detail}) -> {record.density_model}"
        ),
        (
            f"Inputs density {record.input_density_padded!r} (of the window; layers.csv input_density_padded; "
            f"the unpadded input's: {record.input_density!r}, input_density): {record.input_density_source}"
        ),
        f"Outputs density {record.output_density!r}: {record.output_density_source}",
    ]
    if record.prime_dims:
        lines.append(
            "dimensions with a prime factor > 7 (defeat perfect factorization): "
            + ", ".join(f"{k}={v}" for k, v in record.prime_dims)
        )
    if record.padded:
        lines.append(
            "padded by --pad to the next size with prime factors <= 7: "
            + ", ".join(f"{k} {record.dims[k]}->{v}" for k, v in record.padded)
            + "; densities scaled by unpadded/padded tensor size (the padding is zeros)"
        )
    return lines


def _window_text(record: LayerRecord) -> str:
    """The problem's Inputs window against the real input, for the header."""
    height = (record.Q - 1) * record.stride_h + (record.S - 1) * record.dilation_h + 1
    width = (record.P - 1) * record.stride_w + (record.R - 1) * record.dilation_w + 1
    text = f"{height}x{width} (rows x columns) over a {record.input_h}x{record.input_w} input"
    if record.pad_h or record.pad_w:
        text += ": the padding border is part of the problem's Inputs, as zeros, and of its density"
    return text


def _data_paths(spec: str | None) -> list[Path]:
    """The path in a ``kind:PATH`` dataset spec (an input that ``--out`` must not replace)."""
    _, _, rest = (spec or "").partition(":")
    return [Path(rest).expanduser()] if rest else []


def _dataset_inputs(spec: str) -> list[Path]:
    _, _, rest = spec.partition(":")
    if not rest:
        return []
    path = Path(rest).expanduser()
    if not path.exists():
        return []
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return [path] if sum(p.stat().st_size for p in files) <= _HASH_DATA_LIMIT else []


def extract(
    ckpt: str | Path | RawCheckpoint,
    *,
    data: str | None = None,
    calib_samples: int = 256,
    seed: int = 0,
    model: str | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    dialect: str = "v0.4",
    pad: bool = False,
    trust: bool = False,
    batch_size: int = 64,
    out: str | Path | None,
    batches: Iterable[torch.Tensor] | None = None,
    channels_last: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
    masks: bool = False,
) -> ExtractResult:
    """Extract every conv/linear layer of a checkpoint as a Timeloop problem with measured densities.

    Args:
        ckpt: checkpoint file (ours, a plain/prune state_dict, or a trusted pickled module), or a
            ``RawCheckpoint`` already in memory (``sparse_hw.extract.inmemory``).
        data: calibration dataset spec; default: the dataset recorded in the checkpoint.
        calib_samples: number of calibration samples (a seeded subset of the test split).
        seed: seed of the calibration subset (recorded in every record and the manifest).
        model: registry name of the architecture (required for plain state dicts).
        model_kwargs: constructor arguments of ``model`` (plain state dicts only).
        dialect: ``v0.4`` (timeloopfe, underscore keys) or ``v0.3`` (Timeloop v3.0.3, hyphenated keys).
        pad: pad dimensions with a prime factor > 7 to the next 7-smooth size in the problems.
        trust: allow arbitrary pickles (``--trust-checkpoint``); unpickling can run code.
        batch_size: calibration batch size.
        out: output folder (replaced as a whole, atomically, when a sparse-hw stage wrote it; never an
            input, a file or a folder of someone else's).
        force: replace ``out`` even when sparse-hw did not write it (inputs and files are still refused).
        masks: also store the first calibration sample's nonzero masks (``masks/``, :mod:`.masks`).
        batches: calibration input tensors to use instead of a dataset (Python callers only).
        channels_last: run 4-D inputs channels-last (default: yes for image models).
        progress: called as ``progress(samples_done, samples_total)``.

    Raises:
        CheckpointError: unreadable, untrusted or mismatched checkpoint.
        DataError: missing or unsuitable calibration data.
        ConfigError: bad settings, or a model with nothing to extract.
    """
    if dialect not in DIALECTS:
        raise ConfigError(
            f"unknown dialect {dialect!r}", key_path="dialect", fix="use --dialect v0.3 or v0.4"
        )
    if calib_samples < 1 or batch_size < 1:
        raise ConfigError(
            f"calib_samples and batch_size must be >= 1 (got {calib_samples}, {batch_size})",
            key_path="calib_samples" if calib_samples < 1 else "batch_size",
            fix="use a positive number",
        )
    from ..limits import MAX_SEED

    if not 0 <= seed <= MAX_SEED:  # numpy's seed range; beyond it numpy fails inside
        raise ConfigError(f"seed must be between 0 and {MAX_SEED}, got {seed}", key_path="seed",
                          fix="use --seed with a number in that range, e.g. 0")
    refuse_with_pad(masks, pad)
    if out is not None:  # None: records only, nothing written (the in-memory API)
        ckpt_path = ckpt.path if isinstance(ckpt, RawCheckpoint) else ckpt
        check_out_dir(out, inputs=[ckpt_path, *_data_paths(data)], force=force)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    raw = ckpt if isinstance(ckpt, RawCheckpoint) else read_checkpoint(ckpt, trust=trust)
    calib = _calibration(raw, data, batches, calib_samples=calib_samples, batch_size=batch_size, seed=seed,
                         trust=trust)
    loaded = build(raw, model_name=model, model_kwargs=model_kwargs, bundle=calib.bundle)
    _check_input_kind(loaded, calib.bundle)
    torch_model = loaded.model.eval()
    layers = extractable_layers(torch_model)
    if not layers:
        raise ConfigError(
            f"model {loaded.model_name!r} has no Conv1d, Conv2d or Linear layer to extract",
            file=raw.path,
            fix="the extractor models conv and linear layers as Timeloop problems",
        )
    seconds["load"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    torch.manual_seed(seed)
    total = calib_samples if batches is None else 0
    tracer = MatmulTracer(torch_model, layers)  # functional products (attention) beside the layers
    sample = FirstSample(calib.batches) if masks else None
    try:
        with tracer:
            flow, meas = calibrate(
                torch_model, calib.batches if sample is None else sample, layers, channels_last=channels_last,
                progress=(lambda done: progress(done, max(total, done))) if progress is not None else None,
            )  # fmt: skip
    except DataError as exc:
        if loaded.rebuilt:
            raise DataError(
                f"{exc.render()} (layers rebuilt with the checkpoint's shapes: {'; '.join(loaded.rebuilt[:4])})",
                key_path="data",
                fix="check --model/--model-kwargs: the weights may belong to another architecture",
            ) from None
        raise
    use_cl = meas.channels_last
    calib_info = CalibrationInfo(
        **calib.info, seed=seed, samples_requested=calib_samples, samples=meas.samples, batches=meas.batches,
        batch_size=batch_size, channels_last=use_cl,
    )  # fmt: skip
    records = _records(loaded, layers, flow, meas, calib.info, seed=seed, pad=pad)
    records = merge_records(records, tracer, torch_model, pad=pad,
                            where=f"{meas.samples} calibration samples of {calib.info['data']} (sample seed {seed})")
    layer_masks = capture(torch_model, sample.first, records, flow) if sample is not None else None
    seconds["calibrate"] = time.perf_counter() - t1

    notes = list(loaded.notes)
    if meas.samples < calib_samples and batches is None:
        notes.append(f"the calibration data has only {meas.samples} samples (asked for {calib_samples})")
    if (note := unexpressed_note(tracer)) is not None:
        notes.append(note)
    unmodeled = unmodeled_products(tracer, model=loaded.model_name, checkpoint=raw.checkpoint_id,
                                   start=len(records))
    if flow.not_run:
        notes.append(f"not executed on the calibration data, not extracted: {', '.join(flow.not_run)}")
    skipped = unsupported_weight_layers(torch_model)
    if skipped:
        notes.append(f"layers without a Timeloop CNN-layer form, not extracted: {', '.join(skipped)}")
    awkward = [r for r in records if r.prime_dims]
    if awkward and not pad:
        notes.append(
            f"{len(awkward)} layers have dimensions with a prime factor > 7 (column prime_dims); "
            "--pad pads them to factorizable sizes"
        )

    t2 = time.perf_counter()
    written = dict.fromkeys(("out", "layers_csv", "layers_json", "weight_hist", "manifest")) | {"problems": ()}
    if out is not None:
        written = _write(
            out,
            records,
            loaded,
            raw,
            calib_info,
            dialect=dialect,
            pad=pad,
            notes=notes,
            settings={
                "calib_samples": calib_samples,
                "batch_size": batch_size,
                "dialect": dialect,
                "pad": pad,
                "trust": trust,
                "model": model,
                "model_kwargs": dict(model_kwargs or {}),
                "data": calib_info.data,
                "channels_last": use_cl,
                "masks": masks,
            },
            force=force,
            masks=layer_masks,
            unmodeled=unmodeled,
        )
    seconds["write"] = time.perf_counter() - t2
    return ExtractResult(
        records=tuple(records),
        model=loaded.model_name,
        checkpoint_id=raw.checkpoint_id,
        notes=tuple(notes),
        seconds=seconds,
        unmodeled=tuple(unmodeled),
        **written,
    )


def _write(
    out: str | Path,
    records: list[LayerRecord],
    loaded: LoadedModel,
    raw: RawCheckpoint,
    calib: CalibrationInfo,
    *,
    dialect: str,
    pad: bool,
    notes: list[str],
    settings: dict[str, Any],
    force: bool = False,
    masks: dict[str, Any] | None = None,
    unmodeled: Sequence[UnmodeledLayer] = (),
) -> dict[str, Any]:
    import pandas as pd

    out = Path(out)
    problem_names = [problem_filename(r) for r in records]
    weights = {r.layer: loaded.model.get_submodule(r.layer).weight for r in records if r.op != MATMUL_OP}
    hist = weight_histogram(weights, model=loaded.model_name, checkpoint=raw.checkpoint_id)
    facts = _checkpoint_facts(raw)
    layers_file = LayersFile(
        model=loaded.model_name, model_kwargs=_jsonable(loaded.model_kwargs), checkpoint=raw.checkpoint_id,
        checkpoint_file=raw.path.name, checkpoint_sha256=raw.sha256, checkpoint_source=raw.source, **facts,
        checkpoint_meta=raw.meta.model_dump(mode="json") if raw.meta is not None else None,
        calibration=calib, dialect=dialect, pad=pad, notes=notes, layers=[r.to_dict() for r in records],
        unmodeled=[u.to_dict() for u in unmodeled],
    )  # fmt: skip
    checks: set[str] = set()
    inputs = [raw.path, *_data_paths(calib.data)]
    texts: dict[str, str] = {}
    with atomic_dir(out, force=force, inputs=inputs) as tmp:
        for record, name in zip(records, problem_names, strict=True):
            header = _header(record, raw, dialect)
            texts[record.layer] = render_problem(record, dialect=dialect, header=header)
            path = atomic_write(tmp / PROBLEMS_DIR / name, texts[record.layer])
            checks.update(check_problem(path, record))
        table = layer_table(records, unmodeled)  # unmodeled rows last: named, with the reason, no problem
        mask_files = write_masks(tmp, records, masks, texts) if masks is not None else {}
        if masks is not None:
            table[MASK_COLUMN] = [mask_files[r.layer][0] if r.layer in mask_files else ""
                                  for r in (*records, *unmodeled)]
        atomic_write(tmp / LAYERS_CSV, table.to_csv(index=False))
        atomic_write(
            tmp / WEIGHT_HIST_CSV, pd.DataFrame(hist, columns=list(HIST_COLUMNS)).to_csv(index=False)
        )
        atomic_write_json(tmp / LAYERS_JSON, layers_file.model_dump(mode="json"))
        seeds: dict[str, int | None] = {"calibration": calib.seed, "dataset": calib.dataset_seed}
        if raw.meta is not None:
            seeds["training"] = raw.meta.seed
        manifest = RunManifest(
            stage="extract", seeds=seeds,
            settings=settings | {"model_name": loaded.model_name, "checkpoint_id": raw.checkpoint_id,
                                 "checkpoint_source": raw.source, "layers": len(records),
                                 "roundtrip_checks": sorted(checks), "samples": calib.samples,
                                 "batches": calib.batches, "notes": notes},
        )  # fmt: skip
        manifest.inputs[str(raw.path)] = raw.sha256  # hashed once, when read
        for p in _dataset_inputs(calib.data):
            manifest.add_input(p)
        manifest.outputs = [
            LAYERS_CSV,
            LAYERS_JSON,
            WEIGHT_HIST_CSV,
            *(f"{PROBLEMS_DIR}/{n}" for n in problem_names),
            *(f for files in mask_files.values() for f in files),
        ]
        manifest.finish().write(tmp)
    return {
        "out": out,
        "layers_csv": out / LAYERS_CSV,
        "layers_json": out / LAYERS_JSON,
        "weight_hist": out / WEIGHT_HIST_CSV,
        "manifest": out / "manifest.json",
        "problems": tuple(out / PROBLEMS_DIR / n for n in problem_names),
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: list(v) if isinstance(v, tuple) else str(v)))


def read_layers_file(folder: str | Path) -> LayersFile:
    """``layers.json`` of an extract folder, validated.

    Raises:
        DataError: the folder is not an extract output or the file is unreadable/invalid.
    """
    path = Path(folder) / LAYERS_JSON
    if not path.is_file():
        raise DataError(
            f"not an extract folder: {LAYERS_JSON} is missing",
            file=Path(folder),
            fix="pass a folder written by `sparse-hw extract`",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        layers = LayersFile.model_validate(data)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"not valid JSON: {exc}", file=path, line=exc.lineno, fix="re-run `sparse-hw extract`"
        ) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise DataError(
            f"{len(exc.errors())} invalid entries, e.g. {first['msg']}",
            file=path,
            key_path=".".join(str(p) for p in first["loc"]),
            fix="re-run `sparse-hw extract` with this sparse-hw version",
        ) from None
    if layers.format != LAYERS_FORMAT or layers.format_version > LAYERS_FORMAT_VERSION:
        raise DataError(
            f"unsupported layers file {layers.format!r} version {layers.format_version}",
            file=path,
            key_path="format_version",
            fix="upgrade sparse-hw or re-run `sparse-hw extract`",
        )
    return layers


def load_layer_records(folder: str | Path) -> list[LayerRecord]:
    """The LayerRecords of an extract folder (from ``layers.json``, full precision), in layer order."""
    path = Path(folder) / LAYERS_JSON
    layers = read_layers_file(folder)
    records = [LayerRecord.from_dict(d, source=str(path)) for d in layers.layers]
    return sorted(records, key=lambda r: r.order)


__all__ = [
    "LAYERS_CSV",
    "LAYERS_JSON",
    "PROBLEMS_DIR",
    "WEIGHT_HIST_CSV",
    "CalibrationInfo",
    "ExtractResult",
    "LayersFile",
    "extract",
    "load_layer_records",
    "read_layers_file",
]
