"""`Spec`: everything a list of Timeloop/Sparseloop/Accelergy input files says, merged and validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .arch import Architecture
from .constraints import ConstraintDirective, MapperSettings
from .mapping import Mapping
from .problem import Problem
from .sparse import SparseOptimizations
from .tables import ART, ERT, CompoundComponent


@dataclass
class ModelSettings:
    """The `model` key of timeloop-model (src/applications/model/model.cpp)."""

    verbose: bool | None = None
    auto_bypass_on_failure: bool | None = None
    out_prefix: str | None = None


@dataclass(eq=False)
class Spec:
    """A merged, validated set of input files (see `load_spec`).

    ``arch_constraints`` are the architecture constraints as Timeloop receives them: the
    ``architecture_constraints`` key, timeloopfe's top-level ``constraints`` and in-node
    constraints, and ``extra_mapping_constraints``; ``sparse_optimizations`` holds the v0.3 key
    and the v0.4 in-node optimizations as targets.
    """

    files: list[Path] = field(default_factory=list)
    architecture: Architecture | None = None
    problem: Problem | None = None
    mapping: Mapping | None = None
    sparse_optimizations: SparseOptimizations | None = None
    arch_constraints: list[ConstraintDirective] = field(default_factory=list)
    mapspace_constraints: list[ConstraintDirective] = field(default_factory=list)
    mapper: MapperSettings | None = None
    components: dict[str, CompoundComponent] = field(default_factory=dict)
    ert: ERT | None = None
    art: ART | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    globals: dict[str, Any] | None = None
    model: ModelSettings | None = None
    mapspace_template: str | None = None
    #: the parts as written, for `to_dict` (explicit lists, not the ones derived from v0.4 nodes)
    written: dict[str, Any] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------------------ helpers
    def flat(self):
        """The flattened architecture (None without one)."""
        return None if self.architecture is None else self.architecture.flatten()

    def sparse_target(self, level: str):
        if self.sparse_optimizations is None:
            return None
        return self.sparse_optimizations.target(level)

    def exploited_tensors(self) -> list[str]:
        """Data spaces whose sparsity this spec exploits (see `sparse_hw.spec.library.exploited`)."""
        from .library import exploited_tensors

        return exploited_tensors(self)

    # ------------------------------------------------------------------------------ round trip
    def to_dict(self, dialect: str = "v0.3") -> dict[str, Any]:
        """The spec as plain data in ``v0.3`` (hyphenated keys, tree arch) or ``v0.4`` (underscores, nodes)."""
        from .dump import spec_to_dict

        return spec_to_dict(self, dialect)

    def dump(self, folder: str | Path, dialect: str = "v0.3") -> list[Path]:
        """Write the spec as one YAML file per part into ``folder``; returns the files in load order."""
        from .dump import dump_spec

        return dump_spec(self, Path(folder), dialect)

    def semantic(self) -> dict[str, Any]:
        """What the spec means, for equality: flattened levels, constraints, problem, mapping, ..."""
        from .dump import semantic_view

        return semantic_view(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spec):
            return NotImplemented
        return self.semantic() == other.semantic()
