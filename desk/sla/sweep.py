"""The SLA sweep: records warnings and breaches exactly once, then tells people.

Exactly once (invariant I5) rests on the database, not on timing: each event is a
conditional UPDATE (`... WHERE warned_at IS NULL` / `breached_at IS NULL`) that returns
only the rows it changed, so two sweeps running at once, a re-run after a crash or a
scheduler firing twice record and announce each event once. On PostgreSQL the candidate
rows are taken with FOR UPDATE SKIP LOCKED, so concurrent sweeps split the work instead of
queueing behind each other. A breach is stamped with its due time, whenever it is detected.
"""
import logging
from datetime import datetime
from typing import NamedTuple

from flask import current_app
from sqlalchemy import select, text, update

from desk.accounts.users import User
from desk.core import signals
from desk.core.clock import as_utc, moved
from desk.core.extensions import db
from desk.core.queue import enqueue_after_commit
from desk.core.texts import N_, Later, for_reader, term
from desk.inbox.tickets import Ticket
from desk.notify.mailer import send_mail
from desk.notify.notifications import Notification
from desk.notify.preferences import muted, wants
from desk.sla.policies import RUNNING, SlaClock

log = logging.getLogger(__name__)


BATCH = 500  # events of each kind per transaction


class SweepResult(NamedTuple):
    warnings: list[int]  # clock ids warned by this sweep
    breaches: list[int]  # clock ids breached by this sweep


def database_now() -> datetime:
    """The database server's clock: the one clock every worker host agrees on (B.5.5)."""
    if db.engine.dialect.name == "sqlite":
        raw = db.session.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar()
        return moved(as_utc(datetime.fromisoformat(raw)))
    return moved(as_utc(db.session.execute(text("SELECT statement_timestamp()")).scalar()))


def _claim(condition, values: dict, order, limit: int) -> list:
    """UPDATE up to `limit` clocks matching `condition`, oldest first, once; rows another
    sweep holds are skipped."""
    candidates = select(SlaClock.id).where(condition).order_by(order).limit(limit)
    if db.engine.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    statement = (update(SlaClock).where(SlaClock.id.in_(candidates.scalar_subquery()), condition)
                 .values(**values)
                 .returning(SlaClock.id, SlaClock.ticket_id)
                 .execution_options(synchronize_session=False))
    return sorted(db.session.execute(statement).all())


def sweep(now: datetime | None = None, batch: int = BATCH) -> SweepResult:
    """Record breaches then warnings due at `now` (default: the database clock).

    Commits every `batch` events of each kind, so a catch-up after a long outage makes
    progress in short transactions instead of one that could time out and start over.
    """
    now = as_utc(now) if now is not None else database_now()
    result = SweepResult([], [])
    while True:
        breached = _claim(
            (SlaClock.state.in_(RUNNING)) & (SlaClock.due_at <= now) & SlaClock.breached_at.is_(None),
            {"state": "breached", "breached_at": SlaClock.due_at, "breach_detected_at": now},
            SlaClock.due_at, batch)
        warned = _claim(
            (SlaClock.state == "on_track") & (SlaClock.warn_at <= now) & (SlaClock.due_at > now)
            & SlaClock.warned_at.is_(None),
            {"state": "at_risk", "warned_at": now}, SlaClock.warn_at, batch)
        _mirror_tickets([t for _, t in breached], "breached", RUNNING)
        _mirror_tickets([t for _, t in warned], "at_risk", ("on_track",))
        if breached or warned:
            _announce([c for c, _ in warned], [c for c, _ in breached], now)
        db.session.commit()
        result.warnings.extend(c for c, _ in warned)
        result.breaches.extend(c for c, _ in breached)
        if len(breached) < batch and len(warned) < batch:
            return result


def _mirror_tickets(ticket_ids: list[int], state: str, from_states) -> None:
    for chunk in _chunks(ticket_ids):
        db.session.execute(update(Ticket).where(Ticket.id.in_(chunk), Ticket.sla_state.in_(from_states))
                           .values(sla_state=state).execution_options(synchronize_session=False))


