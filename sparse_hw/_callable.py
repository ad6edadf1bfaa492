"""``sparse_hw.extract(...)`` and ``sparse_hw.report(...)`` stay callable once their subpackages are imported.

Importing ``sparse_hw.extract`` (the package) sets the attribute ``sparse_hw.extract`` to the package,
shadowing the stage function of the same name; the package's module class is given a ``__call__``
that forwards to the in-memory stage (:mod:`sparse_hw.inmemory`), so both spellings keep working.
"""

from __future__ import annotations

import importlib
import sys
import types


class _StageModule(types.ModuleType):
    """A package that is also its stage function."""

    _stage: str = ""

    def __call__(self, *args, **kwargs):
        return getattr(importlib.import_module("sparse_hw.inmemory"), self._stage)(*args, **kwargs)


def stage_module(module_name: str, stage: str) -> None:
    """Make the package ``module_name`` callable as ``sparse_hw.inmemory.<stage>``."""
    module = sys.modules[module_name]
    module.__class__ = type(f"_{stage.title()}Package", (_StageModule,), {"_stage": stage})
