"""Run the real Accelergy where it is installed, and read its ERT/ART like any passed tables.

Accelergy's command line (``accelergy FILES... -o OUTDIR``) writes ``ERT.yaml`` and ``ART.yaml``
(with ``ERT_summary.yaml`` / ``ART_summary.yaml``) into OUTDIR. It runs in a temporary folder with
an argument list (no shell) and a timeout.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import BackendError
from ..io import load_yaml
from ..spec.tables import ART, ERT


def find_accelergy() -> str | None:
    """The ``accelergy`` executable on PATH, or None."""
    return shutil.which("accelergy")


def run_accelergy(files: Sequence[Path], timeout_s: float = 300) -> tuple[ERT, ART, dict[str, str]]:
    """ERT, ART and the summaries (file name -> text) Accelergy computes for ``files``."""
    exe = find_accelergy()
    if exe is None:
        raise BackendError("Accelergy is not installed (no `accelergy` on PATH)", key_path="--estimator",
                           fix="install Accelergy and its plug-ins, or use --estimator builtin")
    with tempfile.TemporaryDirectory(prefix="sparse-hw-accelergy-") as work:
        out = Path(work) / "out"
        out.mkdir()
        argv = [exe, *(str(Path(f).resolve()) for f in files), "-o", str(out)]
        try:
            proc = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise BackendError(f"Accelergy did not finish in {timeout_s:g} s", key_path="--estimator",
                               fix="check the inputs, or use --estimator builtin") from None
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            raise BackendError(f"Accelergy failed (exit {proc.returncode}): {' / '.join(tail)}",
                               key_path="--estimator", fix="see Accelergy's message above, or use --estimator builtin")
        ert_p, art_p = _find(out, "ERT.yaml"), _find(out, "ART.yaml")
        if ert_p is None or art_p is None:
            raise BackendError("Accelergy wrote no ERT.yaml/ART.yaml", key_path="--estimator",
                               fix="check Accelergy's installation, or use --estimator builtin")
        ert = ERT.model_validate((load_yaml(ert_p) or {}).get("ERT") or {})
        art = ART.model_validate((load_yaml(art_p) or {}).get("ART") or {})
        summaries = {p.name: p.read_text() for p in sorted(out.glob("*summary*.yaml"))}
    return ert, art, summaries


def _find(folder: Path, name: str) -> Path | None:
    hits = sorted(p for p in folder.rglob(f"*{name}") if "summary" not in p.name)
    return hits[0] if hits else None
