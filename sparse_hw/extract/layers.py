"""Per module type: how a torch layer becomes a Timeloop CNN-layer problem (N, C, M, R, S, P, Q, G).

One function per module type, chosen through :data:`GEOMETRY` (looked up along the class's MRO, so a
subclass of ``nn.Conv2d`` is a conv2d). Shapes come from the activations a forward hook observed, not
from formulas: a PointNet++ set-abstraction 1x1 conv over ``[B, C, nsample, npoint]`` gets
P = npoint and Q = nsample from the tensor it really saw.

Convention (see :mod:`.record`): P = output width with R = kernel width and the width stride, Q = output
height with S = kernel height and the height stride (Timeloop's ``Inputs[N][C][R*Wdilation + P*Wstride]
[S*Hdilation + Q*Hstride]``, reference README "Layers and densities"). A 1-D convolution runs along Q.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError


@dataclass(frozen=True)
class Observation:
    """What the discovery pass saw of one module: per-call input/output shapes and calls per forward."""

    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    calls: int
    batch: int
    """Batch size of the discovery pass (the leading dimension of the model input)."""


@dataclass(frozen=True)
class Geometry:
    """A layer's Timeloop dimensions plus what the problem does not carry (padding)."""

    op: str
    N: int
    C: int
    M: int
    R: int
    S: int
    P: int
    Q: int
    G: int
    stride_h: int = 1
    stride_w: int = 1
    dilation_h: int = 1
    dilation_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    in_h: int = 1
    """Height of the real input (pairs with Q and S; the rows of a linear layer)."""
    in_w: int = 1
    """Width of the real input (pairs with P and R)."""


@dataclass(frozen=True)
class InputWindow:
    """What Timeloop's Inputs tensor spans of a convolution's input, per spatial axis.

    The problem's input is the window ``[0, size)`` of the *padded* input: ``size = (out - 1) * stride +
    (kernel - 1) * dilation + 1`` (the projection ``R*Wdilation + P*Wstride``). The real data sits at
    ``[before, before + real)`` of it; everything else is padding (zeros unless ``mode`` says otherwise),
    and real elements past ``size`` (a stride that does not divide) are never read.
    """

    axes: tuple[int, ...]
    """Tensor axes of the spatial dimensions (``(2, 3)`` for ``[B, C, H, W]``)."""
    before: tuple[int, ...]
    """Padding elements before the real data on each axis."""
    size: tuple[int, ...]
    """Window extent on each axis."""
    real: tuple[int, ...]
    """Real input extent on each axis."""
    mode: str = "zeros"
    """The module's ``padding_mode``: ``zeros``, or ``reflect``/``replicate``/``circular`` (data in the border)."""

    @property
    def keep(self) -> tuple[int, ...]:
        """Real elements inside the window on each axis (the first ones: the window cuts at the end)."""
        return tuple(max(0, min(r, s - b)) for b, s, r in zip(self.before, self.size, self.real, strict=True))

    @property
    def identity(self) -> bool:
        """Whether the window is exactly the input (no padding, nothing cut)."""
        return all(b == 0 and s == r for b, s, r in zip(self.before, self.size, self.real, strict=True))


