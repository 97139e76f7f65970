"""The service report (docs/architecture.md, Reports): read-only SQL aggregates turned into
dataclasses.

`service.service_report(filters, now)` is the one entry point used by the page, the JSON
API, the CSV export and the weekly e-mail; every figure is added up by the database, from the
roll-up that the scheduler's refresh job keeps (rollup.py, refresh.py) corrected for what
changed since its last run, so it equals a live computation (sources.py). Retention
(retention.py) is the share of served customers who came back.
"""
