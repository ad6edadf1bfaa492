"""Forward hooks on real calibration data: layer shapes, the dataflow between layers, and measured densities.

Two jobs, done in one pass over the data by :func:`calibrate`:

1. :func:`discover` runs the first batch under a ``TorchFunctionMode`` that tags every tensor with the
   layers it derives from. It records each layer's input/output shapes and its *consumer*: the first
   layer (in execution order) whose input depends on this layer's output. The first dependent layer
   is always a direct one (any path through another layer would have run that layer first), so the
   consumer's input is exactly "this layer's output as the next layer sees it", after batch norm,
   activation, pooling or a residual add (the ops in between are recorded for the provenance).
2. :func:`measure` runs every calibration batch at full precision (float32, no quantization) with
   pre-hooks that count the nonzero elements of each layer's input; layers without a consumer (the
   network's last layer) also count their own output.

Padding: ``inputs`` counts the tensor handed to the module, without the zeros a convolution pads
around it. The Timeloop problem's Inputs tensor is the padded *window* instead
(:class:`.layers.InputWindow`: the padding border, minus trailing rows a stride leaves unread), so a
forward hook also counts that window exactly (``windows``): the real elements inside it, the border
as zeros (or as the data a ``reflect``/``replicate``/``circular`` padding puts there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from ..errors import ConfigError, DataError
from .layers import InputWindow, Observation, input_window, window_tensor

#: Torch functions that only look at a tensor (their results carry no data of the layer).
_METADATA_FUNCS = frozenset({
    "size", "dim", "numel", "__get__", "__set__", "stride", "is_contiguous", "data_ptr", "element_size",
    "__len__", "__iter__", "__bool__", "__index__", "__int__", "__float__", "item", "tolist", "is_floating_point",
    "is_complex", "get_device", "__format__", "__repr__",
})  # fmt: skip
_MAX_PATH = 8


@dataclass(frozen=True)
class Dataflow:
    """Shapes and consumers of the extractable layers, from one discovery pass."""

    observations: dict[str, Observation]
    consumers: dict[str, str]
    """Layer -> its consumer (layers absent here have none: their output leaves the network)."""
    paths: dict[str, tuple[str, ...]]
    """Layer -> the torch ops between its output and its consumer's input (at most 8, last ones kept)."""
    not_run: tuple[str, ...]
    """Extractable layers the forward pass never called."""


@dataclass(frozen=True)
class Count:
    """Nonzero and total elements of a tensor (summed over calibration batches)."""

    nnz: int
    numel: int

    @property
    def density(self) -> float:
        return self.nnz / self.numel if self.numel else 0.0


@dataclass(frozen=True)
class Measurement:
    """Counts of every layer's input (and of the outputs that have no consumer) over the calibration data."""

    inputs: dict[str, Count]
    outputs: dict[str, Count]
    samples: int
    batches: int
    channels_last: bool = False
    """Whether the batches ran in channels-last memory format (same values, faster 2-D convolutions)."""
    windows: dict[str, Count] = field(default_factory=dict)
    """Counts of each layer's Inputs *window* (the problem's tensor: padding border included, unread
    trailing rows excluded); a layer absent here has the window equal to its input (see :meth:`window`)."""

    def window(self, name: str) -> Count:
        """The count of ``name``'s Inputs window (its input count when the window is the input)."""
        return self.windows.get(name, self.inputs[name])


#: Attribute that carries a tensor's provenance during discovery (it lives and dies with the tensor,
#: so no tensor is kept alive and no recycled ``id`` can inherit stale tags).
_TAG = "_sparse_hw_sources"


class _Provenance(TorchFunctionMode):
    """Tags each tensor with ``{layer: ops since that layer's output}`` as functions combine tensors."""

    @staticmethod
    def tag(obj: Any, tags: dict[str, tuple[str, ...]]) -> None:
        for t in tree_flatten(obj)[0]:
            if isinstance(t, torch.Tensor) and not isinstance(t, nn.Parameter):
                setattr(t, _TAG, tags)

    @staticmethod
    def sources(obj: Any) -> dict[str, tuple[str, ...]]:
        found: dict[str, tuple[str, ...]] = {}
        for t in tree_flatten(obj)[0]:
            if isinstance(t, torch.Tensor):
                for layer, path in getattr(t, _TAG, {}).items():
                    found.setdefault(layer, path)
        return found

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "") or str(func)
        if name in _METADATA_FUNCS:
            return out
        found = self.sources((args, kwargs))
        if found:
            self.tag(
                out,
                {k: (p + (name,))[-_MAX_PATH:] if not p or p[-1] != name else p for k, p in found.items()},
            )
        return out


def count_nonzero(t: torch.Tensor) -> int:
    """Nonzero elements of ``t`` (exact). On CPU numpy's SIMD count is >10x faster than torch's.

    Same semantics as ``torch.count_nonzero``: -0.0 is zero, NaN is nonzero.
    """
    if t.device.type != "cpu" or t.dtype in (torch.bfloat16, torch.float16) or t.is_quantized:
        return int(torch.count_nonzero(t))
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        t = t.permute(0, 2, 3, 1)  # C-contiguous view of a channels-last tensor
    return int(np.count_nonzero(t.detach().numpy()))


