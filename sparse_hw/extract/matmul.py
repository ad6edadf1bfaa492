"""Functional matrix products as Timeloop problems: ``torch.matmul`` / ``@`` / ``bmm`` / ``mm`` / ``addmm`` /
``baddbmm`` / ``F.linear`` (outside an ``nn.Linear``) / two-operand ``einsum``, and
``F.scaled_dot_product_attention`` as its two products QK^T and AV.

A :class:`MatmulTracer` (a ``TorchFunctionMode`` plus module-wide forward hooks naming the calling module)
runs around the calibration forward passes. It sees every product called from Python, counts the
nonzeros of both operands and of the result, and records the shape.

How a product ``[batch..., rows, K] x [batch..., K, cols]`` becomes a CNN-layer problem (the same
convention as ``nn.Linear`` in :mod:`.layers`: R = S = P = 1, the reduction on C, the rows on Q):

* both operands vary per instance (attention's QK^T and AV): G = instances per sample (heads),
  C = K, M = cols, Q = rows, N = 1. The grouped CNN-layer (Weights[C][M][G], Inputs[N][C][G]...,
  Outputs[N][G][M]...) gives every instance its own second operand, as attention needs;
* the second operand is shared by all instances (a parameter, or any 2-D tensor): like ``nn.Linear``,
  Q = rows x instances per sample, G = 1. A shared *first* operand (``W @ x``) is transposed first.

The second operand plays Timeloop's ``Weights``: an activation there gets its measured density and the
``hypergeometric`` model (``params`` and ``nnz`` stay 0: it stores no weights); a parameter gets the
checkpoint's density and zero pattern, as a layer's weights do. A product that fits neither form
(an einsum summing an index of one operand, a batch that is not the first axis, ...) is named with the
reason in the extract notes and as a layer-table row (``modeled`` False, :func:`unmodeled_products`),
never dropped silently.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..names import DensityModel
from .activations import count_nonzero
from .density import weight_pattern
from .padding import awkward_dims, padded_dims
from .record import LayerRecord, UnmodeledLayer

MATMUL_OP = "matmul"

#: function -> (label in layer names, where its two operands are)
_PRODUCTS: dict[Any, tuple[str, tuple[int, int]]] = {
    torch.matmul: ("matmul", (0, 1)),
    torch.Tensor.matmul: ("matmul", (0, 1)),
    torch.Tensor.__matmul__: ("matmul", (0, 1)),
    torch.bmm: ("bmm", (0, 1)),
    torch.Tensor.bmm: ("bmm", (0, 1)),
    torch.mm: ("mm", (0, 1)),
    torch.Tensor.mm: ("mm", (0, 1)),
    torch.addmm: ("addmm", (1, 2)),
    torch.baddbmm: ("baddbmm", (1, 2)),
}
_SDPA = F.scaled_dot_product_attention
_FUSED_MHA = F.multi_head_attention_forward


class Unexpressed(Exception):
    """A product with no CNN-layer form; the message is the reason shown to the user."""


@dataclass
class _Tally:
    nnz: int = 0
    numel: int = 0

    def add(self, t: torch.Tensor) -> None:
        self.nnz += count_nonzero(t)
        self.numel += t.numel()

    @property
    def density(self) -> float:
        return self.nnz / self.numel if self.numel else 0.0


@dataclass
class Site:
    """One call site of a product in the forward pass (the same site on every batch)."""

    name: str
    function: str
    owner: str
    after: str | None
    """The extractable layer that ran last before this product in the first forward (None: none did)."""
    dims: dict[str, int]
    weight_param: str | None
    """Parameter name when the second operand is a model parameter."""
    first: _Tally = field(default_factory=_Tally)
    second: _Tally = field(default_factory=_Tally)
    result: _Tally = field(default_factory=_Tally)


def _as_3d_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``torch.matmul`` shapes with 1-D operands promoted (a vector is one row / one column)."""
    if not a or not b:
        raise Unexpressed("a scalar operand is no matrix product")
    a = (1, *a) if len(a) == 1 else a
    b = (*b, 1) if len(b) == 1 else b
    if a[-1] != b[-2]:
        raise Unexpressed(f"inner dimensions differ: {list(a)} x {list(b)}")
    return a, b


