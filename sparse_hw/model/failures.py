"""What to change when a mapping is invalid: one hint per kind of failure, shared by `model` and `map`."""

from __future__ import annotations


def relax_hint(reason: str) -> str:
    """The fix for a failure reason as the engine words it (capacity, fan-out, ranks, compression...)."""
    if "more compression ranks" in reason:
        return (
            "The representation format at that level has fewer ranks than the mapping has non-trivial loops for "
            "the data space: add ranks to its format (e.g. another UOP rank with the missing dimensions in "
            "flattened_rankIDs) or constrain those loops to 1 at that level."
        )
    if "metadata" in reason:
        return "Enlarge the level's metadata storage (metadata_storage_depth) or keep smaller tiles there."
    if "capacity" in reason or "tile size" in reason:
        return "Enlarge that level, bypass a data space there, or constrain smaller tiles."
    if "fan-out" in reason or "fanout" in reason:
        return "Reduce the spatial factors or allow other dimensions to be mapped spatially."
    if "decompression" in reason or "compression" in reason:
        return "Enable (de)compression at that level (compression_supported / decompression_supported) or change its format."
    return "Relax the constraint named above."
