"""The spec layer: Timeloop / Sparseloop / Accelergy input files (v0.3 and v0.4) loaded, merged, validated.

`load_spec` is the entry point; `Spec` holds the result. See `loader.py` for the merge rules and
`arch.py` for how architectures are flattened the way Timeloop sees them.
"""

from ..errors import SpecError
from .arch import Architecture, ComputeLevel, FlatArch, StorageLevel
from .constraints import ConstraintDirective, MapperSettings
from .loader import load_spec
from .mapping import Mapping, MappingDirective
from .problem import Coefficient, DataSpace, Density, Problem, ProjectionTerm, Shape
from .sparse import (
    ActionOptimization,
    ActionOption,
    ComputeOptimization,
    DataSpaceFormat,
    Rank,
    SparseOptimizations,
    SparseTarget,
)
from .spec import ModelSettings, Spec
from .tables import ART, ERT, ARTEntry, CompoundComponent, ERTAction, ERTEntry, component_key

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
