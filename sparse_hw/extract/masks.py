"""``extract --masks``: the real nonzero masks of one calibration sample, for the actual-data model.

Per layer, one bit-packed ``masks/NNN_<layer>.npz`` holds the Weights, Inputs and Outputs masks of
the *first* calibration sample (the seeded subset's first, so the same seed gives the same masks),
flattened in the layer problem's projection order with the first rank fastest (the artifact's
``actual_data`` format, read by :mod:`sparse_hw.model.masks`). Beside it ``masks/NNN_<layer>.yaml``
is the layer's problem with ``distribution: real-data`` pointing at those masks
(``NNN_<layer>.npz#Inputs``), so ``sparse-hw model`` evaluates a mapping on the real zeros.

What each mask holds:

* Inputs: the layer's input with the convolution's padding border (Timeloop's input tensor spans the
  padded window ``(P-1)*stride + (R-1)*dilation + 1``), so zero padding counts as zeros (the same window
  the problem's ``input_density_padded`` counts);
* Outputs: what the next layer sees (its input, after ReLU/BN) when that has the layer's output
  shape, as the measured ``output_density``; else (pooling in between, last layer) the layer's own
  output;
* Weights: the checkpoint's weights.

The zip is written with fixed timestamps: the same inputs give the same bytes.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from ..actual import MASK_COLUMN
from ..errors import ConfigError
from ..io import atomic_write, dump_yaml
from .activations import Dataflow
from .layers import input_window, window_tensor
from .record import LayerRecord
from .render import PROJECTIONS

MASKS_DIR = "masks"
TENSORS = ("Weights", "Inputs", "Outputs")
#: canonical axes of each tensor (see ``_canonical``) by the first dimension of a projection rank
_AXES = {
    "Weights": {"G": 0, "M": 1, "C": 2, "S": 3, "R": 4},
    "Inputs": {"N": 0, "G": 1, "C": 2, "S": 3, "R": 4},
    "Outputs": {"N": 0, "G": 1, "M": 2, "Q": 3, "P": 4},
}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class FirstSample:
    """Passes calibration batches through unchanged and keeps a copy of the very first sample."""

    def __init__(self, batches: Iterable[torch.Tensor]) -> None:
        self._batches = batches
        self.first: torch.Tensor | None = None

    def __iter__(self) -> Iterator[torch.Tensor]:
        for x in self._batches:
            if self.first is None and isinstance(x, torch.Tensor) and x.dim() >= 1 and len(x):
                self.first = x[:1].detach().clone().contiguous()
            yield x


def mask_filename(record: LayerRecord) -> str:
    """``NNN_<layer>.npz`` (the problem file's name with another suffix)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", record.layer).strip("._") or "layer"
    return f"{record.order:03d}_{safe}.npz"


# ------------------------------------------------------------------------------------- capture
def _run(model: nn.Module, sample: torch.Tensor, modules: Mapping[str, nn.Module]):
    ins: dict[str, list[torch.Tensor]] = {n: [] for n in modules}
    outs: dict[str, list[torch.Tensor]] = {n: [] for n in modules}
    handles = []
    for name, module in modules.items():
        handles.append(module.register_forward_pre_hook(
            lambda mod, args, name=name: ins[name].append(args[0].detach().contiguous().clone())))
        handles.append(module.register_forward_hook(
            lambda mod, args, out, name=name: outs[name].append(out.detach().contiguous().clone())))
    try:
        with torch.inference_mode():
            model(sample)
    finally:
        for h in handles:
            h.remove()
    return ins, outs


def _canonical_activation(record: LayerRecord, t: torch.Tensor, channels: int) -> np.ndarray:
    """``[N, G, C/G, H, W]`` of one sample's activations (a convolution's inputs come as their window:
    `layers.window_tensor`)."""
    x = t.float()
    if record.module_type == "Linear" or record.op == "linear":
        x = x.reshape(record.N, -1, x.shape[-1]).transpose(1, 2).unsqueeze(-1)  # [N, C, rows, 1]
    elif x.dim() == 3:  # conv1d: along Q (height)
        x = x.unsqueeze(-1)
    x = x.reshape(record.N, record.G, channels, x.shape[-2], x.shape[-1])
    return (x != 0).numpy()


def _canonical_weight(record: LayerRecord, w: torch.Tensor) -> np.ndarray:
    """``[G, M, C, S, R]`` of the weights (M and C per group)."""
    x = w.detach().float()
    if x.dim() == 2:
        x = x.reshape(x.shape[0], x.shape[1], 1, 1)
    elif x.dim() == 3:
        x = x.unsqueeze(-1)
    x = x.reshape(record.G, record.M, record.C, x.shape[-2], x.shape[-1])
    return (x != 0).numpy()


def flatten(record: LayerRecord, tensor: str, canonical: np.ndarray) -> np.ndarray:
    """A canonical mask flattened in the problem's projection order, first rank fastest."""
    ranks = [coord[0][0] for coord in PROJECTIONS[record.grouped][tensor]]
    axes = [_AXES[tensor][d] for d in ranks]
    keep = set(axes)
    squeezed = [a for a in range(canonical.ndim) if a not in keep]
    arr = canonical.squeeze(axis=tuple(squeezed)) if squeezed else canonical
    remaining = [a for a in range(canonical.ndim) if a in keep]
    order = [remaining.index(a) for a in reversed(axes)]  # slowest first, numpy's C order
    return np.ascontiguousarray(arr.transpose(order)).ravel()


def _input_window(module: nn.Module, inputs: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
    """A layer's input as Timeloop's Inputs tensor: a convolution's padded window (the same window
    ``input_density_padded`` counts), any other layer's input as it is."""
    window = input_window(module, tuple(inputs.shape), tuple(own.shape))
    return inputs if window is None else window_tensor(window, inputs)


def capture(
    model: nn.Module, sample: torch.Tensor, records: Iterable[LayerRecord], flow: Dataflow
) -> dict[str, dict[str, np.ndarray]]:
    """Layer -> {tensor: flat bool mask} for one sample (matmul records have no module: skipped)."""
    records = [r for r in records if r.op != "matmul"]
    names = {r.layer for r in records}
    names |= {flow.consumers[n] for n in names if n in flow.consumers}
    modules = {n: model.get_submodule(n) for n in sorted(names)}
    ins, outs = _run(model, sample, modules)
    out: dict[str, dict[str, np.ndarray]] = {}
    for r in records:
        module = modules[r.layer]
        inputs = torch.cat(ins[r.layer], dim=0)
        own = torch.cat(outs[r.layer], dim=0)
        consumer = flow.consumers.get(r.layer)
        seen = torch.cat(ins[consumer], dim=0) if consumer is not None else None
        output = seen if seen is not None and seen.shape == own.shape else own
        out[r.layer] = {
            "Weights": flatten(r, "Weights", _canonical_weight(r, module.weight)),
            "Inputs": flatten(r, "Inputs", _canonical_activation(r, _input_window(module, inputs, own), r.C)),
            "Outputs": flatten(r, "Outputs", _canonical_activation(r, output, r.M)),
        }
    return out


# ------------------------------------------------------------------------------------- files
def pack(masks: Mapping[str, np.ndarray]) -> bytes:
    """An .npz of bit-packed masks (``<T>``) and their element counts (``<T>_size``), fixed timestamps."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, mask in masks.items():
            flat = np.asarray(mask, dtype=bool).ravel()
            size = np.array(flat.size, dtype=np.int64)
            for key, arr in ((name, np.packbits(flat)), (f"{name}_size", size)):
                data = io.BytesIO()
                np.lib.format.write_array(data, arr, allow_pickle=False)
                info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data.getvalue())
    return buf.getvalue()


def unpack(path: str | Path) -> dict[str, np.ndarray]:
    """The flat boolean masks of an .npz written by :func:`pack`."""
    with np.load(path, allow_pickle=False) as z:
        return {k: np.unpackbits(z[k], count=int(z[f"{k}_size"])).astype(bool)
                for k in z.files if not k.endswith("_size")}


def real_data_problem(problem_text: str, npz_name: str) -> str:
    """The problem with every tensor's density replaced by its mask (``NPZ#Tensor``, beside the file)."""
    doc = yaml.safe_load(problem_text)
    densities = doc["problem"]["instance"].get("densities") or {}
    key = "data-file-path" if "data-spaces" in doc["problem"].get("shape", {}) else "data_file_path"
    for tensor in TENSORS:
        densities[tensor] = {"distribution": "real-data", key: f"{npz_name}#{tensor}"}
    doc["problem"]["instance"]["densities"] = densities
    header = "".join(line + "\n" for line in problem_text.splitlines() if line.startswith("#"))
    note = f"# real-data variant: densities are the masks in {npz_name} (first calibration sample)\n"
    return header + note + dump_yaml(doc)


def write_masks(
    folder: Path, records: Iterable[LayerRecord], masks: Mapping[str, Mapping[str, np.ndarray]],
    problem_texts: Mapping[str, str],
) -> dict[str, list[str]]:
    """Write every layer's .npz and real-data problem under ``folder/masks``.

    Returns {layer: [relative paths written]} (the .npz first)."""
    written: dict[str, list[str]] = {}
    for r in records:
        if r.layer not in masks:
            continue
        npz = mask_filename(r)
        atomic_write(folder / MASKS_DIR / npz, pack(masks[r.layer]))
        problem = npz[:-4] + ".yaml"
        atomic_write(folder / MASKS_DIR / problem, real_data_problem(problem_texts[r.layer], npz))
        written[r.layer] = [f"{MASKS_DIR}/{npz}", f"{MASKS_DIR}/{problem}"]
    return written


def refuse_with_pad(masks: bool, pad: bool) -> None:
    if masks and pad:
        raise ConfigError(
            "--masks and --pad cannot be combined: the masks hold the real tensors, the padded problems "
            "larger ones",
            key_path="masks",
            fix="drop --pad (simulate pads awkward dimensions itself, with zero masks)",
        )


__all__ = [
    "MASKS_DIR",
    "MASK_COLUMN",
    "FirstSample",
    "capture",
    "flatten",
    "mask_filename",
    "pack",
    "real_data_problem",
    "refuse_with_pad",
    "unpack",
    "write_masks",
]
