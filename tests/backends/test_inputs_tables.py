"""`backends.inputs`: inputs whose ERT/ART cover every level never import the estimator; a gap still
estimates.

`_tables_cover` is `sparse_hw.estimate.missing`'s test without its imports (numpy, the primitives): it
must agree with it, and a run with a missing entry must estimate, warn and note exactly as before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from sparse_hw.backends.inputs import _tables_cover, estimate_notes, load_files
from sparse_hw.estimate import missing
from sparse_hw.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
CASES = REPO.parent / "shared" / "reference" / "timeloop" / "cases"
CASE_DIR = CASES / "ref__dense__alexnet_conv3__w0.2_i0.5__model__exmap"
FILES = sorted((CASE_DIR / "inputs").glob("*.yaml"))

# loads and evaluates FILES in a fresh process; reports the notes and whether the estimator got imported
_PROBE = """
import json, sys
from sparse_hw.backends.inputs import load_files
from sparse_hw.backends.analytical import model_spec
ev = model_spec(load_files(sys.argv[1:]))
print(json.dumps({"estimator": "sparse_hw.estimate" in sys.modules, "notes": ev.notes}))
"""


def _probe(files: list[Path]) -> tuple[dict, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", _PROBE, *map(str, files)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _without_glb(tmp_path: Path) -> list[Path]:
    """FILES with an ERT that lacks the shared_glb entry."""
    ert = yaml.safe_load((CASE_DIR / "inputs" / "ERT.yaml").read_text())
    ert["ERT"]["tables"] = [t for t in ert["ERT"]["tables"] if not t["name"].endswith("shared_glb")]
    (tmp_path / "ERT.yaml").write_text(yaml.safe_dump(ert))
    return [p for p in FILES if p.name != "ERT.yaml"] + [tmp_path / "ERT.yaml"]


def test_complete_tables_never_import_the_estimator() -> None:
    report, stderr = _probe(FILES)
    assert report["estimator"] is False
    assert not any("estimated energy/area" in n for n in report["notes"])
    assert "estimated" not in stderr


def test_a_missing_entry_still_estimates_warns_and_notes(tmp_path: Path) -> None:
    report, stderr = _probe(_without_glb(tmp_path))
    assert report["estimator"] is True
    assert any("estimated energy/area for components shared_glb" in n for n in report["notes"])
    assert "estimated energy/area for components shared_glb" in stderr and "pass an ERT to override" in stderr


def test_tables_cover_agrees_with_the_estimators_missing(tmp_path: Path) -> None:
    full = load_spec(FILES)
    gap = load_spec(_without_glb(tmp_path))
    no_tables = load_spec([p for p in FILES if p.name not in ("ERT.yaml", "ART.yaml")])
    for spec in (full, gap, no_tables):
        no_e, no_a = missing(spec)
        assert _tables_cover(spec) is (not no_e and not no_a)
    assert _tables_cover(full) and not _tables_cover(gap) and not _tables_cover(no_tables)


def test_estimate_notes_are_the_estimators_notes(tmp_path: Path) -> None:
    spec = load_files(_without_glb(tmp_path))  # this process has the estimator imported (above)
    assert len(estimate_notes(spec)) == 1 and "shared_glb" in estimate_notes(spec)[0]
    assert estimate_notes(load_files(FILES)) == []
