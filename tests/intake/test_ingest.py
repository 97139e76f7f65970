"""Ingest reliability: duplicates, races, Redis down, crashed jobs, threading rules, SLA start
clamping and the invariants I1, I2, I4, I6 of security-reliability.md B.5."""
import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import func, select

from desk.channels.base import Author, NormalizedMessage
from desk.core import signals
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.customers.models import Customer, CustomerIdentity
from desk.inbox.tickets import Ticket
from desk.intake.events import InboundEvent, resweep
from desk.intake.ingest import process_events
from desk.intake.language import guess_language
from desk.intake.messages import clamp, ingest
from tests.factories import make_channel
from tests.invariants import assert_invariants
from tests.webhook_helpers import (
    counts,
    fixture,
    fixture_bytes,
    message_by,
    meta_signature,
    post_meta,
    statuses,
    wire,
)

UTC = timezone.utc
PAGE, FB_PAGE = "1122334455", "137542570280222"
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def channel(app_ctx):
    make_channel("facebook", FB_PAGE)
    return make_channel("facebook", PAGE)


def dm(mid: str, text: str = "hola", sender: str = "2233445566", timestamp: int = 1458692752478) -> bytes:
    return wire({"object": "page", "entry": [{"id": PAGE, "time": timestamp, "messaging": [{
        "sender": {"id": sender}, "recipient": {"id": PAGE}, "timestamp": timestamp,
        "message": {"mid": mid, "text": text}}]}]})


@pytest.mark.parametrize("times", [2, 10])
def test_the_same_delivery_repeated_gives_one_message(channel, client, run_jobs, times):
    for _ in range(times):
        response = post_meta(client, fixture_bytes("messenger_quick_reply.json"))
        assert response.status_code == 200
    run_jobs()
    assert counts() == (1, 1, 1)
    assert_invariants()


def test_the_same_message_in_two_envelopes_gives_one_message(channel, client, run_jobs):
    single = fixture("fb_feed_comment_top_level.json")
    retried = fixture("fb_feed_comment_top_level.json")
    retried["entry"][0]["changes"][0]["value"]["created_time"] += 1  # a different event key
    assert post_meta(client, wire(single)).status_code == 200
    assert post_meta(client, wire(retried)).status_code == 200
    run_jobs()
    assert counts() == (2, 1, 1)
    assert_invariants()