def input_window(module: nn.Module, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> InputWindow | None:
    """The Inputs window of a Conv1d/Conv2d call (None for other layers: their input is the problem's)."""
    if not isinstance(module, nn.Conv1d | nn.Conv2d) or len(in_shape) != len(out_shape) or len(in_shape) < 3:
        return None
    axes = tuple(range(2, len(in_shape)))
    before, size = [], []
    for i, axis in enumerate(axes):
        k, s, d = int(module.kernel_size[i]), int(module.stride[i]), int(module.dilation[i])
        out = int(out_shape[axis])
        before.append(_pad(module, i, int(in_shape[axis]), out, k, s, d))
        size.append((out - 1) * s + (k - 1) * d + 1)
    real = tuple(int(in_shape[a]) for a in axes)
    return InputWindow(axes, tuple(before), tuple(size), real, str(getattr(module, "padding_mode", "zeros")))


def window_tensor(window: InputWindow, x: torch.Tensor) -> torch.Tensor:
    """The Inputs window of ``x`` as a tensor: the border filled as the module's ``padding_mode`` fills it
    (zeros, or data), trailing elements past ``size`` cut (the one pad-and-cut of measurement and masks)."""
    pads: list[int] = []
    for b, s, r in reversed(list(zip(window.before, window.size, window.real, strict=True))):
        pads += [b, max(0, s - b - r)]  # F.pad's order: last axis first, (before, after)
    if any(pads):
        x = torch.nn.functional.pad(x, pads, mode="constant" if window.mode == "zeros" else window.mode)
    for axis, size in zip(window.axes, window.size, strict=True):
        x = x.narrow(axis, 0, size)
    return x


def _instances(name: str, obs: Observation) -> int:
    """Instances per sample: calls per forward x (leading dim / batch) (1 for an ordinary layer)."""
    lead = obs.in_shape[0] if obs.in_shape else obs.batch
    if lead % obs.batch:
        raise ConfigError(
            f"layer {name!r} sees a leading dimension of {lead}, not a multiple of the batch ({obs.batch})",
            key_path=name,
            fix="the extractor needs the batch on the first axis of every conv/linear input",
        )
    return obs.calls * (lead // obs.batch)


def _pad(module: nn.Module, axis: int, in_size: int, out_size: int, k: int, stride: int, dil: int) -> int:
    """Zero padding on one side of ``axis`` (numeric, or derived for 'same'/'valid')."""
    padding = module.padding
    if isinstance(padding, str):
        total = max((out_size - 1) * stride + dil * (k - 1) + 1 - in_size, 0)
        return total // 2
    return int(padding[axis])


def _conv_op(module: nn.Module, kernel_area: int, one_d: bool) -> tuple[str, int, int, int]:
    """(op, C per group, M per group, G) of a convolution."""
    groups = int(module.groups)
    cin, cout = int(module.in_channels), int(module.out_channels)
    if groups == 1:
        op = "conv1d" if one_d else ("pointwise" if kernel_area == 1 else "conv2d")
        return op, cin, cout, 1
    op = "depthwise" if groups == cin else "grouped"
    return op, cin // groups, cout // groups, groups


def _require_layout(name: str, kind: str, obs: Observation, layout: list[str]) -> None:
    """A convolution's input and output must both have the rank of ``layout`` (batch first)."""
    if len(obs.in_shape) != len(layout) or len(obs.out_shape) != len(layout):
        raise ConfigError(
            f"layer {name!r} ({kind}) saw input {list(obs.in_shape)} / output {list(obs.out_shape)}",
            key_path=name,
            fix=f"feed batched [{', '.join(layout)}] inputs",
        )


def conv2d_geometry(name: str, module: nn.Conv2d, obs: Observation) -> Geometry:
    """Conv2d over ``[B, C, H, W]``: P = output width, Q = output height, R = kernel width, S = height."""
    _require_layout(name, "Conv2d", obs, ["B", "C", "H", "W"])
    kh, kw = (int(k) for k in module.kernel_size)
    sh, sw = (int(s) for s in module.stride)
    dh, dw = (int(d) for d in module.dilation)
    op, c, m, g = _conv_op(module, kh * kw, one_d=False)
    h_in, w_in = obs.in_shape[2], obs.in_shape[3]
    q, p = obs.out_shape[2], obs.out_shape[3]
    return Geometry(
        op=op, N=_instances(name, obs), C=c, M=m, R=kw, S=kh, P=p, Q=q, G=g,
        stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
        pad_h=_pad(module, 0, h_in, q, kh, sh, dh), pad_w=_pad(module, 1, w_in, p, kw, sw, dw),
        in_h=h_in, in_w=w_in,
    )  # fmt: skip


def conv1d_geometry(name: str, module: nn.Conv1d, obs: Observation) -> Geometry:
    """Conv1d over ``[B, C, L]`` (PointNet shared MLPs): the length runs on Q, kernel on S; P = R = 1."""
    _require_layout(name, "Conv1d", obs, ["B", "C", "L"])
    (k,), (s,), (d,) = module.kernel_size, module.stride, module.dilation
    op, c, m, g = _conv_op(module, int(k), one_d=True)
    return Geometry(
        op=op, N=_instances(name, obs), C=c, M=m, R=1, S=int(k), P=1, Q=obs.out_shape[2], G=g,
        stride_h=int(s), stride_w=1, dilation_h=int(d), dilation_w=1,
        pad_h=_pad(module, 0, obs.in_shape[2], obs.out_shape[2], int(k), int(s), int(d)), pad_w=0,
        in_h=obs.in_shape[2], in_w=1,
    )  # fmt: skip


def linear_geometry(name: str, module: nn.Linear, obs: Observation) -> Geometry:
    """Linear: C = in features, M = out features, R = S = P = 1; extra leading axes (tokens) go on Q."""
    if len(obs.in_shape) < 2:
        raise ConfigError(
            f"layer {name!r} (Linear) saw an unbatched input {list(obs.in_shape)}",
            key_path=name,
            fix="feed batched inputs",
        )
    rows = math.prod(obs.in_shape[1:-1])
    return Geometry(
        op="linear", N=_instances(name, obs), C=int(module.in_features), M=int(module.out_features),
        R=1, S=1, P=1, Q=rows, G=1, in_h=rows, in_w=1,
    )  # fmt: skip


#: Module type -> geometry function. Only these layers become problems.
GEOMETRY: dict[type[nn.Module], Callable[[str, nn.Module, Observation], Geometry]] = {
    nn.Conv2d: conv2d_geometry,
    nn.Conv1d: conv1d_geometry,
    nn.Linear: linear_geometry,
}


def geometry_function(module: nn.Module) -> Callable[[str, nn.Module, Observation], Geometry] | None:
    """The geometry function of ``module``'s type (or of its nearest registered base class)."""
    for cls in type(module).__mro__:
        if cls in GEOMETRY:
            return GEOMETRY[cls]
    return None


def extractable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every module with a geometry function, in definition order (``named_modules``)."""
    return {name: m for name, m in model.named_modules() if name and geometry_function(m) is not None}


_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def unsupported_weight_layers(model: nn.Module) -> list[str]:
    """Modules that hold a weight but have no geometry (ConvTranspose, Conv3d, Embedding, ...)."""
    out = []
    for name, m in model.named_modules():
        if geometry_function(m) is not None or isinstance(m, _NORMS):
            continue
        if isinstance(getattr(m, "weight", None), torch.Tensor):
            out.append(f"{name} ({type(m).__name__})")
    return out


__all__ = [
    "GEOMETRY",
    "Geometry",
    "InputWindow",
    "Observation",
    "conv1d_geometry",
    "conv2d_geometry",
    "extractable_layers",
    "geometry_function",
    "input_window",
    "window_tensor",
    "linear_geometry",
    "unsupported_weight_layers",
]