def window_count(window: InputWindow, x: torch.Tensor) -> Count:
    """Nonzeros and elements of the Inputs window of ``x`` (exact; zero padding is not materialized)."""
    numel = x.numel() // max(1, int(np.prod(window.real))) * int(np.prod(window.size))
    if window.mode == "zeros" or not any(window.before):
        crop = x
        for axis, keep in zip(window.axes, window.keep, strict=True):
            crop = crop.narrow(axis, 0, keep)
        return Count(count_nonzero(crop) if crop.numel() else 0, numel)
    return Count(count_nonzero(window_tensor(window, x)), numel)


def _first_tensor(args: tuple, name: str) -> torch.Tensor:
    if not args or not isinstance(args[0], torch.Tensor):
        raise ConfigError(
            f"layer {name!r} was called without a tensor as its first argument",
            key_path=name,
            fix="the extractor measures the first positional input of every conv/linear layer",
        )
    return args[0]


def discover(
    model: nn.Module,
    example: torch.Tensor,
    layers: dict[str, nn.Module],
    *,
    on_input: Callable[[str, torch.Tensor], None] | None = None,
    on_output: Callable[[str, torch.Tensor], None] | None = None,
    on_call: Callable[[str, nn.Module, torch.Tensor, torch.Tensor], None] | None = None,
) -> Dataflow:
    """Run ``example`` once and record shapes, calls and consumers of ``layers``.

    ``on_input`` / ``on_output`` see every layer's input / output tensor of this pass, ``on_call`` the
    module with both (so that the discovery batch can be counted too instead of being run twice).

    Raises:
        DataError: the model does not run on the calibration data.
        ConfigError: a layer is called several times with different shapes.
    """
    mode = _Provenance()
    seen: dict[str, list[tuple[tuple[int, ...], tuple[int, ...]]]] = {n: [] for n in layers}
    pending: dict[str, tuple[int, ...]] = {}
    consumers: dict[str, str] = {}
    paths: dict[str, tuple[str, ...]] = {}
    handles = []
    for name, module in layers.items():

        def pre(mod, args, name=name):
            x = _first_tensor(args, name)
            pending[name] = tuple(x.shape)
            if on_input is not None:
                on_input(name, x)
            for src, path in mode.sources(x).items():
                if src != name and src not in consumers:
                    consumers[src], paths[src] = name, path

        def post(mod, args, out, name=name):
            if not isinstance(out, torch.Tensor):
                raise ConfigError(
                    f"layer {name!r} returned a {type(out).__name__}, not a tensor",
                    key_path=name,
                    fix="only conv/linear modules that return one tensor can be extracted",
                )
            seen[name].append((pending.pop(name), tuple(out.shape)))
            if on_output is not None:
                on_output(name, out)
            if on_call is not None:
                on_call(name, mod, args[0], out)
            mode.tag(out, {name: ()})

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        with torch.no_grad(), mode:
            model(example)
    except (ConfigError, DataError):
        raise
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        raise DataError(
            f"the model does not run on the calibration data (input {list(example.shape)}): {exc}",
            key_path="data",
            fix="pass --data with the dataset the model was trained on (or its kind and input size)",
        ) from None
    finally:
        for h in handles:
            h.remove()
    batch = int(example.shape[0])
    observations: dict[str, Observation] = {}
    for name, calls in seen.items():
        if not calls:
            continue
        shapes = {(i[1:], o[1:]) for i, o in calls}
        if len(shapes) > 1:
            raise ConfigError(
                f"layer {name!r} is called {len(calls)} times per forward pass with different shapes "
                f"{sorted(shapes)}; one Timeloop problem cannot describe it",
                key_path=name,
                fix="extract a model whose layers are each applied to one shape",
            )
        observations[name] = Observation(calls[0][0], calls[0][1], len(calls), batch)
    not_run = tuple(n for n in layers if n not in observations)
    return Dataflow(
        observations=observations,
        consumers={k: v for k, v in consumers.items() if k in observations},
        paths={k: v for k, v in paths.items() if k in observations},
        not_run=not_run,
    )


def split_first(batches: Iterable[torch.Tensor]) -> tuple[torch.Tensor, Iterator[torch.Tensor]]:
    """The first batch and an iterator over the remaining ones."""
    it = iter(batches)
    try:
        first = next(it)
    except StopIteration:
        raise DataError(
            "the calibration data is empty", key_path="data", fix="pass a dataset with samples"
        ) from None
    if not isinstance(first, torch.Tensor) or first.dim() < 2:
        raise DataError(
            f"calibration batches must be tensors [B, ...], got {type(first).__name__}",
            key_path="data",
            fix="yield input tensors only (no labels)",
        )
    return first, it


