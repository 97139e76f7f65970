"""`desk escalations ...`: run the ladder sweep by hand, make a webhook signing secret."""
from datetime import datetime

import click
from flask.cli import with_appcontext

from desk.core.clock import as_utc
from desk.core.clock import now as clock_now
from desk.escalation.rules import ladder_sweep
from desk.notify.webhooks import generate_secret


@click.group("escalations")
def escalations_group():
    """Escalations: ladder sweep and outgoing webhooks."""


@escalations_group.command("sweep")
@click.option("--now", "at", default=None, help="ISO time to sweep at (default: now, UTC).")
@with_appcontext
def sweep(at):
    """Renotify and climb unacknowledged escalations; apply the breach-plus-minutes rule."""
    try:
        moment = as_utc(datetime.fromisoformat(at)) if at else clock_now()
    except ValueError:
        raise click.ClickException(f"not an ISO time: {at!r}")
    result = ladder_sweep(moment)
    click.echo(" ".join(f"{key}={value}" for key, value in result.items()))


@escalations_group.command("webhook-secret")
def webhook_secret():
    """Print a new whsec_ secret for DESK_OUTGOING_WEBHOOK_SECRET."""
    click.echo(generate_secret())


COMMANDS = [escalations_group]
