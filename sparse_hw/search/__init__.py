"""Hardware-aware sparsity search: Optuna over per-layer sparsity against simulated accelerator cost.

Optuna is imported only inside this package (the optional ``search`` extra); `search` and
`load_search_config` are what the CLI and ``sparse_hw.search(...)`` call.
"""

from __future__ import annotations

import sys
import types
from typing import Any


def search(config: Any, **kwargs: Any):
    """See :func:`sparse_hw.search.api.search` (imported on first call: optuna and torch load lazily)."""
    from .api import search as _search

    return _search(config, **kwargs)


def load_search_config(path: Any, **kwargs: Any):
    from .config import load_search_config as _load

    return _load(path, **kwargs)


__all__ = ["load_search_config", "search"]


class _CallableModule(types.ModuleType):
    """``sparse_hw.search(...)`` works whether or not this package was imported first (a submodule
    import binds the package, not the function, to ``sparse_hw.search``)."""

    def __call__(self, config: Any, **kwargs: Any):
        return search(config, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
