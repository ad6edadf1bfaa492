"""The spec layer: Timeloop / Sparseloop / Accelergy input files (v0.3 and v0.4) loaded, merged, validated.

`load_spec` is the entry point; `Spec` holds the result. See `loader.py` for the merge rules and
`arch.py` for how architectures are flattened the way Timeloop sees them.
"""

from __future__ import annotations

import importlib
import importlib.util

from ..errors import SpecError

#: public name -> the module that defines it; imported on first use, so that ``load_spec`` reads its input
#: files before the spec models are imported (issue 15, item 14)
_WHERE = {
    **dict.fromkeys(("Architecture", "ComputeLevel", "FlatArch", "StorageLevel"), "arch"),
    **dict.fromkeys(("ConstraintDirective", "MapperSettings"), "constraints"),
    "load_spec": "loader",
    **dict.fromkeys(("Mapping", "MappingDirective"), "mapping"),
    **dict.fromkeys(("Coefficient", "DataSpace", "Density", "Problem", "ProjectionTerm", "Shape"), "problem"),
    **dict.fromkeys(("ActionOptimization", "ActionOption", "ComputeOptimization", "DataSpaceFormat", "Rank",
                     "SparseOptimizations", "SparseTarget"), "sparse"),
    **dict.fromkeys(("ModelSettings", "Spec"), "spec"),
    **dict.fromkeys(("ART", "ERT", "ARTEntry", "CompoundComponent", "ERTAction", "ERTEntry", "component_key"),
                    "tables"),
}


def __getattr__(name: str) -> object:
    """A public name (or a submodule, ``sparse_hw.spec.arch``) imported on first use."""
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    elif not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = [
    "ART",
    "ERT",
    "ARTEntry",
    "ActionOptimization",
    "ActionOption",
    "Architecture",
    "Coefficient",
    "CompoundComponent",
    "ComputeLevel",
    "ComputeOptimization",
    "ConstraintDirective",
    "DataSpace",
    "DataSpaceFormat",
    "Density",
    "ERTAction",
    "ERTEntry",
    "FlatArch",
    "MapperSettings",
    "Mapping",
    "MappingDirective",
    "ModelSettings",
    "Problem",
    "ProjectionTerm",
    "Rank",
    "Shape",
    "SparseOptimizations",
    "SparseTarget",
    "Spec",
    "SpecError",
    "StorageLevel",
    "component_key",
    "load_spec",
]
