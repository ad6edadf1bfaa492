"""Regenerate the report's golden figures (tests/report/golden/*.png) from the synthetic test run.

Run after an intended change to a figure, look at the new PNGs, and commit them:
    python scripts/regen_report_goldens.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "report"))

import report_fixture_data as fx

from sparse_hw.report import report

GOLDEN_DIR = REPO / "tests" / "report" / "golden"
#: The figures compared pixel by pixel in tests/report/test_report_figures.py.
GOLDEN_FIGURES = (f"energy_breakdown__{fx.MODEL}", f"ratio_per_layer__{fx.MODEL}")


def main() -> int:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        sim = fx.write_run(Path(tmp) / "run")
        result = report([sim], out=Path(tmp) / "out", formats=("png",))
        for stem in GOLDEN_FIGURES:
            src = result.out / "figures" / f"{stem}.png"
            (GOLDEN_DIR / src.name).write_bytes(src.read_bytes())
            print(f"wrote {GOLDEN_DIR / src.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
