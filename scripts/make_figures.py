"""Redraw a report's figures from its CSV tables alone (summary, layers, energy_breakdown, weight_hist).

Usage:
    python scripts/make_figures.py REPORT_DIR [--out DIR] [--format png,pdf]

Writes ``<kind>__<model>.<format>`` into ``DIR`` (default ``REPORT_DIR/figures``); exits with code 2
and one message when the folder is not a report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sparse_hw.errors import SparseHwError
from sparse_hw.report import figures as figs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report_dir", type=Path, help="a folder written by `sparse-hw report`")
    parser.add_argument("--out", type=Path, default=None, help="where to write the figures")
    parser.add_argument("--format", default="png,pdf", help="comma-separated formats (png, pdf, svg)")
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    out = args.out or args.report_dir / figs.FIGURES_DIR
    try:
        summary, layers, energy_breakdown, weight_hist = figs.read_tables(args.report_dir)
        figures, skipped = figs.build_figures(summary, layers, energy_breakdown, weight_hist)
        written = figs.save_figures(figures, out, formats)
    except SparseHwError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return 2
    for stem, reason in skipped.items():
        print(f"skipped {stem}: {reason}", file=sys.stderr)
    print(f"wrote {len(written)} figure files to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
