"""The end-state invariants I1-I6 of security-reliability.md B.5, shared by the fault suite.

Call `assert_invariants()` inside an app context once the test's work is done (queue drained,
re-sweep run). Optional arguments make the checks exact: `accepted` is the (source,
dedupe_key) pairs the webhooks acknowledged, `messages` the distinct provider message ids
that must exist, `platform` a tests.fakeplatform.FakePlatform whose calls are counted.
"""
from collections import Counter
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from desk.core.extensions import db
from desk.inbox.tickets import Message, Ticket
from desk.intake.events import WAITING, InboundEvent
from desk.notify.notifications import Notification
from desk.sla.policies import SlaClock


def _doubles(*columns, where=None) -> list:
    statement = select(*columns, func.count()).group_by(*columns).having(func.count() > 1)
    if where is not None:
        statement = statement.where(where)
    return db.session.execute(statement).all()


def assert_invariants(accepted=None, messages=None, platform=None, now: datetime | None = None):
    """Assert I1-I6; `now` is the time the re-sweep ran (default: nothing waiting at all)."""
    db.session.expire_all()
    # I1: every accepted event exactly once in inbound_event.
    assert _doubles(InboundEvent.source, InboundEvent.dedupe_key) == [], "I1: event stored twice"
    if accepted is not None:
        stored = set(db.session.execute(select(InboundEvent.source, InboundEvent.dedupe_key)).all())
        missing = set(accepted) - {tuple(row) for row in stored}
        assert not missing, f"I1: {len(missing)} accepted events lost, e.g. {sorted(missing)[:3]}"
    # I2: every distinct provider message exactly once in message.
    assert _doubles(Message.channel_id, Message.platform_message_id,
                    where=Message.platform_message_id.is_not(None)) == [], "I2: message twice"
    if messages is not None:
        stored = set(db.session.scalars(select(Message.platform_message_id)).all())
        missing = set(messages) - stored
        assert not missing, f"I2: {len(missing)} messages lost, e.g. {sorted(missing)[:3]}"
    # I3: no outbound message sent twice (platform calls per idempotency key, and our keys).
    assert _doubles(Message.idempotency_key, where=Message.idempotency_key.is_not(None)) == []
    if platform is not None:
        keys = Counter(call["headers"].get("Idempotency-Key") for call in platform.calls)
        sent = {k: n for k, n in keys.items() if n > 1}
        assert not sent, f"I3: sent twice: {sent}"
    # I4: no ticket twice for one external thread (open or pending at the same time).
    assert _doubles(Ticket.channel_id, Ticket.thread_key, where=Ticket.status != "resolved") == [], \
        "I4: two live tickets for one thread"
    # I5: at most one breach per (ticket, clock kind, cycle), announced once per person.
    assert _doubles(SlaClock.ticket_id, SlaClock.kind, SlaClock.cycle) == [], "I5: clock twice"
    assert _doubles(Notification.user_id, Notification.dedupe_key,
                    where=Notification.kind == "sla_breach") == [], "I5: breach announced twice"
    early = db.session.scalar(select(func.count()).select_from(SlaClock).where(
        SlaClock.breach_detected_at.is_not(None), SlaClock.breach_detected_at < SlaClock.due_at))
    assert early == 0, "I5: a breach was recorded before its due time"
    # I6: nothing stuck in received/enqueued older than the re-sweep period after it ran.
    waiting = select(func.count()).select_from(InboundEvent).where(InboundEvent.status.in_(WAITING))
    if now is not None:
        cutoff = now - timedelta(seconds=int(current_app.config["INBOUND_STALE_SECONDS"]))
        waiting = waiting.where(InboundEvent.received_at < cutoff)
    assert db.session.scalar(waiting) == 0, "I6: inbound events stuck waiting"
