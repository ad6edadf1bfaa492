"""The built-in architectures (``arch/NAME/``): their files, summaries and what sparsity they exploit.

Each folder holds ``arch.yaml`` (timeloopfe v0.4 nodes), ``components/*.yaml`` (Accelergy compound
components), ``sparse_opt.yaml`` (if sparse), ``ERT.yaml`` / ``ART.yaml`` (Accelergy's tables),
``constraints.yaml`` and ``mapper.yaml``; ``architecture_files`` lists them in a working order.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..resources import architecture_dir
from ..resources import list_architectures as _arch_names
from .loader import load_spec

if TYPE_CHECKING:
    from .spec import Spec

#: order in which the files of an architecture folder are passed to `load_spec`
FILE_ORDER = (
    "arch.yaml",
    "components",
    "sparse_opt.yaml",
    "ERT.yaml",
    "ART.yaml",
    "constraints.yaml",
    "mapper.yaml",
)
TENSOR_ORDER = ("Weights", "Inputs", "Outputs")


@dataclass(frozen=True)
class ArchInfo:
    """One line of `sparse-hw arch list`."""

    name: str
    pes: int
    exploits: tuple[str, ...]  # lower-case tensor names: weights / inputs / outputs
    levels: tuple[str, ...]  # storage levels, outermost first
    description: str
    folder: Path

    @property
    def exploits_text(self) -> str:
        return "+".join(self.exploits) if self.exploits else "none"


def architecture_files(name: str) -> list[Path]:
    """The files of built-in architecture ``name`` in the order `load_spec` should read them."""
    folder = architecture_dir(name)
    files: list[Path] = []
    for part in FILE_ORDER:
        path = folder / part
        if part == "components":
            files.extend(sorted(path.glob("*.yaml")) if path.is_dir() else [])
        elif path.is_file():
            files.append(path)
    return files


@functools.lru_cache(maxsize=32)
def _load_cached(name: str, stamp: tuple[tuple[str, int], ...]) -> Spec:
    return load_spec(architecture_files(name))


def load_architecture(name: str) -> Spec:
    """Load a built-in architecture (all its files; no problem or mapping)."""
    files = architecture_files(name)
    stamp = tuple((str(f), f.stat().st_mtime_ns) for f in files)
    return _load_cached(name, stamp)


def exploited_tensors(spec: Spec) -> list[str]:
    """Data spaces whose zeros the spec exploits, in the order Weights, Inputs, Outputs.

    A tensor is exploited if an action optimization (gating/skipping) is conditioned on it, or if
    a compute optimization gates/skips on it: compute gating/skipping acts on the operands whose
    zeros the hardware can identify, i.e. the non-output tensors that carry a representation
    format (metadata) somewhere.
    """
    tensors: set[str] = set()
    formatted: set[str] = set()
    compute_opt = False
    sparse = spec.sparse_optimizations
    for target in sparse.targets if sparse is not None else []:
        tensors |= target.exploited_tensors()
        formatted.update(f.name for f in target.representation_format)
        compute_opt = compute_opt or bool(target.compute_optimization)
    if compute_opt:
        rw = set()
        if spec.problem is not None:
            rw = {ds.name for ds in spec.problem.shape.data_spaces if ds.read_write}
        tensors |= formatted - (rw or {"Outputs"})
    ordered = [t for t in TENSOR_ORDER if t in tensors]
    return ordered + sorted(tensors - set(TENSOR_ORDER))


def _description(folder: Path) -> str:
    readme = folder / "README.md"
    if not readme.is_file():
        return ""
    for line in readme.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("# "):
            # "# name — what it is": the part after the dash
            title = line[2:]
            for dash in (" — ", " - ", ": "):
                if dash in title:
                    return title.split(dash, 1)[1].strip()
            return title.strip()
    return ""


def architecture_info(name: str) -> ArchInfo:
    spec = load_architecture(name)
    assert spec.architecture is not None
    flat = spec.architecture.flatten()
    return ArchInfo(
        name=name,
        pes=flat.compute.instances,
        exploits=tuple(t.lower() for t in exploited_tensors(spec)),
        levels=tuple(reversed(flat.names())),
        description=_description(architecture_dir(name)),
        folder=architecture_dir(name),
    )


def list_architectures() -> list[ArchInfo]:
    """Every built-in architecture, by name."""
    return [architecture_info(n) for n in _arch_names()]
