"""Periodic jobs, run by exactly one `desk scheduler` process (RQ's cron takes no lock).

Each job is idempotent, so a second scheduler or a restart (which fires interval jobs at
once) costs work, never correctness.
"""
import importlib

from desk.core.queue import redis_connection
from desk.core.runners import DeskCron, run_cron

# (dotted job name, queue, setting that holds the interval in seconds)
PERIODIC: list[tuple[str, str, str]] = [
    ("workers.escalations.ladder_sweep", "default", "ESCALATION_SWEEP_SECONDS"),
    ("workers.sla.sweep", "default", "SLA_SWEEP_SECONDS"),
    ("workers.routing.tick", "default", "ROUTING_TICK_SECONDS"),
    ("workers.inbound.resweep", "inbound", "INBOUND_RESWEEP_SECONDS"),
    ("workers.outbound.sweep_interrupted", "outbound", "OUTBOUND_SWEEP_SECONDS"),
    ("workers.reports.refresh_rollup", "default", "REPORT_ROLLUP_SECONDS"),
    ("workers.sla.compact_board_counts", "default", "BOARD_COMPACT_SECONDS"),
    ("workers.feedback.resweep_surveys", "default", "SURVEY_RESWEEP_SECONDS"),
    ("workers.channels.refresh_tokens", "default", "X_REFRESH_SWEEP_SECONDS"),
    ("workers.channels.check_meta_tokens", "default", "META_TOKEN_CHECK_SECONDS"),
]


def _resolve(name: str):
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def registrations(config) -> list[tuple]:
    """The periodic jobs this configuration runs: (function, queue, interval seconds)."""
    return [(_resolve(name), queue, int(config[setting])) for name, queue, setting in PERIODIC]


# (dotted job name, queue, setting that holds a cron expression, in UTC)
CRON: list[tuple[str, str, str]] = [
    ("workers.feedback.send_weekly_report", "default", "WEEKLY_REPORT_CRON"),
    ("workers.customers.purge_old_text", "default", "TEXT_RETENTION_CRON"),
]


def cron_registrations(config) -> list[tuple]:
    """The cron-style jobs this configuration runs: (function, queue, cron expression)."""
    return [(_resolve(name), queue, str(config[setting])) for name, queue, setting in CRON]


def run_scheduler(config, logging_level: str = "INFO") -> None:
    """Run the periodic jobs until SIGTERM or Ctrl-C, through Redis outages."""
    scheduler = DeskCron(connection=redis_connection(config["REDIS_URL"]), logging_level=logging_level)
    for func, queue, interval in registrations(config):
        scheduler.register(func, queue, interval=interval)
    for func, queue, cron in cron_registrations(config):
        scheduler.register(func, queue, cron=cron)
    run_cron(scheduler)