@pytest.mark.faults
def test_concurrent_deliveries_through_http_give_one_message(channel, live_server, run_jobs):
    body = fixture_bytes("messenger_quick_reply.json")
    headers = {"X-Hub-Signature-256": meta_signature(body), "Content-Type": "application/json"}
    barrier, results = threading.Barrier(8), []

    def deliver():
        barrier.wait()
        results.append(requests.post(live_server + "/webhooks/meta", data=body, headers=headers,
                                     timeout=30).status_code)
    threads = [threading.Thread(target=deliver) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results == [200] * 8
    run_jobs()
    assert counts() == (1, 1, 1)
    assert_invariants()


@pytest.mark.faults
def test_two_workers_racing_on_one_thread_make_one_ticket_and_customer(app, channel, client):
    # Two events carrying the same comment (different keys), plus two first DMs from one new
    # customer: processed at the same moment by two "workers" (threads, own sessions).
    comment = fixture("fb_feed_comment_top_level.json")
    again = fixture("fb_feed_comment_top_level.json")
    again["entry"][0]["changes"][0]["value"]["created_time"] += 5
    for body in (wire(comment), wire(again), dm("m_race_1"), dm("m_race_2")):
        assert post_meta(client, body).status_code == 200
    ids = db.session.scalars(select(InboundEvent.id).order_by(InboundEvent.id)).all()
    barrier, errors = threading.Barrier(2), []

    def worker(batch):
        with app.app_context():
            try:
                barrier.wait()
                process_events(batch, clock_now(), coalesce=False)
            except Exception as exc:  # surfaced below
                errors.append(exc)
            finally:
                db.session.remove()
    threads = [threading.Thread(target=worker, args=([ids[0], ids[2]],)),
               threading.Thread(target=worker, args=([ids[1], ids[3]],))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    assert counts() == (4, 2, 3)
    assert db.session.scalar(select(func.count()).select_from(CustomerIdentity)) == 2
    assert statuses() == {"processed": 4}
    assert_invariants()


@pytest.mark.faults
def test_redis_down_webhooks_are_still_acknowledged_and_processed_later(channel, client, run_jobs,
                                                                        redis_server):
    redis_server.stop()
    try:
        for i in range(5):
            assert post_meta(client, dm(f"m_down_{i}", sender=f"psid-{i}")).status_code == 200
        assert statuses() == {"received": 5} and counts()[1:] == (0, 0)
    finally:
        redis_server.start()
    assert resweep(clock_now()) == 0  # not stale yet: the sweeper leaves fresh events alone
    assert resweep(clock_now() + timedelta(minutes=5)) == 5
    run_jobs()
    assert counts() == (5, 5, 5) and statuses() == {"processed": 5}
    assert_invariants()


KILLED_WORKER = """
import os, sys
from desk import create_app
from desk.core import signals
from desk.core.clock import now
from desk.intake.ingest import process_events
app = create_app({"TESTING": True})
def killed(ticket, **kwargs):
    os._exit(9)  # SIGKILL-like: the message row is flushed, nothing is committed
signals.customer_message.connect(killed)
with app.app_context():
    process_events([int(sys.argv[1])], now())
"""


@pytest.mark.faults
def test_a_worker_killed_midway_leaves_nothing_and_the_retry_finishes(app, channel, client, run_jobs):
    import os
    import subprocess
    import sys
    assert post_meta(client, dm("m_crash")).status_code == 200
    event_id = db.session.scalar(select(InboundEvent.id))
    env = {**os.environ, "DESK_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "DESK_REDIS_URL": app.config["REDIS_URL"], "DESK_SECRET_KEY": "x",
           "DESK_RATELIMIT_STORAGE_URI": app.config["RATELIMIT_STORAGE_URI"]}
    killed = subprocess.run([sys.executable, "-c", KILLED_WORKER, str(event_id)], env=env,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))), timeout=60)
    assert killed.returncode == 9
    assert counts() == (1, 0, 0) and statuses() == {"enqueued": 1}  # rolled back, still waiting
    run_jobs()  # the job RQ still holds (or the re-sweep's) finishes the work once
    resweep(clock_now() + timedelta(minutes=5))
    run_jobs()
    assert counts() == (1, 1, 1) and statuses() == {"processed": 1}
    assert_invariants()


def test_an_exception_on_one_event_fails_it_and_spares_the_batch(channel, client, run_jobs):
    def explode(ticket, message, **kwargs):
        if message.platform_message_id == "m_bad":
            raise RuntimeError("receiver bug")
    signals.customer_message.connect(explode)
    try:
        body = fixture("messenger_quick_reply.json")
        body["entry"] = [fixture("messenger_quick_reply.json")["entry"][0] for _ in range(2)]
        body["entry"][0]["messaging"][0]["message"]["mid"] = "m_bad"
        assert post_meta(client, wire(body)).status_code == 200
        run_jobs()
    finally:
        signals.customer_message.disconnect(explode)
    assert statuses() == {"failed": 1, "processed": 1} and counts()[2] == 1
    assert "receiver bug" in db.session.scalar(select(InboundEvent.error).where(
        InboundEvent.status == "failed"))


def test_a_duplicated_job_is_a_no_op(channel, client, run_jobs):
    assert post_meta(client, dm("m_job")).status_code == 200
    event_id = db.session.scalar(select(InboundEvent.id))
    run_jobs()
    assert process_events([event_id], clock_now()) == {}
    assert counts() == (1, 1, 1)


def test_unparseable_stored_event_is_marked_failed_and_others_go_on(channel, client, run_jobs):
    bad = wire({"object": "page", "entry": [{"id": PAGE, "messaging": [{"sender": {}, "recipient": {},
                                                                          "message": {"mid": "m_x"}}]}]})
    assert post_meta(client, bad).status_code == 200
    assert post_meta(client, dm("m_ok")).status_code == 200
    run_jobs()
    assert statuses() == {"failed": 1, "processed": 1}
    failed = db.session.scalar(select(InboundEvent).where(InboundEvent.status == "failed"))
    assert "ParseError" in failed.error
    assert_invariants()


# --- SLA start clamping ------------------------------------------------------------------

def _event_time(mid):
    db.session.expire_all()
    return db.session.scalar(select(InboundEvent.received_at))


