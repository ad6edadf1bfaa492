"""The end-of-training report as plain rows: the per-layer sparsity table and the model-level figures.

Rendering (rich tables) is the CLI's job; these functions only decide what is shown and how numbers
are formatted.
"""

from __future__ import annotations

from .api import TrainResult


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"


def _ratio(after: float, before: float) -> str:
    return f"{after / before:.2f}x" if before else "-"


def layer_rows(result: TrainResult) -> list[list[str]]:
    """``name, shape, NNZ, density, structure`` per conv/linear layer (non-prunable layers marked)."""
    rows = []
    for r in result.meta.per_layer:
        shape = "x".join(map(str, r.shape))
        if r.dense_shape:
            shape += f" (was {'x'.join(map(str, r.dense_shape))})"
        rows.append([r.name + ("" if r.prunable else " (kept)"), shape, f"{r.nnz:,}/{r.numel:,}", f"{r.density:.3f}",
                     r.structure])
    return rows


def figure_rows(result: TrainResult) -> list[list[str]]:
    """``figure, before pruning, after pruning, after/before`` rows of the model-level figures."""
    b, a = result.before, result.after
    rows = [
        ["parameters", f"{b.size.params:,}", f"{a.size.params:,}", _ratio(a.size.params, b.size.params)],
        ["non-zero parameters", f"{b.size.nonzero_params:,}", f"{a.size.nonzero_params:,}",
         _ratio(a.size.nonzero_params, b.size.nonzero_params)],
        ["size dense (fp32)", _kib(b.size.dense_bytes), _kib(a.size.dense_bytes),
         _ratio(a.size.dense_bytes, b.size.dense_bytes)],
        ["size bitmask", _kib(b.size.bitmask_bytes), _kib(a.size.bitmask_bytes),
         _ratio(a.size.bitmask_bytes, b.size.dense_bytes) + " of dense"],
        ["size CSR", _kib(b.size.csr_bytes), _kib(a.size.csr_bytes),
         _ratio(a.size.csr_bytes, b.size.dense_bytes) + " of dense"],
        ["accuracy", f"{b.accuracy:.2%}", f"{a.accuracy:.2%}", f"{(a.accuracy - b.accuracy) * 100:+.2f} pt"],
        ["macro F1", f"{b.macro_f1:.4f}", f"{a.macro_f1:.4f}", f"{a.macro_f1 - b.macro_f1:+.4f}"],
    ]
    for batch in sorted(set(b.latency_ms) & set(a.latency_ms)):
        rows.append([f"CPU latency batch {batch}", f"{b.latency_ms[batch]:.2f} ms", f"{a.latency_ms[batch]:.2f} ms",
                     _ratio(a.latency_ms[batch], b.latency_ms[batch])])
    return rows


def notes(result: TrainResult) -> list[str]:
    """One-line observations for the reader (global sparsity, what dense hardware makes of it)."""
    meta = result.meta
    out = [f"global weight sparsity {meta.achieved_weight_sparsity:.4f}"
           + (f" (target {meta.target_sparsity:.4f})" if meta.target_sparsity is not None else "")
           + f" over {len(meta.prunable_layers)} prunable layers; structure: {meta.structure}"]
    b, a = result.before.latency_ms, result.after.latency_ms
    if meta.structure == "unstructured" and not meta.pruning_history and b and a and 32 in b and 32 in a:
        out.append(f"zeros still cost time on dense hardware: batch-32 latency is {a[32] / b[32]:.2f}x the dense "
                   "model's although most weights are zero; sparse-hw measures what a sparse accelerator makes of them")
    elif meta.structure == "channel" and b and a and 32 in b and 32 in a:
        out.append(f"channels were removed: batch-32 latency is {a[32] / b[32]:.2f}x the dense model's")
    if result.checkpoint is not None:
        out.append(f"checkpoint {result.checkpoint} ({result.checkpoint_bytes:,} bytes), {result.wall_seconds:.1f} s")
    return out
