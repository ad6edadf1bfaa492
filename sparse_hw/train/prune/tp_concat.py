"""Channel offsets for a ``torch.cat`` whose other inputs Torch-Pruning's tracer cannot see.

Torch-Pruning (1.6) builds its graph from autograd: an input made without gradients (PointNet++'s
relative xyz, computed under ``torch.no_grad`` in the grouping) leaves a ``None`` in the cat's
``next_functions`` and no node. ``index_mapping.update_concat_index_mapping`` then sums only the
traced inputs' widths, finds that they miss the consumer's width and returns without offsets, so the
dependency keeps no mapping: cutting a producer's output channel ``i`` cuts the consumer's input
column ``i``, not ``i + 3``. This module gives such a cat the offsets TP would have given it, as an
index mapping (TP's own extension point, ``Dependency.index_mapping[1]``) that reads the current widths
each time it is called, so it stays right while earlier groups shrink the producers. It is only added
where exactly one input is untraced (its width is then the consumer's width minus the traced ones).
"""

from __future__ import annotations

from typing import Any


class UntracedConcatMapping:
    """Maps channel indices between one traced input (``slot``) of a cat and the concatenation."""

    def __init__(self, graph: Any, cat_node: Any, slot: int, reverse: bool) -> None:
        self.graph, self.cat_node, self.slot, self.reverse = graph, cat_node, slot, reverse

    def __call__(self, idxs):
        from torch_pruning import _helpers

        widths = slot_widths(self.graph, self.cat_node)
        if widths is None:
            raise RuntimeError(f"the widths of {self.cat_node.name}'s inputs cannot be inferred any more")
        start = sum(widths[:self.slot])
        stop = start + widths[self.slot]
        if self.reverse:  # concatenation -> this input: keep the indices that fall into its range
            return [_helpers._HybridIndex(idx=i.idx - start, root_idx=i.root_idx) for i in idxs if start <= i.idx < stop]
        return [_helpers._HybridIndex(idx=i.idx + start, root_idx=i.root_idx) for i in idxs]


def _slots(graph: Any, cat_node: Any) -> list[Any | None] | None:
    """The cat's arguments in order: the graph node of each traced one, None for each untraced one.

    None if the nodes cannot be matched to the arguments one to one (then nothing is changed)."""
    unwrapped = {id(p) for p, _ in graph.unwrapped_parameters}
    nodes = list(cat_node.inputs)
    slots: list[Any | None] = []
    for fn, _ in cat_node.grad_fn.next_functions:
        leaf = fn is not None and "accumulategrad" in fn.name().lower() and id(fn.variable) not in unwrapped
        if fn is None or leaf:  # what the tracer skips (no autograd history, or a plain leaf tensor)
            slots.append(None)
            continue
        if not nodes or nodes[0].grad_fn is not fn:
            return None
        slots.append(nodes.pop(0))
    return None if nodes or len({id(n) for n in slots if n is not None}) != len(cat_node.inputs) else slots


def slot_widths(graph: Any, cat_node: Any) -> list[int] | None:
    """Current channel width of each argument of the cat, or None when they cannot be inferred."""
    from torch_pruning.dependency import shape_infer

    slots = _slots(graph, cat_node)
    if slots is None or sum(s is None for s in slots) != 1:
        return None
    total = shape_infer.infer_in_channels_recursively(graph, cat_node, recursive_depth=[0])
    traced = [shape_infer.infer_channels_between(graph, n, cat_node) for n in slots if n is not None]
    if total is None or any(w is None for w in traced) or total - sum(traced) <= 0:
        return None
    known = iter(traced)
    return [total - sum(traced) if n is None else next(known) for n in slots]


def map_untraced_concat_inputs(graph: Any) -> list[str]:
    """Give every channel-dim cat with one untraced input offset-aware index mappings; the cats' names.

    Call it right after the ``DependencyGraph`` is built (``MagnitudePruner(...).DG``) and before any
    group is formed. TP's own ``update_concat_index_mapping`` (run again for every group) leaves these
    cats alone, since their traced widths never add up to the consumer's."""
    from torch_pruning import ops

    fixed = []
    for node in graph.module2node.values():
        if node.type != ops.OPTYPE.CONCAT or getattr(node.grad_fn, "_saved_dim", None) != 1 \
                or not node.enable_index_mapping:
            continue
        slots = _slots(graph, node)
        if slots is None or None not in slots or slot_widths(graph, node) is None:
            continue
        for slot, in_node in enumerate(slots):
            if in_node is None:
                continue
            for dep in node.dependencies:  # cat -> input (a cut of the concatenation reaches this input)
                if dep.target is in_node:
                    dep.index_mapping[1] = UntracedConcatMapping(graph, node, slot, reverse=True)
            for dep in in_node.dependencies:  # input -> cat (a cut of this input reaches the concatenation)
                if dep.target is node:
                    dep.index_mapping[1] = UntracedConcatMapping(graph, node, slot, reverse=False)
        fixed.append(node.name)
    return fixed
