"""`desk import-messages FILE.csv`: load a CSV export of comments, DMs and mentions."""
import csv
import io

import click
from flask.cli import with_appcontext
from pydantic import ValidationError
from tqdm import tqdm

from desk.channels.generic import MessageIn
from desk.core.clock import now as clock_now
from desk.intake.events import accept_messages, unknown_channels
from desk.intake.ingest import process_events

REQUIRED = ("platform", "account_id", "kind", "message_id", "author_id")
OPTIONAL = ("thread_id", "parent_id", "author_handle", "author_name", "author_followers", "text",
            "sent_at", "direction", "attachments", "post_url", "post_text")
CHUNK = 200


def read_rows(raw: bytes) -> list[tuple[int, dict]]:
    """(line number, row) pairs; ClickException for a file that is not a usable CSV."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException("the file is not UTF-8 text (export it as CSV UTF-8)")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise click.ClickException(f"the CSV header lacks required columns: {', '.join(missing)} "
                                   f"(required: {', '.join(REQUIRED)}; optional: {', '.join(OPTIONAL)})")
    reader.fieldnames = header
    try:
        return [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise click.ClickException(f"line {reader.line_num}: not valid CSV ({exc})")


def to_message(row: dict) -> MessageIn:
    """One CSV row as the generic ingest shape (pydantic raises ValidationError)."""
    value = {k: (v or "").strip() for k, v in row.items() if k}
    attachments = [{"type": "link", "url": url} for url in value.get("attachments", "").split()]
    return MessageIn.model_validate({
        "channel": {"platform": value.get("platform", "").lower(), "account_id": value.get("account_id")},
        "kind": value.get("kind", "").lower(), "message_id": value.get("message_id"),
        "thread_id": value.get("thread_id") or None, "parent_id": value.get("parent_id") or None,
        "author": {"id": value.get("author_id"), "handle": value.get("author_handle") or None,
                   "name": value.get("author_name") or None,
                   "followers": value.get("author_followers") or None},
        "text": row.get("text") or "", "sent_at": value.get("sent_at") or None,
        "direction": value.get("direction") or "in", "attachments": attachments,
        "post_url": value.get("post_url") or None, "post_text": value.get("post_text") or None})


def _reason(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                     for e in exc.errors(include_url=False, include_input=False))


@click.command("import-messages")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_messages(path):
    """Import comments, DMs and mentions from a CSV file (one message per row)."""
    with open(path, "rb") as handle:
        rows = read_rows(handle.read())
    valid, rejected = [], []
    for line, row in rows:
        try:
            valid.append((line, to_message(row)))
        except ValidationError as exc:
            rejected.append((line, _reason(exc)))
    unknown = set(unknown_channels([m for _, m in valid]))
    rejected += [(valid[i][0], "no connected channel with this platform and account_id")
                 for i in sorted(unknown)]
    valid = [item for i, item in enumerate(valid) if i not in unknown]
    totals = {"imported": 0, "duplicate": 0}
    now = clock_now()
    with tqdm(total=len(valid), unit="msg", desc="importing") as bar:
        for start in range(0, len(valid), CHUNK):
            chunk = [m for _, m in valid[start:start + CHUNK]]
            ids = accept_messages(chunk, now, source="csv", enqueue=False)
            totals["duplicate"] += len(chunk) - len(ids)
            for outcome, n in process_events(ids, now).items():
                key = "imported" if outcome in ("created", "appended", "reopened", "updated",
                                                "deleted") else "duplicate"
                totals[key] += n
            bar.update(len(chunk))
    click.echo(f"imported: {totals['imported']}, skipped as duplicate: {totals['duplicate']}, "
               f"rejected: {len(rejected)}")
    for line, reason in sorted(rejected):
        click.echo(f"  line {line}: {reason}", err=True)
    if rejected and not totals["imported"]:
        raise SystemExit(1)


COMMANDS = [import_messages]
