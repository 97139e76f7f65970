"""Customer data commands: export one person's data, erase it, and purge old message text."""
import json

import click
from flask import current_app
from flask.cli import with_appcontext

from desk.accounts.audit import Actor
from desk.core.clock import now as clock_now
from desk.core.errors import DeskError
from desk.people import privacy, purge


@click.group("customers")
def customers_group():
    """A customer's data: export, erasure, retention."""


@customers_group.command("export")
@click.argument("customer_id", type=int)
@click.option("--out", type=click.File("w", encoding="utf-8"), default="-",
              help="Where the JSON goes (default: standard output).")
@with_appcontext
def export(customer_id, out):
    """Write everything the desk holds about one customer as JSON."""
    try:
        document = privacy.export_customer(customer_id, by=Actor(source="cli"), now=clock_now())
    except DeskError as exc:
        raise click.ClickException(str(exc)) from None
    json.dump(document, out, ensure_ascii=False, indent=2)
    out.write("\n")


@customers_group.command("erase")
@click.argument("customer_id", type=int)
@click.option("--yes", is_flag=True, help="Confirm: the erasure cannot be undone.")
@with_appcontext
def erase(customer_id, yes):
    """Erase one customer's data (figures are kept anonymously)."""
    if not yes:
        raise click.ClickException("an erasure cannot be undone: add --yes to confirm")
    try:
        result = privacy.erase_customer(customer_id, by=Actor(source="cli"), now=clock_now())
    except DeskError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"customer {result.customer_id} erased: {result.tickets} tickets, "
               f"{result.messages} messages, {result.raw_events} raw events, "
               f"{result.deliveries} outgoing events")


@customers_group.command("purge-old-text")
@click.option("--months", type=int, default=None,
              help="Remove text older than this (default: DESK_TEXT_RETENTION_MONTHS).")
@with_appcontext
def purge_old_text(months):
    """Remove message text older than the retention setting, for every customer."""
    months = int(current_app.config["TEXT_RETENTION_MONTHS"]) if months is None else months
    if months <= 0:
        raise click.ClickException("no retention set: DESK_TEXT_RETENTION_MONTHS is 0 (off)")
    result = purge.purge_old_text(clock_now(), months)
    click.echo(f"text older than {months} months removed: {result.messages} messages, "
               f"{result.files} sent files, "
               f"{result.subjects} subjects, {result.comments} survey comments, "
               f"{result.examples} suggestion examples, {result.raw_events} raw events, "
               f"{result.deliveries} outgoing events")


COMMANDS = (customers_group,)
