"""The report stage: tidy tables (sums first, ratios after) and print-ready figures from simulate outputs."""

from __future__ import annotations

from ..mpl_home import private_config_if_home_unusable

private_config_if_home_unusable()  # before the modules below import matplotlib (HOME="": no /.cache)

from .api import ReportResult, report
from .tables import ReportTables, breakdown_rows, build_tables

__all__ = ["ReportResult", "ReportTables", "breakdown_rows", "build_tables", "report"]

from .._callable import stage_module

stage_module(__name__, "report")  # sparse_hw.report(results) still calls the stage once this is imported
