"""`desk seed-demo`: demo data that makes every page worth opening on the first run."""
import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.demo.seed import DEMO_PASSWORD, USERS, seed


@click.command("seed-demo")
@click.option("--tickets", default=320, show_default=True, help="Past tickets to create.")
@click.option("--if-empty", is_flag=True, help="Do nothing (exit 0) when the desk has users.")
@with_appcontext
def seed_demo(tickets, if_empty):
    """Fill an empty desk with a month of demo tickets, users, channels and replies."""
    if db.session.scalar(select(func.count()).select_from(User)):
        if if_empty:
            click.echo("the desk already has data; demo not loaded")
            return
        raise click.ClickException("the desk is not empty; seed-demo only fills an empty desk")
    if not current_app.config["SANDBOX"]:
        click.echo("note: DESK_SANDBOX is off, so demo replies stay pending until a worker sends them")
    counts = seed(clock_now(), tickets)
    for what, n in sorted(counts.items()):
        click.echo(f"  {what}: {n}")
    click.echo(f"\nDemo sign-ins (password {DEMO_PASSWORD!r}):")
    for email, name, role, _locale in USERS:
        click.echo(f"  {role:<5} {email}  ({name})")


COMMANDS = [seed_demo]
