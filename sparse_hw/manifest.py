"""`RunManifest`: the provenance record (``manifest.json``) of every run folder.

Kept out of `sparse_hw.io` so that reading inputs does not import pydantic; ``sparse_hw.io.RunManifest``
still names it (issue 15, item 14).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .io import atomic_write, sha256_file, versions


class RunManifest(BaseModel):
    """Provenance of one run folder: what ran, on what inputs, with which seeds and versions."""

    model_config = ConfigDict(extra="forbid")

    stage: str
    command: list[str] = Field(default_factory=lambda: list(sys.argv))
    versions: dict[str, str] = Field(default_factory=versions)
    seeds: dict[str, int | None] = Field(default_factory=dict)
    inputs: dict[str, str] = Field(default_factory=dict, description="input path -> sha256")
    settings: dict[str, Any] = Field(default_factory=dict)
    outputs: list[str] = Field(default_factory=list)
    started: float = Field(default_factory=time.time)
    finished: float | None = None
    status: str = "running"

    def add_input(self, path: str | Path) -> None:
        p = Path(path)
        if p.is_file():
            self.inputs[str(p)] = sha256_file(p)
        elif p.is_dir():
            for f in sorted(q for q in p.rglob("*") if q.is_file()):
                self.inputs[str(f)] = sha256_file(f)

    def finish(self, status: str = "ok") -> RunManifest:
        self.finished = time.time()
        self.status = status
        return self

    def write(self, folder: str | Path) -> Path:
        return atomic_write(Path(folder) / "manifest.json", self.model_dump_json(indent=2) + "\n")
