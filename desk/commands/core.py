"""Core commands: run, worker, scheduler, init-db, users and passwords, tokens, channels."""
import logging
import os
import signal
import socket
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import click
from flask import current_app
from flask.cli import routes_command, shell_command, with_appcontext
from flask_migrate import upgrade
from werkzeug.serving import run_simple

from desk.accounts import audit, passwords
from desk.accounts import users as auth
from desk.accounts.audit import Actor
from desk.accounts.tokens import SCOPES, create_api_token, revoke_api_token
from desk.channels.accounts import PLATFORMS, Channel, add_channel, set_token
from desk.commands.demo import ready_banner
from desk.core.clock import now as clock_now
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.core.process import Child, Children, freeze_startup_objects
from desk.core.queue import QUEUES, redis_connection
from desk.core.runners import run_worker


def fail(message: str):
    """Print a clear error and exit non-zero."""
    raise click.ClickException(message)


@click.command("init-db")
@with_appcontext
def init_db():
    """Create or migrate the database schema to the newest version."""
    upgrade(directory=current_app.extensions["migrate"].directory)
    click.echo(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("create-user")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(auth.ROLES))
@click.option("--name", default="", help="Display name (default: the e-mail's local part).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              envvar="DESK_NEW_USER_PASSWORD", help="Prompted for when not given.")
@click.option("--locale", type=click.Choice(["en", "es"]), default=None)
@with_appcontext
def create_user(email, role, name, password, locale):
    """Create a user with a role: cm, lead, smm or admin (the password rules apply)."""
    try:
        passwords.check_password(password, email=email, name=name)
        user = auth.create_user(email, name, password, role, locale=locale)
    except DeskError as exc:
        fail(str(exc))
    click.echo(f"created {user.role} {user.email} (id {user.id})")


@click.command("set-password")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              envvar="DESK_NEW_PASSWORD", help="Prompted for when not given.")
@with_appcontext
def set_password(email, password):
    """Set a user's password (the rules apply), ending their sessions: for an admin locked
    out where no mail is configured."""
    user = db.session.scalar(db.select(auth.User).where(
        auth.User.email == auth.normalize_email(email)))
    if user is None:
        fail(f"no user with e-mail {email}")
    try:
        passwords.check_password(password, user)
    except DeskError as exc:
        fail(str(exc))
    now = clock_now()
    audit.record("user.password_set_by_command", actor="system", at=now,
                 by=audit.Actor(source="cli"), object_type="user", object_id=user.id,
                 data={"user_id": user.id})
    auth.set_password(user, password, now)
    click.echo(f"password set for {user.email}; their sessions and API tokens are ended")


@click.command("create-token")
@click.argument("name")
@click.option("--user", "email", default=None, help="E-mail of the user the token acts for.")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(list(SCOPES)),
              help="A scope the token holds (repeat it; default: every scope the user's role "
                   "allows, or every scope for a token made for no user).")
@click.option("--expires", default=None, metavar="DAYSd|DATE",
              help="When the token stops working: a number of days (90d) or an ISO date or "
                   "time (2027-06-30, midnight UTC when no zone is given). Default: never.")
@with_appcontext
def create_token(name, email, scopes, expires):
    """Create an API token; its secret is printed once and never stored."""
    now = clock_now()
    expires_at = parse_expiry(expires, now) if expires else None
    user = None
    if email:
        user = db.session.scalar(db.select(auth.User).where(
            auth.User.email == auth.normalize_email(email)))
        if user is None:
            fail(f"no user with e-mail {email}")
    try:
        token, raw = create_api_token(name, user, scopes=list(scopes) or None,
                                      expires_at=expires_at, now=now, by=Actor(source="cli"))
    except DeskError as exc:
        fail(str(exc))
    until = f", expires {token.expires_at.isoformat()}" if token.expires_at else ""
    click.echo(f"token {token.id} ({token.name}; scopes: {' '.join(token.scope_list)}{until}); "
               "keep this secret, it is shown only once:")
    click.echo(raw)