@pytest.mark.parametrize("case", ["future", "before_2015", "ms_as_seconds", "seconds_as_ms"])
def test_implausible_platform_times_start_the_clock_at_receipt(channel, client, run_jobs, case):
    if case == "future":
        body = dm("m_t", timestamp=int((clock_now() + timedelta(days=2)).timestamp() * 1000))
    elif case == "before_2015":
        body = dm("m_t", timestamp=1262304000000)  # 2010
    elif case == "seconds_as_ms":
        body = dm("m_t", timestamp=1749416383)  # seconds where Messenger sends ms: 1970
    else:
        value = fixture("fb_feed_comment_top_level.json")
        value["entry"][0]["changes"][0]["value"].update(created_time=1749416383000, comment_id="m_t")
        body = wire(value)
    assert post_meta(client, body).status_code == 200
    run_jobs()
    received = _event_time("m_t")
    message = message_by("m_t")
    assert message.sent_at == received
    assert message.ticket.first_response_started_at == received
    assert message.ticket.created_at == received


def test_a_customer_is_a_customer_since_their_first_message_not_since_processing(channel):
    written = T0 - timedelta(minutes=7)  # processed later (a queue backlog, an outage)
    assert _ingest(_dm("first", written), T0) == "created"
    customer = db.session.scalars(select(Customer)).one()
    assert customer.created_at == written and customer.identities[0].created_at == written


def test_clamp_keeps_plausible_times():
    received = T0
    assert clamp(T0 - timedelta(minutes=3), received) == T0 - timedelta(minutes=3)
    assert clamp(None, received) == received
    assert clamp(T0 + timedelta(seconds=1), received) == received
    assert clamp(datetime(2014, 12, 31, tzinfo=UTC), received) == received


# --- Threading rules (docs/architecture.md) ----------------------------------------------

def _dm(mid, sent_at, text="¿Dónde está mi pedido?"):
    return NormalizedMessage(platform="facebook", account_id=PAGE, kind="dm", direction="in",
                             platform_message_id=mid, thread_key="psid-7",
                             author=Author(id="psid-7", name="Lucía Pérez"), text=text,
                             sent_at=sent_at)


def _ingest(message, at):
    outcome = ingest(message, at, at)
    db.session.commit()
    return outcome


def test_dm_reopens_within_seven_days_and_opens_a_new_ticket_later(channel):
    reopened = []
    receiver = lambda ticket, **kw: reopened.append(ticket.id)  # noqa: E731
    signals.ticket_reopened.connect(receiver)
    try:
        assert _ingest(_dm("d1", T0), T0) == "created"
        assert _ingest(_dm("d2", T0 + timedelta(minutes=5)), T0 + timedelta(minutes=5)) == "appended"
        ticket = db.session.scalars(select(Ticket)).one()
        ticket.status, ticket.resolved_at, ticket.resolution = "resolved", T0 + timedelta(hours=1), "replied"
        db.session.commit()
        later = T0 + timedelta(days=6)
        assert _ingest(_dm("d3", later), later) == "reopened"
        assert reopened == [ticket.id] and ticket.status == "open" and ticket.resolved_at is None
        ticket.status, ticket.resolved_at = "resolved", later + timedelta(hours=1)
        db.session.commit()
        much_later = later + timedelta(days=8)
        assert _ingest(_dm("d4", much_later), much_later) == "created"
    finally:
        signals.ticket_reopened.disconnect(receiver)
    tickets = db.session.scalars(select(Ticket).order_by(Ticket.id)).all()
    assert [len(t.messages) for t in tickets] == [3, 1]
    assert tickets[0].customer_id == tickets[1].customer_id
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 1


def test_pending_ticket_goes_back_to_open_when_the_customer_answers(channel):
    _ingest(_dm("p1", T0), T0)
    ticket = db.session.scalars(select(Ticket)).one()
    ticket.status = "pending"
    db.session.commit()
    _ingest(_dm("p2", T0 + timedelta(minutes=1)), T0 + timedelta(minutes=1))
    assert ticket.status == "open" and ticket.last_customer_message_at == T0 + timedelta(minutes=1)


def test_profile_updates_keep_one_customer(channel):
    _ingest(_dm("c1", T0), T0)
    message = _dm("c2", T0 + timedelta(minutes=1))
    message.author = Author(id="psid-7", handle="lucia", name="Lucía P.", followers=900)
    _ingest(message, T0 + timedelta(minutes=1))
    identity = db.session.scalars(select(CustomerIdentity)).one()
    assert (identity.handle, identity.name, identity.followers) == ("lucia", "Lucía P.", 900)
    assert identity.customer.followers == 900


