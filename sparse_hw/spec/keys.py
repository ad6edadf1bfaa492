"""Key and word spelling of the input files, without the models: the reading phase of `load_spec` (and
Jinja rendering) needs it before any model is imported (issue 15, item 14). `base` re-exports both."""

from __future__ import annotations

from typing import Any


def norm_key(key: Any) -> Any:
    """Internal spelling of a key: hyphens become underscores (`data-spaces` -> `data_spaces`)."""
    return key.replace("-", "_") if isinstance(key, str) else key


def norm_word(value: Any) -> Any:
    """Internal spelling of an enumerated value (`fixed-structured` -> `fixed_structured`)."""
    return value.strip().replace("-", "_") if isinstance(value, str) else value
