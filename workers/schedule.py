"""Periodic jobs, run by exactly one `desk scheduler` process (RQ's cron takes no lock).

Each job is idempotent, so a second scheduler or a restart (which fires interval jobs at
once) costs work, never correctness.
"""
import importlib

from rq.cron import CronScheduler

# (dotted job name, queue, setting that holds the interval in seconds)
PERIODIC: list[tuple[str, str, str]] = [
]


def _resolve(name: str):
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def registrations(config) -> list[tuple]:
    """The periodic jobs this configuration runs: (function, queue, interval seconds)."""
    return [(_resolve(name), queue, int(config[setting])) for name, queue, setting in PERIODIC]


def run_scheduler(config) -> None:
    from desk.queue import redis_connection
    scheduler = CronScheduler(connection=redis_connection(config["REDIS_URL"]), name="desk")
    for func, queue, interval in registrations(config):
        scheduler.register(func, queue, interval=interval)
    scheduler.start()
