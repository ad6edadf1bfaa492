"""Resolves built-in names (architectures, workloads, mapper settings, examples) to files.

The data folders live next to the package in a source checkout (installed in editable mode, as
README.md and .ci/run do).
"""

from __future__ import annotations

import difflib
from pathlib import Path

from .errors import SparseHwError

ROOT = Path(__file__).resolve().parent.parent
ARCH_DIR = ROOT / "arch"
WORKLOADS_DIR = ROOT / "workloads"
MAPPINGS_DIR = ROOT / "mappings"
EXAMPLES_DIR = ROOT / "examples"
RESULTS_DIR = ROOT / "results"


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
    """Folder of a built-in architecture (``arch/NAME``), or an error listing the known ones."""
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
