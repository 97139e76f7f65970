"""`desk seed-demo` (demo data that makes every page worth opening on the first run, with a
progress bar), `desk demo-message` (a signed test message to the running desk) and the banner
`desk run` prints once the desk answers."""
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.demo.seed import CHANNELS, DEMO_DAYS, DEMO_META_SECRET, DEMO_PASSWORD, USERS, seed

LANGUAGES = {"es": "opens in Spanish", "en": "opens in English"}


@click.command("seed-demo")
@click.option("--tickets", default=600, show_default=True, help="Past tickets to create.")
@click.option("--days", default=DEMO_DAYS, show_default=True,
              help="Days of history (over 90, so that retention windows close).")
@click.option("--if-empty", is_flag=True, help="Do nothing (exit 0) when the desk has users.")
@with_appcontext
def seed_demo(tickets, days, if_empty):
    """Fill an empty desk with demo tickets, users, channels and replies."""
    if db.session.scalar(select(func.count()).select_from(User)):
        if if_empty:
            click.echo("the desk already has data; demo not loaded")
            return
        raise click.ClickException("the desk is not empty; seed-demo only fills an empty desk")
    if not current_app.config["SANDBOX"]:
        click.echo("note: DESK_SANDBOX is off, so demo replies stay pending until a worker sends them")
    started = time.monotonic()
    with click.progressbar(length=100, label=f"seeding {days} days of demo activity",
                           show_eta=True, width=32) as bar:
        def progress(share: float) -> None:
            bar.update(int(share * 100) - bar.pos)
        counts = seed(clock_now(), tickets, days=days, progress=progress)
    click.echo(f"seeded in {time.monotonic() - started:.0f} s:")
    for what, n in sorted(counts.items()):
        click.echo(f"  {what}: {n}")


def demo_banner(address: str) -> str | None:
    """The demo's sign-ins, languages and doors, or None on a desk that is not the demo."""
    emails = [email for email, *_ in USERS]
    found = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_(emails)))}
    if not found:
        return None
    lines = ["", "=" * 72, f"  the demo desk is ready at {address}",
             f"  sign in with any of these (password {DEMO_PASSWORD}):"]
    for email, _name, role, _locale in USERS:
        user = found.get(email)
        if user is not None:
            language = LANGUAGES.get(user.locale or "", "opens in the browser's language")
            lines.append(f"    {role:<5} {email:<18} {user.name} ({language}; Preferences changes it)")
    secret = current_app.config.get("META_APP_SECRET")
    lines.append("  send it a signed test message (a Messenger DM to the demo's Facebook page):")
    prefix = "" if secret == DEMO_META_SECRET else f"DESK_META_APP_SECRET={DEMO_META_SECRET} "
    lines.append(f"    {prefix}DESK_DEV=1 .venv/bin/desk demo-message \"¿Dónde está mi pedido?\" "
                 f"--url {address.rstrip('/')}")
    if secret and secret != DEMO_META_SECRET:
        lines.append("    (this desk has its own DESK_META_APP_SECRET: set the same one for the command)")
    lines.append("  an API token for the demo's SMM: DESK_DEV=1 .venv/bin/desk create-token demo "
                 "--user smm@desk.demo")
    lines.append("=" * 72)
    return "\n".join(lines)


def ready_banner(address: str) -> str:
    """What `desk run` prints once the desk answers: the demo's doors, or the address."""
    return demo_banner(address) or f"\nthe desk is ready at {address}\n"


def signed_message(text: str, secret: str, sender: str, page_id: str, at_ms: int) -> tuple[bytes, str]:
    """A Messenger webhook body with one DM and its X-Hub-Signature-256 header."""
    body = json.dumps({"object": "page", "entry": [{"id": page_id, "time": at_ms, "messaging": [{
        "sender": {"id": sender}, "recipient": {"id": page_id}, "timestamp": at_ms,
        "message": {"mid": f"m_demo_{uuid.uuid4().hex}", "text": text}}]}]},
        ensure_ascii=False).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, f"sha256={signature}"


@click.command("demo-message")
@click.argument("text")
@click.option("--url", default="http://127.0.0.1:5000", show_default=True, help="The desk's address.")
@click.option("--sender", default="demo-customer-1", show_default=True,
              help="The customer's Messenger id (the same id continues the same conversation).")
@with_appcontext
def demo_message(text, url, sender):
    """Send TEXT to the running desk as a signed Messenger DM to the demo's Facebook page."""
    secret = current_app.config.get("META_APP_SECRET") or ""
    if not secret:
        raise click.ClickException(f"no DESK_META_APP_SECRET: the demo's is {DEMO_META_SECRET}")
    page_id = CHANNELS[0][1]
    body, signature = signed_message(text, secret, sender, page_id, int(clock_now().timestamp() * 1000))
    request = urllib.request.Request(f"{url.rstrip('/')}/webhooks/meta", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "X-Hub-Signature-256": signature})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            click.echo(f"sent ({response.status}); it shows in the inbox within seconds")
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"the desk answered {exc.code}: {exc.read()[:200]!r}") from exc
    except urllib.error.URLError as exc:
        raise click.ClickException(f"the desk does not answer at {url}: {exc.reason}") from exc


COMMANDS = [seed_demo, demo_message]
