"""Resolves built-in names (architectures, workloads, mapper settings, examples) to files.

A wheel carries the data folders inside the package (``sparse_hw/_data/{arch,workloads,mappings,examples}``,
put there by hatch's ``force-include``) and :func:`importlib.resources.files` finds them; a source
checkout (installed in editable mode, as README.md and .ci/run do) has them next to the package.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

from .errors import SparseHwError

_PACKAGE_DIR = Path(__file__).resolve().parent


def _data_root() -> tuple[Path, bool]:
    """(folder holding arch/, workloads/, mappings/, examples/; whether it is a source checkout)."""
    packaged = resources.files(__package__ or "sparse_hw") / "_data"
    if isinstance(packaged, Path) and (packaged / "arch").is_dir():
        return packaged, False
    return _PACKAGE_DIR.parent, True


ROOT, FROM_SOURCE = _data_root()
ARCH_DIR = ROOT / "arch"
WORKLOADS_DIR = ROOT / "workloads"
MAPPINGS_DIR = ROOT / "mappings"
EXAMPLES_DIR = ROOT / "examples"
#: Where ``sparse-hw run`` writes when the configuration names no ``out``: the checkout's results/, or
#: results/ under the working folder for an installed wheel (never inside site-packages).
RESULTS_DIR = ROOT / "results" if FROM_SOURCE else Path("results")


def _missing(kind: str, name: str, choices: list[str], where: Path) -> SparseHwError:
    close = difflib.get_close_matches(name, choices, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return SparseHwError(
        f"unknown {kind} {name!r}.{hint}",
        file=where,
        fix=f"use one of: {', '.join(choices) or '(none installed)'}",
    )


def list_architectures() -> list[str]:
    if not ARCH_DIR.is_dir():
        return []
    return sorted(p.name for p in ARCH_DIR.iterdir() if p.is_dir() and (p / "arch.yaml").is_file())


def architecture_dir(name: str) -> Path:
    """Folder of a built-in architecture (``arch/NAME``), or an error listing the known ones. A path
    (``/tmp/x``, ``../x``) is no built-in name: ``ARCH_DIR / '/tmp/x'`` was that folder, its absolute path
    the architecture's name in results.csv, exit 0."""
    if name and (Path(name).name != name or name == ".."):
        known = ", ".join(list_architectures()) or "(none installed)"
        raise SparseHwError(f"unknown architecture {name!r}: it is a path, not the name of a built-in one",
                            file=ARCH_DIR, fix=f"use one of: {known}")
    path = ARCH_DIR / name
    if not (path / "arch.yaml").is_file():
        raise _missing("architecture", name, list_architectures(), ARCH_DIR)
    return path


def list_examples() -> list[str]:
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml"))


def example_config(name: str) -> Path:
    path = EXAMPLES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise _missing("example", name, list_examples(), EXAMPLES_DIR)
    return path