def product_dims(a: tuple[int, ...], b: tuple[int, ...], batch: int) -> tuple[dict[str, int], bool]:
    """CNN-layer dimensions of ``a @ b`` per input sample, and whether the operands were swapped.

    Raises:
        Unexpressed: the product does not carry the data batch where one problem per sample can hold it.
    """
    a, b = _as_3d_shapes(a, b)
    a_inst, b_inst = math.prod(a[:-2]), math.prod(b[:-2])
    total = math.prod(torch.broadcast_shapes(a[:-2], b[:-2]))
    rows, k, cols = a[-2], a[-1], b[-1]
    swapped = False
    if b_inst == 1 and a_inst == 1:  # two matrices: the batch must be folded into the rows of one of them
        if rows % batch == 0:
            return {"N": 1, "G": 1, "C": k, "M": cols, "R": 1, "S": 1, "P": 1, "Q": rows // batch}, False
        if cols % batch == 0:  # (W @ x) with x [K, batch*cols]: transpose
            return {"N": 1, "G": 1, "C": k, "M": rows, "R": 1, "S": 1, "P": 1, "Q": cols // batch}, True
        raise Unexpressed(f"neither operand of {list(a)} x {list(b)} carries the batch of {batch} samples")
    if a_inst == 1:  # shared first operand: (W @ x)^T = x^T @ W^T
        a_inst, b_inst, rows, cols, swapped = b_inst, 1, cols, rows, True
    if b_inst == 1:  # shared second operand: a linear layer over rows x instances
        if (total * rows) % batch:
            raise Unexpressed(f"{total * rows} rows are not a multiple of the batch of {batch} samples")
        return {"N": 1, "G": 1, "C": k, "M": cols, "R": 1, "S": 1, "P": 1, "Q": total * rows // batch}, swapped
    lead = torch.broadcast_shapes(a[:-2], b[:-2])[0]
    if lead != batch or total % batch:
        raise Unexpressed(f"the batch of {batch} samples is not the first axis of {list(a)} x {list(b)}")
    return {"N": 1, "G": total // batch, "C": k, "M": cols, "R": 1, "S": 1, "P": 1, "Q": rows}, False


_EINSUM_TERM = re.compile(r"^[a-zA-Z]*$")


def einsum_operands(equation: str, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-operand ``einsum`` rewritten as ``[batch..., rows, K] @ [batch..., K, cols]`` views.

    Raises:
        Unexpressed: ellipses, repeated indices, or an index summed within one operand.
    """
    eq = equation.replace(" ", "")
    if "..." in eq:
        raise Unexpressed(f"einsum {equation!r}: ellipsis not supported")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != 2 or not all(_EINSUM_TERM.match(t) for t in (*terms, out)):
        raise Unexpressed(f"einsum {equation!r}: only two operands with explicit indices are products")
    ta, tb = terms
    if not arrow:  # implicit output: indices that appear once, sorted
        out = "".join(sorted(c for c in set(ta + tb) if (ta + tb).count(c) == 1))
    if len(set(ta)) != len(ta) or len(set(tb)) != len(tb) or len(set(out)) != len(out):
        raise Unexpressed(f"einsum {equation!r}: an index repeats within one term (a diagonal)")
    lone = [c for c in ta + tb if c not in out and (c in ta) != (c in tb)]
    if lone:
        raise Unexpressed(f"einsum {equation!r}: index {lone[0]!r} is summed within one operand")
    batch = [c for c in out if c in ta and c in tb]
    free_a = [c for c in out if c in ta and c not in tb]
    free_b = [c for c in out if c in tb and c not in ta]
    red = [c for c in ta if c in tb and c not in out]
    size = {c: x.shape[i] for i, c in enumerate(ta)} | {c: y.shape[i] for i, c in enumerate(tb)}

    def arrange(t: torch.Tensor, term: str, first: list[str], second: list[str]) -> torch.Tensor:
        perm = [term.index(c) for c in (*batch, *first, *second)]
        shape = [size[c] for c in batch] + [math.prod(size[c] for c in first), math.prod(size[c] for c in second)]
        return t.permute(*perm).reshape(*shape)

    return arrange(x, ta, free_a, red), arrange(y, tb, red, free_b)


class MatmulTracer(TorchFunctionMode):
    """Records every matrix product of the forward passes run inside it (see the module docstring).

    Use as a context manager around the calibration passes of ``model``; ``layers`` are the modules
    extracted as layers already (products inside them, such as ``nn.Linear``'s ``F.linear``, are theirs).
    """

    def __init__(self, model: nn.Module, layers: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.root = model
        self.names = {id(m): n for n, m in model.named_modules()}
        self.layer_ids = {id(m) for m in layers.values()}
        self.params = {id(p): n for n, p in model.named_parameters()}
        self.sites: dict[str, Site] = {}
        self.unexpressed: dict[str, str] = {}
        self._stack: list[nn.Module] = []
        self._counts: dict[tuple[str, str], int] = {}
        self._batch = 0
        self._forwards = 0
        self._last_layer: str | None = None
        self._hooks: list[Any] = []

    # ------------------------------------------------------------------ module stack
    def _pre(self, module: nn.Module, args: tuple) -> None:
        if id(module) not in self.names:
            return
        if module is self.root:
            self._counts.clear()
            self._forwards += 1
            self._last_layer = None
            first = next((a for a in args if isinstance(a, torch.Tensor)), None)
            self._batch = int(first.shape[0]) if first is not None and first.dim() else 1
        self._stack.append(module)

    def _post(self, module: nn.Module, args: tuple, out: Any) -> None:
        if self._stack and self._stack[-1] is module:
            self._stack.pop()
            if id(module) in self.layer_ids:
                self._last_layer = self.names[id(module)]

    def __enter__(self):
        from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

        self._hooks = [register_module_forward_pre_hook(self._pre), register_module_forward_hook(self._post)]
        return super().__enter__()

    def __exit__(self, *exc):
        for h in self._hooks:
            h.remove()
        self._hooks = []
        return super().__exit__(*exc)

    # ------------------------------------------------------------------ interception
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func is _SDPA or func is _FUSED_MHA or func in _PRODUCTS or func is torch.einsum or func is F.linear:
            if self._stack and id(self._stack[-1]) not in self.layer_ids and self._batch:
                self._observe(func, args, kwargs, out)
        return out

    def _site_name(self, label: str) -> tuple[str, str]:
        owner = self.names[id(self._stack[-1])]
        index = self._counts.get((owner, label), 0)
        self._counts[(owner, label)] = index + 1
        return owner, f"{owner}.{label}{index}" if owner else f"{label}{index}"

    def _observe(self, func, args: tuple, kwargs: dict, out: Any) -> None:
        if func is _FUSED_MHA:
            _, name = self._site_name("multi_head_attention")
            self.unexpressed.setdefault(name, "fused F.multi_head_attention_forward (nn.MultiheadAttention) is "
                                              "not decomposed: its projections and products are not extracted")
            return
        if func is _SDPA:
            self._attention(args, kwargs, out)
            return
        if func is torch.einsum:
            owner, name = self._site_name("einsum")
            equation, *operands = args
            if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
                operands = list(operands[0])
            try:
                if len(operands) != 2:
                    raise Unexpressed(f"einsum {equation!r} has {len(operands)} operands, not 2")
                a, b = einsum_operands(str(equation), operands[0], operands[1])
            except Unexpressed as exc:
                self.unexpressed.setdefault(name, str(exc))
                return
            self._product(owner, name, "torch.einsum", a, b, out, param=operands[1])
            return
        if func is F.linear:
            owner, name = self._site_name("linear")
            x = args[0] if args else kwargs["input"]
            w = args[1] if len(args) > 1 else kwargs["weight"]
            self._product(owner, name, "F.linear", x, w.t(), out, param=w)
            return
        label, (i, j) = _PRODUCTS[func]
        owner, name = self._site_name(label)
        self._product(owner, name, f"torch.{label}", args[i], args[j], out)

    def _attention(self, args: tuple, kwargs: dict, out: torch.Tensor) -> None:
        names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
        given = dict(zip(names, args)) | kwargs
        q, k, v = given["query"], given["key"], given["value"]
        owner, name = self._site_name("sdpa")
        if k.dim() >= 3 and q.dim() >= 3 and k.shape[-3] != q.shape[-3] and q.shape[-3] % k.shape[-3] == 0:
            reps = q.shape[-3] // k.shape[-3]  # grouped-query attention: each K/V head serves several queries
            k, v = k.repeat_interleave(reps, -3), v.repeat_interleave(reps, -3)
        scale = given.get("scale") or 1.0 / math.sqrt(q.shape[-1])
        scores = torch.matmul(q, k.transpose(-2, -1)) * scale
        mask = given.get("attn_mask")
        if given.get("is_causal"):
            rows, cols = scores.shape[-2:]
            mask = torch.ones(rows, cols, dtype=torch.bool, device=scores.device).tril()
        if mask is not None:
            scores = scores.masked_fill(~mask, -math.inf) if mask.dtype == torch.bool else scores + mask
        probs = torch.softmax(scores, dim=-1).nan_to_num(0.0)
        self._product(owner, f"{name}.qk", "F.scaled_dot_product_attention (Q K^T)", q, k.transpose(-2, -1),
                      scores)
        self._product(owner, f"{name}.av", "F.scaled_dot_product_attention (softmax(Q K^T) V)", probs, v, out)

    def _product(self, owner: str, name: str, function: str, a: Any, b: Any, out: Any,
                 param: Any = None) -> None:
        if name in self.unexpressed:
            return
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and isinstance(out, torch.Tensor)):
            self.unexpressed[name] = f"{function} on non-tensor operands"
            return
        try:
            dims, swapped = product_dims(tuple(a.shape), tuple(b.shape), self._batch)
        except Unexpressed as exc:
            self.unexpressed[name] = f"{function}: {exc}"
            self.sites.pop(name, None)
            return
        first, second = (b, a) if swapped else (a, b)
        weight = param if param is not None else second
        weight_param = self.params.get(id(weight)) if isinstance(weight, nn.Parameter) else None
        site = self.sites.get(name)
        if site is None:
            if self._forwards > 1:  # a product the first pass did not run: no place in the layer order
                self.unexpressed[name] = f"{function}: not called in the first calibration batch"
                return
            site = self.sites[name] = Site(name, function, owner, self._last_layer, dims, weight_param)
        elif site.dims != dims:
            self.unexpressed[name] = (f"{function}: shapes differ between calls ({site.dims} then {dims}); "
                                      "one Timeloop problem cannot describe it")
            del self.sites[name]
            return
        site.first.add(first)
        site.second.add(second)
        site.result.add(out)


def _record(site: Site, model: nn.Module, base: dict[str, Any], *, pad: bool) -> LayerRecord:
    where = base.pop("_where")
    if site.weight_param is not None:
        w = model.get_parameter(site.weight_param).detach()
        params, nnz = w.numel(), count_nonzero(w)
        pattern = weight_pattern(w)
        w_density = nnz / params if params else 0.0
        w_src = f"measured: {nnz} of {params} weights of parameter {site.weight_param} nonzero in the checkpoint"
        pat, detail, model_name = pattern.pattern, pattern.detail, pattern.density_model
    else:
        params = nnz = 0
        w_density = site.second.density
        w_src = (f"measured: second operand (an activation) over {where}; {site.second.nnz} of "
                 f"{site.second.numel} nonzero")
        pat, detail = "activation", "second operand is an activation; its zeros fall where the data puts them"
        model_name = DensityModel.HYPERGEOMETRIC.value if w_density < 1.0 else DensityModel.FIXED_STRUCTURED.value
    dims = dict(site.dims)
    awkward = awkward_dims(dims)
    return LayerRecord(
        layer=site.name, op=MATMUL_OP, **dims,
        stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_h=0, pad_w=0,
        weight_density=w_density, input_density=site.first.density, output_density=site.result.density,
        params=params, weight_nnz=nnz, input_nnz=site.first.nnz, input_numel=site.first.numel,
        output_nnz=site.result.nnz, output_numel=site.result.numel,
        pattern=pat, pattern_detail=detail, density_model=model_name,
        weight_density_source=w_src,
        input_density_source=(f"measured: first operand over {where}; {site.first.nnz} of {site.first.numel} "
                              "nonzero"),
        output_density_source=(f"measured: own result (the product as computed) over {where}; {site.result.nnz} of "
                               f"{site.result.numel} nonzero"),
        output_consumer="", module_type=site.function,
        prime_dims=tuple(awkward.items()), padded=tuple(padded_dims(dims).items()) if pad else (),
        # the problem's Inputs (Q rows x P = 1, R = S = 1, no padding) is the first operand itself
        input_h=dims["Q"], input_w=dims["P"], input_window_nnz=site.first.nnz,
        input_window_numel=site.first.numel, input_density_padded=site.first.density,
        **base,
    )  # fmt: skip


def merge_records(records: list[LayerRecord], tracer: MatmulTracer, model: nn.Module, *, where: str,
                  pad: bool) -> list[LayerRecord]:
    """``records`` with one record per traced product, each placed after the layer that ran before it in
    the first forward pass; ``order`` is renumbered from 0."""
    if not tracer.sites:
        return records
    template = records[0] if records else None
    base_keys = ("model", "checkpoint_id", "calib_samples", "calib_batches", "calib_seed", "method",
                 "target_sparsity", "accuracy")
    base = {k: getattr(template, k) for k in base_keys} if template else {}
    base["order"] = 0
    products = [_record(s, model, base | {"_where": where}, pad=pad) for s in tracer.sites.values()]
    after = {s.name: s.after for s in tracer.sites.values()}
    merged = [p for p in products if after[p.layer] is None]
    for r in records:
        merged.append(r)
        merged += [p for p in products if after[p.layer] == r.layer]
    placed = {r.layer for r in merged}
    merged += [p for p in products if p.layer not in placed]  # after a layer that was not extracted
    return [dataclasses.replace(r, order=i) for i, r in enumerate(merged)]


def unexpressed_note(tracer: MatmulTracer) -> str | None:
    """One note naming every product that has no Timeloop form, with the reason."""
    if not tracer.unexpressed:
        return None
    return "products without a Timeloop CNN-layer form, not extracted: " + "; ".join(
        f"{name} ({why})" for name, why in tracer.unexpressed.items())


def unmodeled_products(tracer: MatmulTracer, *, model: str, checkpoint: str, start: int) -> list[UnmodeledLayer]:
    """Every product without a Timeloop form as a layer-table row (``modeled`` False, the reason), ordered
    after the ``start`` modeled layers, so that it is named in the table and never dropped silently."""
    rows = []
    for i, (name, why) in enumerate(tracer.unexpressed.items()):
        modules = dict(tracer.root.named_modules())
        owner = name.rpartition(".")[0]
        while owner and owner not in modules:  # sdpa0.qk: the module is above the site
            owner = owner.rpartition(".")[0]
        module = modules.get(owner, tracer.root)
        rows.append(UnmodeledLayer(model=model, checkpoint_id=checkpoint, layer=name, order=start + i, op=MATMUL_OP,
                                   module_type=type(module).__name__, reason=why))
    return rows


__all__ = ["MATMUL_OP", "MatmulTracer", "Site", "Unexpressed", "einsum_operands", "merge_records", "product_dims",
           "unexpressed_note", "unmodeled_products"]