def test_edit_before_the_original_is_stored_as_a_stub(channel):
    edit = _dm("e1", T0, text="texto corregido")
    edit.verb = "edit"
    assert _ingest(edit, T0) == "created"
    assert _ingest(_dm("e1", T0, text="texto original"), T0) == "duplicate"
    assert message_by("e1").text == "texto corregido" and message_by("e1").edited_at == T0


def test_delete_for_an_unknown_message_is_dropped(channel):
    gone = _dm("x1", T0)
    gone.verb = "delete"
    assert _ingest(gone, T0) == "dropped" and counts()[1:] == (0, 0)


@pytest.mark.parametrize("text, language", [
    ("Hola, ¿dónde está mi pedido? Gracias", "es"),
    ("Hi, where is my order? Thanks", "en"),
    ("👍", None), ("ok", None), ("", None),
])
def test_language_guess(text, language):
    assert guess_language(text) == language


def test_an_identity_created_after_the_batch_looked_is_found_on_the_retry(channel):
    """Another worker adds the customer between the batch's prefetch and this message: the
    stale "not seen" makes the insert fail once, the retry finds that customer."""
    from desk.customers.identities import identity_key
    from desk.intake.ingest import _ingest_one
    _ingest(_dm("s1", T0), T0)
    memo = {identity_key("facebook", "psid-7"): None}  # what a prefetch saw a moment earlier
    later = T0 + timedelta(minutes=1)
    assert _ingest_one(_dm("s2", later), later, later, memo) == "appended"
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 1
    assert len(db.session.scalars(select(Ticket)).one().messages) == 2


def test_a_stale_batch_lookup_is_retried_one_event_at_a_time(channel, client, monkeypatch, caplog):
    """Another worker adds the customer between the batch's prefetch and its insert: the
    batch's savepoint rolls back and each event runs again in its own, with nothing lost
    or doubled."""
    from desk.intake import ingest as ingest_module
    _ingest(_dm("s1", T0), T0)
    db.session.commit()
    real_prefetch, stale_once = ingest_module.prefetch_identities, [True]

    def prefetch(messages):
        memo = real_prefetch(messages)
        if stale_once.pop() if stale_once else False:
            memo = {key: None for key in memo}  # what it saw a moment before the other worker
        return memo
    monkeypatch.setattr(ingest_module, "prefetch_identities", prefetch)
    for mid in ("s2", "s3"):
        assert post_meta(client, dm(mid, sender="psid-7", text="¿y mi pedido?")).status_code == 200
    with caplog.at_level("INFO", logger="desk.intake.ingest"):
        assert process_events([], clock_now()) == {"appended": 2}
    assert "retried one event at a time" in caplog.text
    assert counts() == (2, 1, 3) and statuses() == {"processed": 2}
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 1
    assert_invariants()


def test_a_batch_of_follow_ups_is_written_in_a_few_statements(channel, client, run_jobs):
    """A hundred follow-ups on known tickets: no statement per message (locks, lookups and
    writes go by batch), so a worker's speed does not hang on database round trips."""
    from sqlalchemy import event
    for i in range(10):
        assert post_meta(client, dm(f"f{i}", sender=f"psid-f{i}", timestamp=1458692752478 + i)).status_code == 200
    run_jobs()
    for i in range(10, 110):
        assert post_meta(client, dm(f"f{i}", sender=f"psid-f{i % 10}", text=f"¿algo más? {i}",
                                    timestamp=1458692752478 + i)).status_code == 200
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert process_events([], clock_now()) == {"appended": 100}
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert counts() == (110, 10, 110)
    inserts = [s for s in statements if s.startswith("INSERT INTO message")]
    assert len(statements) - len(inserts) <= 20, statements
    if db.engine.dialect.name == "postgresql":  # SQLite writes in-process: no round trips
        assert len(inserts) <= 2, inserts
    assert_invariants()


def test_a_batch_of_many_customers_files_each_message_under_its_own_customer(channel, client, run_jobs):
    for i in range(30):
        assert post_meta(client, dm(f"mb{i}", text=f"pedido {i}", sender=f"psid-b{i % 7}",
                                    timestamp=1458692752478 + i)).status_code == 200
    run_jobs()
    assert counts() == (30, 7, 30)
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 7
    for ticket in db.session.scalars(select(Ticket)):
        senders = {m.customer_id for m in ticket.messages}
        assert senders == {ticket.customer_id}
    assert_invariants()
