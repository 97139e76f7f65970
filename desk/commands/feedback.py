"""Satisfaction and report commands: import activity events, print or send the weekly report."""
import click
from flask.cli import with_appcontext
from tqdm import tqdm

from desk.core.clock import now as clock_now
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.feedback.activity import read_csv, record_events, summarize
from desk.reports.service import service_report
from desk.reports.weekly import last_week, send_weekly_report, weekly_text

CHUNK = 500


@click.command("import-activity")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--source", default="import", show_default=True,
              help="Source for rows without one (external ids are unique per source).")
@with_appcontext
def import_activity(path, source):
    """Import customer activity (purchases, visits...) from a CSV file: one transaction."""
    _import(path, source)


def _import(path, source):
    try:
        items, outcomes = read_csv(path, source)
    except DeskError as exc:
        raise click.ClickException(str(exc))
    now, seen = clock_now(), set()
    try:
        with tqdm(total=len(items), unit="row", desc="activity", disable=None) as bar:
            for start in range(0, len(items), CHUNK):
                chunk = items[start:start + CHUNK]
                outcomes += record_events([item for _, item in chunk], now, commit=False, seen=seen,
                                          indexes=[line for line, _ in chunk])
                bar.update(len(chunk))
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        raise click.ClickException(f"nothing imported: {exc}")
    counts = summarize(outcomes)
    click.echo(", ".join(f"{counts[k]} {k}" for k in ("imported", "duplicate", "unmatched", "rejected")))
    for outcome in sorted(outcomes, key=lambda o: o.index):
        if outcome.status in ("unmatched", "rejected"):
            click.echo(f"line {outcome.index}: {outcome.status}: {outcome.reason}")


@click.group("report")
def report_group():
    """Service reports."""


@report_group.command("weekly")
@click.option("--send", is_flag=True, help="E-mail it to the SMMs (once per week) instead of printing.")
@click.option("--locale", type=click.Choice(["en", "es"]), default="en", show_default=True)
@with_appcontext
def report_weekly(send, locale):
    """Print last week's service report, or send it with --send."""
    from flask_babel import force_locale

    now = clock_now()
    if send:
        click.echo(f"sent to {send_weekly_report(now)} SMM(s)")
        return
    with force_locale(locale):
        subject, body = weekly_text(service_report(last_week(now), now))
    click.echo(subject)
    click.echo(body)


COMMANDS = [import_activity, report_group]
