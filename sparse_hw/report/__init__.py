"""The report stage: tidy tables (sums first, ratios after) and print-ready figures from simulate outputs."""

from __future__ import annotations

from .api import ReportResult, report
from .tables import ReportTables, breakdown_rows, build_tables

__all__ = ["ReportResult", "ReportTables", "breakdown_rows", "build_tables", "report"]