def parse_expiry(text: str, now: datetime) -> datetime:
    """"90d" (days from now) or an ISO date or time (UTC unless it names a zone)."""
    text = text.strip()
    if text[:-1].isdigit() and text[-1:].lower() == "d":
        return now + timedelta(days=int(text[:-1]))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--expires takes a number of days (90d) or an ISO date, not {text!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@click.command("revoke-token")
@click.argument("token_id", type=int)
@with_appcontext
def revoke_token(token_id):
    """Revoke an API token by id; it stops working at once."""
    try:
        token = revoke_api_token(token_id, by=Actor(source="cli"))
    except DeskError as exc:
        fail(str(exc))
    click.echo(f"revoked token {token.id} ({token.name})")


@click.group("channel")
def channel_group():
    """Connected platform accounts."""


@channel_group.command("add")
@click.argument("platform", type=click.Choice(PLATFORMS))
@click.argument("account_id")
@click.argument("name")
@click.option("--handle", default=None)
@click.option("--access-token", default=None, envvar="DESK_CHANNEL_ACCESS_TOKEN",
              help="Token for the platform's send API (or DESK_CHANNEL_ACCESS_TOKEN).")
@with_appcontext
def channel_add(platform, account_id, name, handle, access_token):
    """Connect an account: PLATFORM ACCOUNT_ID NAME."""
    try:
        channel = add_channel(platform, account_id, name, handle, access_token,
                              by=Actor(source="cli"))
    except DeskError as exc:
        fail(str(exc))
    click.echo(f"channel {channel.id}: {channel.label}, account {channel.account_id}")


@channel_group.command("list")
@with_appcontext
def channel_list():
    """List the connected accounts."""
    for channel in db.session.scalars(db.select(Channel).order_by(Channel.id)):
        state = "" if channel.active else " (inactive)"
        state += " (failing)" if channel.failing else ""
        token = f"\ttoken {channel.token_hint}" if channel.token_hint else ""
        click.echo(f"{channel.id}\t{channel.platform}\t{channel.account_id}\t{channel.name}"
                   f"{state}{token}")


@channel_group.command("token")
@click.argument("channel_id", type=int)
@click.option("--access-token", prompt=True, hide_input=True, envvar="DESK_CHANNEL_ACCESS_TOKEN",
              help="The new token (prompted for, or DESK_CHANNEL_ACCESS_TOKEN).")
@with_appcontext
def channel_token(channel_id, access_token):
    """Give channel CHANNEL_ID a new access token (waiting replies then go)."""
    try:
        channel = set_token(channel_id, access_token, Actor(source="cli"), clock_now())
    except DeskError as exc:
        fail(str(exc))
    click.echo(f"channel {channel.id}: new token saved (ending {channel.token_last4})")


@click.command("worker")
@click.option("--queues", default=",".join(QUEUES), show_default=True)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--with-scheduler", is_flag=True, help="Also run delayed (enqueue_in) jobs.")
@click.option("--quiet", is_flag=True, help="Log warnings and errors only, not every job.")
@with_appcontext
def worker(queues, burst, with_scheduler, quiet):
    """Run an RQ worker on the desk's queues (jobs run in-process, no fork per job); it waits
    out Redis outages and stops on SIGTERM or Ctrl-C."""
    names = [name.strip() for name in queues.split(",") if name.strip()]
    unknown = set(names) - set(QUEUES)
    if unknown:
        fail(f"unknown queue(s): {', '.join(sorted(unknown))}")
    db.engine.dispose()  # never share pooled connections with a parent process
    freeze_startup_objects()
    run_worker(names, redis_connection(), burst=burst, with_scheduler=with_scheduler,
               logging_level="WARNING" if quiet else "INFO")


@click.command("scheduler")
@click.option("--quiet", is_flag=True, help="Log warnings and errors only, not every job enqueued.")
@with_appcontext
def scheduler(quiet):
    """Run the periodic jobs (SLA sweep, re-sweeps, reports); it waits out Redis outages.
    Run exactly one."""
    import importlib
    importlib.import_module("workers.schedule").run_scheduler(
        current_app.config, logging_level="WARNING" if quiet else "INFO")


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def run(host, port):
    """Development: web server, worker and scheduler together, stopped by Ctrl-C or SIGTERM."""
    env = {**os.environ, "DESK_DEV": "1"}
    desk_cmd = [sys.executable, "-m", "desk"]
    # Worker, scheduler and web server log warnings and errors only: a line for every job and
    # every page poll buried the sign-ins (issue #20).
    children = Children([Child(desk_cmd + ["worker", "--with-scheduler", "--quiet"], env),
                         Child(desk_cmd + ["scheduler", "--quiet"], env)])
    # `kill` (SIGTERM) stops the children as Ctrl-C does: Python's default for SIGTERM ends
    # the process at once, skipping the `finally`, and left the worker and scheduler running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        children.start()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        address = f"http://{host}:{port}/"
        click.echo(f"the desk is at {address}  (worker and scheduler started, and "
                   "started again if they exit)")
        # Said again once the server answers, after the start-up lines of every process.
        threading.Thread(target=_say_when_ready, args=(host, port, ready_banner(address)),
                         daemon=True).start()
        # app.run() refuses to start inside a Flask CLI command; run_simple is what it calls.
        run_simple(host, port, current_app._get_current_object(), threaded=True)
    finally:
        children.stop()


def _say_when_ready(host: str, port: int, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    time.sleep(1.5)  # the worker's and scheduler's start-up lines come first
    click.echo(text)


COMMANDS = [init_db, create_user, set_password, create_token, revoke_token, channel_group, worker,
            scheduler, run, shell_command, routes_command]
