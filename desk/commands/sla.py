"""`desk sla sweep`: record due SLA warnings and breaches now (the scheduler does it every 30 s)."""
from datetime import datetime

import click
from flask.cli import with_appcontext

from desk.core.clock import as_utc
from desk.sla.sweep import sweep


@click.group("sla")
def sla_group():
    """First- and next-response clocks."""


@sla_group.command("sweep")
@click.option("--now", "now_text", default=None,
              help="ISO 8601 time to sweep at (default: the database clock).")
@with_appcontext
def sweep_command(now_text):
    """Record warnings and breaches due now; safe to run at any time, any number of times."""
    now = None
    if now_text:
        try:
            now = datetime.fromisoformat(now_text.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(f"not an ISO 8601 time: {now_text!r}", param_hint="--now")
        if now.tzinfo is None:
            raise click.BadParameter("give a timezone, e.g. 2026-11-02T10:00:00Z", param_hint="--now")
        now = as_utc(now)
    result = sweep(now)
    click.echo(f"warnings recorded: {len(result.warnings)}")
    click.echo(f"breaches recorded: {len(result.breaches)}")


COMMANDS = [sla_group]
