"""The service report (DESIGN.md, report): read-only SQL aggregates turned into dataclasses.

`service_report(filters, now)` is the one entry point used by the page, the JSON API, the CSV
export and the weekly e-mail; every figure is added up by the database, from the roll-up
that the scheduler's refresh job keeps (rollup.py, refresh.py) corrected for what changed
since its last run, so it equals a live computation (sources.py).
"""
from desk.reports.periods import PRESETS, ReportFilter, filters_from_args, resolve_period
from desk.reports.service import ServiceReport, service_report

__all__ = ["PRESETS", "ReportFilter", "filters_from_args", "ServiceReport", "resolve_period", "service_report"]
