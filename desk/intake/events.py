"""Inbound events: each platform event is stored raw and unique before it is acknowledged.

The table is the ingest outbox: received -> enqueued -> processed | failed | dropped. A
re-sweep enqueues what Redis never got, so an acknowledged event is never lost.
"""
import json
import logging
from datetime import datetime, timedelta

from flask import current_app
from rq import Retry
from sqlalchemy import (
    Index,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from desk.channels.accounts import Channel
from desk.channels.generic import raw_event
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.queue import clear_flag, enqueue, set_flag
from desk.core.storable import storable, storable_text, unstorable
from desk.core.types import UTCDateTime

log = logging.getLogger(__name__)
EVENT_STATES = ("received", "enqueued", "processed", "failed", "dropped")
WAITING = ("received", "enqueued")


class InboundEvent(db.Model):
    __table_args__ = (
        UniqueConstraint("source", "dedupe_key"),
        Index("ix_inbound_event_status_received", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # meta, x, api, csv
    dedupe_key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[str] = mapped_column(Text)  # the event's raw JSON
    status: Mapped[str] = mapped_column(String(10), default="received")
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


BATCH_SIZE = 100  # events per transaction: savepoints per event, one commit; row locks on
                  # tickets last one batch, so agents' claims and replies wait at most that long
DRAIN_SECONDS = 1.0  # work per job before a fresh job at the back of the queue carries on
PENDING_FLAG = "inbound-pending"  # set while a processing job is queued and not yet started
PENDING_TTL = 30


def _dedupe_key(key: str) -> str:
    """Keys fit the column; an over-long one is shortened to a stable hash."""
    if len(key) <= 255:
        return key
    import hashlib
    return key[:180] + ":" + hashlib.sha256(key.encode()).hexdigest()


def _payload(payload) -> str:
    """The event's JSON as stored: NUL and lone surrogates, which no database takes, become
    U+FFFD here, so the stored event and everything parsed from it hold only storable text."""
    stored = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    # json.dumps writes a NUL as the escape \u0000 and a lone surrogate as itself: one scan of
    # the text, and the walk only for the rare event that needs it (or quotes a literal \u0000).
    if "\\u0000" in stored or unstorable(stored):
        stored = json.dumps(storable(payload), ensure_ascii=False, separators=(",", ":"))
    return stored


def record_events(source: str, events: list, now: datetime, enqueue: bool = True) -> list[int]:
    """Store raw events once each (ON CONFLICT DO NOTHING), committed, then enqueue the new ones.

    Keys and payloads are made storable first (core/storable.py), so one event's text never
    fails the statement that stores its whole delivery. Returns the ids of the events stored
    by this call (duplicates are left out).
    """
    if not events:
        return []
    rows = [{"source": source, "dedupe_key": _dedupe_key(storable_text(event.dedupe_key)),
             "payload": _payload(event.payload),
             "status": "received", "attempts": 0, "received_at": now} for event in events]
    # The caller's work first: the events commit on their own. (A webhook has no session:
    # asking would make one, to be torn down after the request.)
    if db.session.registry.has() and db.session().in_transaction():
        db.session.commit()
    with _store_connection() as connection:  # one statement: committed when it returns
        if connection.dialect.name == "postgresql" and len(rows) == 1:  # most deliveries
            ids = list(connection.execute(_PG_STORE_ONE, rows[0]).scalars().all())
        elif connection.dialect.name == "postgresql":
            ids = list(connection.execute(_PG_STORE, {
                "source": source, "now": now, "keys": [row["dedupe_key"] for row in rows],
                "payloads": [row["payload"] for row in rows]}).scalars().all())
        else:
            statement = (_dialect_insert()(InboundEvent.__table__)
                         .on_conflict_do_nothing(index_elements=["source", "dedupe_key"])
                         .returning(InboundEvent.__table__.c.id))
            ids = list(connection.execute(statement, rows).scalars().all())
    if enqueue:
        enqueue_batches(sorted(ids))
    return ids


# Rows per INSERT: a whole delivery (Meta sends at most 1,000 events) is one atomic statement.
STORE_PAGE_SIZE = 5000
# PostgreSQL: a re-delivered event whose row a worker is updating would make ON CONFLICT wait
# for that worker's transaction (up to the lock budget, then 503); the NOT EXISTS read never
# waits, so only two deliveries racing on a brand-new key wait for each other. One statement
# (arrays, not a VALUES list) whatever the number of events, so it is prepared once; a
# delivery of one event (most of them) skips the arrays' encoding.
_PG_STORE = text("""
    INSERT INTO inbound_event (source, dedupe_key, payload, status, attempts, received_at)
    SELECT CAST(:source AS varchar), incoming.dedupe_key, incoming.payload, 'received', 0, :now
    FROM unnest(CAST(:keys AS text[]), CAST(:payloads AS text[])) AS incoming(dedupe_key, payload)
    WHERE NOT EXISTS (SELECT 1 FROM inbound_event stored
                      WHERE stored.source = CAST(:source AS varchar) AND stored.dedupe_key = incoming.dedupe_key)
    ON CONFLICT (source, dedupe_key) DO NOTHING
    RETURNING id""")
_PG_STORE_ONE = text("""
    INSERT INTO inbound_event (source, dedupe_key, payload, status, attempts, received_at)
    SELECT CAST(:source AS varchar), CAST(:dedupe_key AS varchar), :payload, 'received', 0,
           :received_at
    WHERE NOT EXISTS (SELECT 1 FROM inbound_event stored
                      WHERE stored.source = CAST(:source AS varchar)
                        AND stored.dedupe_key = CAST(:dedupe_key AS varchar))
    ON CONFLICT (source, dedupe_key) DO NOTHING
    RETURNING id""")


def _store_connection():
    """A connection of the app's raw-event engine: autocommit, no pre-ping, lock budget set.

    A webhook is acknowledged after one INSERT: no BEGIN, COMMIT or ping round trips, which
    at hundreds of posts a second are most of the cost. A connection the server dropped fails
    that request with 503 (the platform retries) and the pool reconnects.
    """
    app = current_app._get_current_object()
    engine = app.extensions.get("desk_event_store")
    if engine is None:
        engine = create_engine(db.engine.url, isolation_level="AUTOCOMMIT",
                               insertmanyvalues_page_size=STORE_PAGE_SIZE)
        engine = app.extensions.setdefault("desk_event_store", engine)
    connection = engine.connect()
    # A locked table fails fast (503), never hangs: on PostgreSQL the lock timeout, on SQLite
    # the busy timeout (30 s elsewhere, desk/core/extensions.py) are the budget.
    budget = int(app.config["INBOUND_LOCK_TIMEOUT_MS"])
    if connection.info.get("lock_timeout") != budget:  # set once per pooled connection
        setting = "SET lock_timeout = {}" if engine.dialect.name == "postgresql" \
            else "PRAGMA busy_timeout = {}"
        connection.exec_driver_sql(setting.format(budget))
        connection.info["lock_timeout"] = budget
    return connection


def _dialect_insert():
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def enqueue_batches(ids: list[int], coalesce: bool = True) -> int:
    """Enqueue processing for committed events; those given their own job become "enqueued".

    With `coalesce`, a job that is already pending covers new events (it claims everything
    waiting when it starts), so a burst of webhooks costs a few jobs, not one per request;
    those events stay "received" until that job processes them.
    """
    sent = 0
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start:start + BATCH_SIZE]
        fresh = set_flag(PENDING_FLAG, PENDING_TTL) if coalesce else True
        if not fresh:
            continue  # a pending job covers these (False), or Redis is down (None): re-sweep
        if enqueue("inbound", "workers.inbound.process_events", chunk,
                   retry=Retry(max=3, interval=[5, 30, 120])) is None:
            clear_flag(PENDING_FLAG)
            continue
        waiting = select(InboundEvent.id).where(InboundEvent.id.in_(chunk),
                                                InboundEvent.status == "received")
        with _store_connection() as connection:
            if connection.dialect.name == "postgresql":  # rows a worker holds are being processed
                waiting = waiting.with_for_update(skip_locked=True)
            connection.execute(update(InboundEvent).where(InboundEvent.id.in_(waiting.scalar_subquery()))
                               .values(status="enqueued"))
        sent += len(chunk)
    return sent


def resweep(now: datetime) -> int:
    """Re-enqueue events still received/enqueued after INBOUND_STALE_SECONDS (Redis was down)."""
    cutoff = now - timedelta(seconds=int(current_app.config["INBOUND_STALE_SECONDS"]))
    ids = db.session.scalars(
        select(InboundEvent.id)
        .where(InboundEvent.status.in_(WAITING), InboundEvent.received_at < cutoff)
        .order_by(InboundEvent.id).limit(50_000)).all()
    db.session.commit()
    if ids:
        log.info("re-sweep: %d waiting inbound events enqueued again", len(ids))
    return enqueue_batches(list(ids), coalesce=False)


def unknown_channels(messages: list) -> list[int]:
    """Indexes of generic messages whose channel is not connected (the API rejects those)."""
    wanted = {(m.channel.platform, m.channel.account_id) for m in messages}
    known = set()
    for platform in {p for p, _ in wanted}:
        accounts = [a for p, a in wanted if p == platform]
        rows = db.session.execute(select(Channel.platform, Channel.account_id).where(
            Channel.platform == platform, Channel.account_id.in_(accounts),
            Channel.active.is_(True))).all()
        known.update((row[0], row[1]) for row in rows)
    return [i for i, m in enumerate(messages) if (m.channel.platform, m.channel.account_id) not in known]


def accept_messages(messages: list, now: datetime, source: str = "api",
                    enqueue: bool = True) -> list[int]:
    """Store validated generic messages (channels.generic.MessageIn) as events; new event ids."""
    return record_events(source, [raw_event(m) for m in messages], now, enqueue=enqueue)
