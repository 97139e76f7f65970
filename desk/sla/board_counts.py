"""Open and waiting tickets per (channel, language, assignee), kept by triggers on `ticket`.

The board must not read every open ticket on each poll (110k at 1M tickets). Each change of
a ticket's key or of its open / waiting flags adds a -1 row for the old values and a +1 row
for the new ones, in the ticket's own transaction: insert-only, so concurrent writers never
wait on a shared counter. Readers sum the rows per key. `compact()` folds the rows into one
per key in one transaction (a DELETE ... RETURNING and an INSERT), so a reader sees exact
counts before, during and after it, and two compactions at once still add up.

Open: status is not "resolved". Waiting: open with a running first/next-response clock
(the board's and sla/board.py's definition).
"""
from sqlalchemy import String, delete, event, func, select, text
from sqlalchemy.orm import Mapped, mapped_column

from desk.core import triggers
from desk.core.extensions import db
from desk.inbox.tickets import Ticket
from desk.sla.policies import OPEN_STATES

TRIGGERS = ("board_count_ticket_insert", "board_count_ticket_update", "board_count_ticket_delete")
_KEY = ("channel_id", "language", "assignee_id")
_RUNNING_STATES = ", ".join(f"'{state}'" for state in OPEN_STATES)


class BoardCount(db.Model):
    """A signed count of tickets for one key; the sum of a key's rows is its count."""

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int]
    language: Mapped[str | None] = mapped_column(String(5))
    assignee_id: Mapped[int | None]
    open: Mapped[int]
    waiting: Mapped[int]


def _open(row: str) -> str:
    return f"(CASE WHEN {row}.status <> 'resolved' THEN 1 ELSE 0 END)"


def _waiting(row: str) -> str:
    return (f"(CASE WHEN {row}.status <> 'resolved' AND {row}.sla_state IN ({_RUNNING_STATES})"
            f" AND {row}.sla_due_at IS NOT NULL THEN 1 ELSE 0 END)")


def _row(row: str, sign: str) -> str:
    """INSERT (without the semicolon) of ROW's counts with `sign`, when the ticket is open."""
    return (f"INSERT INTO board_count (channel_id, language, assignee_id, open, waiting) "
            f"SELECT {row}.channel_id, {row}.language, {row}.assignee_id, {sign}1, "
            f"{sign}{_waiting(row)} WHERE {_open(row)} = 1")


def _changed(distinct: str) -> str:
    keys = " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in _KEY)
    return f"{keys} OR {_open('OLD')} <> {_open('NEW')} OR {_waiting('OLD')} <> {_waiting('NEW')}"


def _statements(postgresql: bool) -> list[str]:
    bodies = {"insert": _row("NEW", "+"), "delete": _row("OLD", "-"),
              "update": f"{_row('OLD', '-')}; {_row('NEW', '+')}"}
    statements = []
    for name in TRIGGERS:
        op = name.rsplit("_", 1)[1]
        when = f"WHEN ({_changed('IS DISTINCT FROM' if postgresql else 'IS NOT')}) " if op == "update" else ""
        if postgresql:
            statements += [
                f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {bodies[op]}; RETURN NULL; END $$",
                f"DROP TRIGGER IF EXISTS {name} ON ticket",
                f"CREATE TRIGGER {name} AFTER {op.upper()} ON ticket FOR EACH ROW {when}"
                f"EXECUTE FUNCTION {name}()"]
        else:
            statements.append(f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {op.upper()} ON ticket "
                              f"FOR EACH ROW {when}BEGIN {bodies[op]}; END")
    return statements


def installed_triggers(connection) -> set[str]:
    return triggers.present(connection, TRIGGERS)


def install(connection) -> None:
    """Create (or replace) the triggers; board_count must exist."""
    for sql in _statements(connection.dialect.name == "postgresql"):
        connection.exec_driver_sql(sql)


def uninstall(connection) -> None:
    postgresql = connection.dialect.name == "postgresql"
    for name in TRIGGERS:
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}" + (" ON ticket" if postgresql else ""))
        if postgresql:
            connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name}()")


def recount(connection) -> None:
    """Replace every row with a count of the tickets as they are (install, repair)."""
    connection.exec_driver_sql("DELETE FROM board_count")
    connection.exec_driver_sql(
        "INSERT INTO board_count (channel_id, language, assignee_id, open, waiting) "
        f"SELECT channel_id, language, assignee_id, count(*), sum({_waiting('ticket')}) "
        "FROM ticket WHERE status <> 'resolved' GROUP BY channel_id, language, assignee_id")


def counts() -> dict[tuple, tuple[int, int]]:
    """{(channel_id, language, assignee_id): (open, waiting)} for keys with open tickets."""
    rows = db.session.execute(select(
        BoardCount.channel_id, BoardCount.language, BoardCount.assignee_id,
        func.sum(BoardCount.open), func.sum(BoardCount.waiting))
        .group_by(BoardCount.channel_id, BoardCount.language, BoardCount.assignee_id)).all()
    return {(c, lang, a): (int(n), int(w)) for c, lang, a, n, w in rows if n}


def open_by_assignee():
    """A subquery of (assignee_id, open): the open tickets each person owns."""
    return (select(BoardCount.assignee_id, func.sum(BoardCount.open).label("open"))
            .where(BoardCount.assignee_id.is_not(None))
            .group_by(BoardCount.assignee_id).subquery())


def compact() -> int:
    """Fold the rows into one per key (one transaction); returns the rows folded. When a
    trigger is missing (a table rebuilt by a SQLite migration), reinstall and recount."""
    connection = db.session.connection()
    if installed_triggers(connection) != set(TRIGGERS):
        install(connection)
        recount(connection)
        db.session.commit()
        return 0
    folded = db.session.execute(delete(BoardCount).returning(
        BoardCount.channel_id, BoardCount.language, BoardCount.assignee_id,
        BoardCount.open, BoardCount.waiting)).all()
    sums: dict[tuple, list[int]] = {}
    for channel_id, language, assignee_id, n, w in folded:
        acc = sums.setdefault((channel_id, language, assignee_id), [0, 0])
        acc[0] += n
        acc[1] += w
    kept = [{"channel_id": c, "language": lang, "assignee_id": a, "open": n, "waiting": w}
            for (c, lang, a), (n, w) in sums.items() if n or w]
    if kept:
        db.session.execute(BoardCount.__table__.insert(), kept)
    db.session.commit()
    return len(folded)


def live_counts() -> dict[tuple, tuple[int, int]]:
    """The same counts from the tickets themselves (tests and repair checks)."""
    waiting = text(_waiting("ticket"))
    rows = db.session.execute(select(
        Ticket.channel_id, Ticket.language, Ticket.assignee_id, func.count(), func.sum(waiting))
        .where(Ticket.status != "resolved")
        .group_by(Ticket.channel_id, Ticket.language, Ticket.assignee_id)).all()
    return {(c, lang, a): (int(n), int(w)) for c, lang, a, n, w in rows}


@event.listens_for(db.metadata, "after_create")
def _after_create(metadata, connection, **kw):
    install(connection)
