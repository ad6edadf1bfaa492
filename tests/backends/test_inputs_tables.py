"""`backends.inputs`: inputs whose ERT/ART cover every level never import the estimator; a gap still
estimates.

The coverage test is `sparse_hw.spec.tables.uncovered_levels`, which the estimator's `missing` is too (one
test, below the estimator's imports); a run with a missing entry must estimate, warn and note as before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from sparse_hw.backends.inputs import estimate_notes, load_files
from sparse_hw.estimate import missing
from sparse_hw.spec import load_spec
from sparse_hw.spec.tables import uncovered_levels

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


def test_one_coverage_test_for_the_inputs_and_the_estimator(tmp_path: Path) -> None:
    assert missing is uncovered_levels
    full = load_spec(FILES)
    gap = load_spec(_without_glb(tmp_path))
    no_tables = load_spec([p for p in FILES if p.name not in ("ERT.yaml", "ART.yaml")])
    assert uncovered_levels(full) == ([], [])
    assert uncovered_levels(gap) == (["shared_glb"], [])
    no_e, no_a = uncovered_levels(no_tables)
    assert no_e and no_e == no_a


def test_estimate_notes_are_the_estimators_notes(tmp_path: Path) -> None:
    spec = load_files(_without_glb(tmp_path))  # this process has the estimator imported (above)
    assert len(estimate_notes(spec)) == 1 and "shared_glb" in estimate_notes(spec)[0]
    assert estimate_notes(load_files(FILES)) == []