class _Tally:
    """Running nonzero / element counts per layer."""

    def __init__(self) -> None:
        self.nnz: dict[str, int] = {}
        self.numel: dict[str, int] = {}

    def add(self, name: str, t: torch.Tensor) -> None:
        self.nnz[name] = self.nnz.get(name, 0) + count_nonzero(t)
        self.numel[name] = self.numel.get(name, 0) + t.numel()

    def counts(self, names: Iterable[str]) -> dict[str, Count]:
        return {n: Count(self.nnz.get(n, 0), self.numel.get(n, 0)) for n in names}


class _WindowTally(_Tally):
    """Running counts of the Inputs windows that differ from the input (padded or cut convolutions)."""

    def add_call(self, name: str, module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> None:
        window = input_window(module, tuple(x.shape), tuple(out.shape))
        if window is None or window.identity:
            return
        count = window_count(window, x)
        self.nnz[name] = self.nnz.get(name, 0) + count.nnz
        self.numel[name] = self.numel.get(name, 0) + count.numel

    def counts(self, names: Iterable[str]) -> dict[str, Count]:
        return {n: Count(self.nnz[n], self.numel[n]) for n in names if n in self.nnz}


def _formatted(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


def _count_pass(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    layers: dict[str, nn.Module],
    own_output: set[str],
    inputs: _Tally,
    outputs: _Tally,
    windows: _WindowTally,
    *,
    channels_last: bool,
    progress: Callable[[int], None] | None,
    samples: int,
) -> tuple[int, int]:
    """Run ``batches`` with counting hooks; returns (samples, batches) done, ``samples`` included."""
    handles = []
    for name, module in layers.items():
        handles.append(
            module.register_forward_pre_hook(lambda mod, args, name=name: inputs.add(name, args[0]))
        )
        handles.append(module.register_forward_hook(
            lambda mod, args, out, name=name: windows.add_call(name, mod, args[0], out)))
        if name in own_output:
            handles.append(
                module.register_forward_hook(lambda mod, args, out, name=name: outputs.add(name, out))
            )
    done = 0
    try:
        with torch.inference_mode():
            for x in batches:
                model(_formatted(x, channels_last))
                samples += int(x.shape[0])
                done += 1
                if progress is not None:
                    progress(samples)
    finally:
        for h in handles:
            h.remove()
    return samples, done


def measure(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    layers: dict[str, nn.Module],
    *,
    own_output: Iterable[str] = (),
    channels_last: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Measurement:
    """Count nonzeros of every layer's input (and of ``own_output`` layers' outputs) over ``batches``.

    Args:
        model: the network, in eval mode.
        batches: calibration input tensors ``[B, ...]``.
        layers: the layers to count, by name.
        own_output: layers whose output is counted too (those without a consumer).
        channels_last: run 4-D inputs in channels-last memory format (faster convolutions on CPU; the
            values, hence the counts, are the same).
        progress: called with the number of samples done after each batch.
    """
    want_out = set(own_output)
    inputs, outputs, windows = _Tally(), _Tally(), _WindowTally()
    samples, done = _count_pass(
        model,
        batches,
        layers,
        want_out,
        inputs,
        outputs,
        windows,
        channels_last=channels_last,
        progress=progress,
        samples=0,
    )
    return Measurement(
        inputs=inputs.counts(layers),
        outputs=outputs.counts(want_out),
        samples=samples,
        batches=done,
        channels_last=channels_last,
        windows=windows.counts(layers),
    )


def calibrate(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    layers: dict[str, nn.Module],
    *,
    channels_last: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Dataflow, Measurement]:
    """:func:`discover` on the first batch and :func:`measure` on all of them, in one pass over the data.

    The first batch runs under the provenance mode with counting callbacks (its outputs are counted for
    every layer, since the consumers are not known yet; only the last layers' are kept), the rest with
    plain counting hooks. Counts are the same as two separate passes, at the cost of one.

    ``channels_last=None`` picks channels-last for 4-D (image) batches: oneDNN's preferred layout for
    2-D convolutions on CPU. The model is converted in place.
    """
    first, rest = split_first(batches)
    if channels_last is None:
        channels_last = first.dim() == 4
    if channels_last:
        model.to(memory_format=torch.channels_last)
    first = _formatted(first, channels_last)
    inputs, outputs, windows = _Tally(), _Tally(), _WindowTally()
    flow = discover(model, first, layers, on_input=inputs.add, on_output=outputs.add, on_call=windows.add_call)
    samples = int(first.shape[0])
    if progress is not None:
        progress(samples)
    ran = {n: m for n, m in layers.items() if n in flow.observations}
    last = {n for n in ran if n not in flow.consumers}
    samples, done = _count_pass(
        model,
        rest,
        ran,
        last,
        inputs,
        outputs,
        windows,
        channels_last=channels_last,
        progress=progress,
        samples=samples,
    )
    return flow, Measurement(
        inputs=inputs.counts(ran),
        outputs=outputs.counts(last),
        samples=samples,
        batches=done + 1,
        channels_last=channels_last,
        windows=windows.counts(ran),
    )


__all__ = [
    "Count",
    "Dataflow",
    "Measurement",
    "calibrate",
    "count_nonzero",
    "discover",
    "measure",
    "split_first",
    "window_count",
]