def _chunks(ids: list[int], size: int = 5000):
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def _announce(warned: list[int], breached: list[int], now: datetime) -> None:
    """Signals, in-app notifications and optional e-mail for the events just recorded."""
    ids = warned + breached
    fresh = {"populate_existing": True}
    clocks = {c.id: c for chunk in _chunks(ids) for c in db.session.scalars(
        select(SlaClock).where(SlaClock.id.in_(chunk)).execution_options(**fresh))}
    tickets = {t.id: t for chunk in _chunks(sorted({c.ticket_id for c in clocks.values()}))
               for t in db.session.scalars(
                   select(Ticket).where(Ticket.id.in_(chunk)).execution_options(**fresh))}
    leads = lead_ids()
    mail = bool(current_app.config.get("SMTP_HOST"))
    notes = []
    for event, clock_ids, signal in (("warning", warned, signals.sla_warned),
                                     ("breach", breached, signals.sla_breached)):
        for clock_id in clock_ids:
            clock = clocks[clock_id]
            ticket = tickets[clock.ticket_id]
            signal.send(ticket, clock=clock, now=now)
            if ticket.status == "resolved":
                continue  # recorded and announced, but nobody needs to act on a closed ticket
            later = event_message(event, clock, ticket)
            text_, params = event_text(event, clock, ticket), later.params()
            for user_id in set(leads) | ({ticket.assignee_id} if ticket.assignee_id else set()):
                notes.append(Notification(user_id=user_id, kind=f"sla_{event}", text=text_,
                                          message=later.msgid, params=params,
                                          link=f"/tickets/{ticket.id}", ticket_id=ticket.id,
                                          dedupe_key=f"sla-{event}-{clock.id}", created_at=now))
            if mail and leads:
                enqueue_after_commit("notify", "workers.sla.mail_event", clock.id, event)
    _notify_many(notes)


def _notify_many(notes: list[Notification]) -> None:
    """desk.notify.notifications.notify for many events at once: one query instead of one per event;
    the same (user, dedupe_key) rule, backed by the same unique constraint."""
    keys = sorted({n.dedupe_key for n in notes})
    taken = set()
    for chunk in _chunks(keys, 1000):
        taken.update(db.session.execute(select(Notification.user_id, Notification.dedupe_key)
                                        .where(Notification.dedupe_key.in_(chunk))).all())
    off = {(kind, uid) for kind in {n.kind for n in notes}
           for uid in muted({n.user_id for n in notes if n.kind == kind}, kind, "app")}
    db.session.add_all(n for n in notes if (n.user_id, n.dedupe_key) not in taken
                       and (n.kind, n.user_id) not in off)


def lead_ids() -> list[int]:
    """Active team leads; when there are none, the SMMs watch the SLA instead."""
    for roles in (("lead",), ("smm", "admin")):
        found = list(db.session.scalars(select(User.id).where(User.role.in_(roles),
                                                             User.active.is_(True))))
        if found:
            return found
    return []


def event_message(event: str, clock: SlaClock, ticket: Ticket) -> Later:
    """One line for a notification: a message shown in the reader's language, the due time in
    the reader's time zone."""
    label = term(N_("first response") if clock.kind == "first" else N_("next response"))
    if event == "breach":
        return Later(N_("%(ref)s: %(clock)s is overdue (due %(due)s)."), ref=ticket.reference,
                     clock=label, due=clock.due_at)
    return Later(N_("%(ref)s: %(clock)s due at %(due)s is at risk."), ref=ticket.reference,
                 clock=label, due=clock.due_at)


def event_text(event: str, clock: SlaClock, ticket: Ticket) -> str:
    """The line in the desk's default language and time zone (kept beside the message)."""
    with for_reader(None, None):
        return str(event_message(event, clock, ticket))


def mail_event(clock_id: int, event: str) -> bool:
    """E-mail the leads about one recorded event (the notify job), each in their language and
    time zone; False when mail is off."""
    clock = db.session.get(SlaClock, clock_id)
    if clock is None:
        return False
    readers: dict[tuple, list[str]] = {}
    for user in db.session.scalars(select(User).where(User.id.in_(lead_ids()))):
        if not wants(user.notification_prefs, f"sla_{event}", "mail"):
            continue
        readers.setdefault((user.locale or "", user.timezone or ""), []).append(user.email)
    link = current_app.config["BASE_URL"].rstrip("/") + f"/tickets/{clock.ticket_id}"
    sent = False
    for (locale, time_zone), emails in sorted(readers.items()):
        with for_reader(locale or None, time_zone or None):
            body = str(event_message(event, clock, clock.ticket))
        sent = send_mail(sorted(emails), body, f"{body}\n\n{link}\n") or sent
    return sent
