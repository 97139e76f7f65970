"""Agent replies: validation, hold/release, delivery through a fake platform on loopback,
never twice (I3), retries with backoff, failures with the platform's error, sandbox mode."""
import threading
from datetime import datetime, timezone

import pytest
from redis import Redis
from rq.job import Job
from sqlalchemy import select

from desk.channels.base import Author, NormalizedMessage
from desk.core import signals
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db
from desk.core.queue import get_queue
from desk.customers.models import Customer, CustomerIdentity
from desk.inbox.outbound import create_reply, deliver, release_reply, reply_options
from desk.inbox.tickets import Message, Ticket
from desk.intake.messages import ingest
from tests.factories import make_channel
from tests.fakeplatform import FakePlatform

UTC = timezone.utc
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def fake(app):
    platform = FakePlatform().start()
    saved = {k: app.config[k] for k in ("META_GRAPH_URL", "WHATSAPP_GRAPH_URL", "X_API_URL",
                                        "OUTBOUND_RETRY_INTERVALS", "SANDBOX")}
    app.config.update(META_GRAPH_URL=platform.url + "/graph", WHATSAPP_GRAPH_URL=platform.url + "/wa",
                      X_API_URL=platform.url + "/x", OUTBOUND_RETRY_INTERVALS="0,0,0")
    yield platform
    app.config.update(saved)
    platform.stop()


def ticket_for(platform="facebook", kind="dm", account="page-1", customer_id="psid-1",
               inbound_id="in-1", token="tok-SECRET-123"):
    """A ticket with one customer message, the way ingest stores it (committed)."""
    channel = make_channel(platform, account)
    channel.access_token = token
    customer = Customer(display_name="Lucía Pérez")
    customer.identities.append(CustomerIdentity(platform=platform, platform_user_id=customer_id))
    ticket = Ticket(channel=channel, customer=customer, kind=kind, thread_key=inbound_id,
                    created_at=T0, updated_at=T0)
    db.session.add(Message(ticket=ticket, channel_id=channel.id, direction="in",
                           visibility="private" if kind == "dm" else "public",
                           platform_message_id=inbound_id, customer=customer, text="¿Hola?",
                           sent_at=T0, received_at=T0))
    db.session.add(ticket)
    db.session.commit()
    return ticket


@pytest.fixture
def agent(make_user):
    return make_user("cm")


@pytest.fixture
def seen_signals():
    seen = []
    receivers = {name: (lambda t, name=name, **kw: seen.append(name))
                 for name in ("reply_created", "reply_released")}
    for name, func in receivers.items():
        getattr(signals, name).connect(func)
    yield seen
    for name, func in receivers.items():
        getattr(signals, name).disconnect(func)


def sent(fake):
    return [(c["path"], c["json"]) for c in fake.calls]


@pytest.mark.parametrize("platform, kind, options", [
    ("facebook", "dm", ["private"]), ("facebook", "comment", ["public", "private"]),
    ("instagram", "comment", ["public", "private"]), ("instagram", "mention", ["public"]),
    ("x", "mention", ["public", "private"]), ("whatsapp", "dm", ["private"]),
    ("tiktok", "comment", ["public"]), ("email", "dm", ["private"]),
])
def test_reply_options_per_platform_and_kind(app_ctx, platform, kind, options):
    assert reply_options(ticket_for(platform, kind)) == options


def test_invalid_replies_are_refused_with_a_clear_message(app_ctx, agent):
    ticket = ticket_for("facebook", "dm")
    with pytest.raises(DeskError, match="needs some text"):
        create_reply(ticket.id, agent.id, "   ", "private", T0)
    with pytest.raises(DeskError, match="can be answered with: private"):
        create_reply(ticket.id, agent.id, "Hola", "public", T0)
    with pytest.raises(NotFound):
        create_reply(999999, agent.id, "Hola", "private", T0)
    x_ticket = ticket_for("x", "mention", account="x-1", inbound_id="t-1")
    with pytest.raises(DeskError, match="280"):
        create_reply(x_ticket.id, agent.id, "a" * 281, "public", T0)
    assert db.session.scalars(select(Message).where(Message.direction == "out")).all() == []


@pytest.mark.parametrize("platform, kind, visibility, path, body", [
    ("facebook", "dm", "private", "/graph/page-1/messages",
     {"recipient": {"id": "psid-1"}, "messaging_type": "RESPONSE", "message": {"text": "¡Hola Lucía! 😊"}}),
    ("facebook", "comment", "public", "/graph/in-1/comments", {"message": "¡Hola Lucía! 😊"}),
    ("facebook", "comment", "private", "/graph/page-1/messages",
     {"recipient": {"comment_id": "in-1"}, "messaging_type": "RESPONSE", "message": {"text": "¡Hola Lucía! 😊"}}),
    ("instagram", "comment", "public", "/graph/in-1/replies", {"message": "¡Hola Lucía! 😊"}),
    ("instagram", "dm", "private", "/graph/page-1/messages",
     {"recipient": {"id": "psid-1"}, "messaging_type": "RESPONSE", "message": {"text": "¡Hola Lucía! 😊"}}),
    ("whatsapp", "dm", "private", "/wa/page-1/messages",
     {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "psid-1", "type": "text",
      "text": {"body": "¡Hola Lucía! 😊"}}),
    ("x", "mention", "public", "/x/tweets", {"text": "¡Hola Lucía! 😊", "reply": {"in_reply_to_tweet_id": "in-1"}}),
    ("x", "mention", "private", "/x/dm_conversations/with/psid-1/messages", {"text": "¡Hola Lucía! 😊"}),
])
def test_reply_goes_out_through_the_platform_endpoint(app_ctx, agent, fake, run_jobs, seen_signals,
                                                      platform, kind, visibility, path, body):
    ticket = ticket_for(platform, kind)
    reply = create_reply(ticket.id, agent.id, "¡Hola Lucía! 😊", visibility, T0)
    seen = seen_signals
    assert reply.delivery_state == "pending" and reply.idempotency_key
    assert reply.parent_platform_id == "in-1" and reply.author_id == agent.id
    run_jobs()
    db.session.expire_all()
    reply = db.session.get(Message, reply.id)
    assert reply.delivery_state == "delivered" and reply.platform_message_id == "out-1"
    assert reply.delivery_attempts == 1 and reply.delivered_at is not None
    assert sent(fake) == [(path, body)]
    assert fake.calls[0]["headers"]["Authorization"] == "Bearer tok-SECRET-123"
    assert seen[:2] == ["reply_created", "reply_released"]


def test_held_reply_waits_for_release(app_ctx, agent, fake, run_jobs, seen_signals):
    def hold(ticket, message, **kwargs):
        message.delivery_state = "held"
    signals.reply_created.connect(hold)
    try:
        ticket = ticket_for()
        reply = create_reply(ticket.id, agent.id, "Pendiente de aprobación", "private", T0)
    finally:
        signals.reply_created.disconnect(hold)
    assert reply.delivery_state == "held" and "reply_released" not in seen_signals
    run_jobs()
    assert fake.calls == []
    later = datetime(2026, 11, 2, 10, 20, tzinfo=UTC)
    release_reply(reply.id, later)
    assert seen_signals.count("reply_released") == 1
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Message, reply.id).delivery_state == "delivered" and len(fake.calls) == 1
    assert db.session.get(Message, reply.id).sent_at == later
    with pytest.raises(DeskError, match="waiting for approval"):
        release_reply(reply.id, later)


@pytest.mark.faults
def test_never_sent_twice_by_repeated_or_concurrent_jobs(app, agent, fake, run_jobs):
    with app.app_context():
        ticket = ticket_for()
        reply = create_reply(ticket.id, agent.id, "Una sola vez", "private", T0)
        reply_id = reply.id
    fake.delay = 0.2
    barrier, results = threading.Barrier(4), []

    def worker():
        with app.app_context():
            barrier.wait()
            results.append(deliver(reply_id, T0))
            db.session.remove()
    threads = [threading.Thread(target=worker) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    run_jobs()  # the job create_reply enqueued finds it delivered
    with app.app_context():
        assert deliver(reply_id, T0) == "delivered"
        assert db.session.get(Message, reply_id).delivery_attempts == 1
    assert len(fake.calls) == 1 and results.count("delivered") == 4 - results.count("sending")


@pytest.mark.faults
def test_transient_errors_are_retried_with_backoff_then_delivered(app_ctx, agent, fake, run_jobs):
    app_ctx.config["OUTBOUND_RETRY_INTERVALS"] = "0,0,0"
    ticket = ticket_for()
    fake.fail(2)
    reply = create_reply(ticket.id, agent.id, "Reintento", "private", T0)
    run_jobs(allow_failures=True)
    db.session.expire_all()
    reply = db.session.get(Message, reply.id)
    assert reply.delivery_state == "delivered" and reply.delivery_attempts == 3
    assert len(fake.calls) == 3 and reply.delivery_error is None


def test_the_send_job_carries_the_configured_backoff(app_ctx, agent, fake, redis_server):
    app_ctx.config["OUTBOUND_RETRY_INTERVALS"] = "10,30,120"
    ticket = ticket_for()
    create_reply(ticket.id, agent.id, "Backoff", "private", T0)
    queue = get_queue("outbound", Redis.from_url(redis_server.url))
    job = Job.fetch(queue.job_ids[0], connection=queue.connection)
    assert job.func_name == "workers.outbound.send_reply"
    assert job.retries_left == 3 and job.retry_intervals == [10, 30, 120]


def test_retrying_state_shows_the_platform_error(app_ctx, agent, fake):
    ticket = ticket_for()
    reply = create_reply(ticket.id, agent.id, "Reintento", "private", T0)
    fake.fail(1)
    from desk.inbox.outbound import DeliveryFailed
    with pytest.raises(DeliveryFailed):
        deliver(reply.id, T0)
    db.session.expire_all()
    reply = db.session.get(Message, reply.id)
    assert reply.delivery_state == "retrying"
    assert reply.delivery_error == ("facebook refused the reply: Service temporarily unavailable "
                                    "(code 2)")


def test_transient_errors_give_up_as_failed_after_the_last_retry(app_ctx, agent, fake, run_jobs):
    ticket = ticket_for()
    fake.fail(10)
    reply = create_reply(ticket.id, agent.id, "Nunca llega", "private", T0)
    run_jobs(allow_failures=True)
    db.session.expire_all()
    reply = db.session.get(Message, reply.id)
    assert reply.delivery_state == "failed" and reply.delivery_attempts == 4 and len(fake.calls) == 4


def test_permanent_error_fails_at_once_with_the_platform_message_redacted(app_ctx, agent, fake, run_jobs):
    ticket = ticket_for()
    fake.fail(1, status=400, body={"error": {
        "message": "(#10) This message is sent outside of allowed window. token tok-SECRET-123",
        "type": "OAuthException", "code": 10}})
    reply = create_reply(ticket.id, agent.id, "Tarde", "private", T0)
    run_jobs()
    db.session.expire_all()
    reply = db.session.get(Message, reply.id)
    assert reply.delivery_state == "failed" and len(fake.calls) == 1
    assert "(#10) This message is sent outside of allowed window" in reply.delivery_error
    assert "tok-SECRET-123" not in reply.delivery_error and "[redacted]" in reply.delivery_error


def test_unreachable_platform_is_a_transient_error(app_ctx, agent, fake, run_jobs):
    app_ctx.config["META_GRAPH_URL"] = "http://127.0.0.1:9/graph"
    ticket = ticket_for()
    reply = create_reply(ticket.id, agent.id, "Nadie escucha", "private", T0)
    run_jobs(allow_failures=True)
    db.session.expire_all()
    reply = db.session.get(Message, reply.id)
    assert reply.delivery_state == "failed" and "unreachable" in reply.delivery_error


def test_sandbox_records_without_sending(app_ctx, agent, fake, run_jobs):
    app_ctx.config["SANDBOX"] = True
    ticket = ticket_for()
    reply = create_reply(ticket.id, agent.id, "Demo", "private", T0)
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Message, reply.id).delivery_state == "recorded" and fake.calls == []


def test_platforms_without_an_adapter_are_recorded(app_ctx, agent, fake, run_jobs):
    ticket = ticket_for("tiktok", "comment")
    reply = create_reply(ticket.id, agent.id, "Gracias por comentar", "public", T0)
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Message, reply.id).delivery_state == "recorded" and fake.calls == []


def _echo(ticket, mid, text):
    return NormalizedMessage(platform="facebook", account_id="page-1", kind="dm", direction="out",
                             platform_message_id=mid, thread_key="psid-1", author=Author(id="psid-1"),
                             text=text, sent_at=T0)


@pytest.mark.faults
def test_echo_before_the_send_returns_gives_one_outbound_message(app_ctx, agent, fake, run_jobs):
    ticket = ticket_for()
    reply = create_reply(ticket.id, agent.id, "Eco", "private", T0)
    assert ingest(_echo(ticket, "m_echo", "Eco"), T0, T0) == "duplicate"  # reconciled by text
    db.session.commit()
    fake.next_ids = ["m_echo"]
    run_jobs()
    db.session.expire_all()
    outbound = db.session.scalars(select(Message).where(Message.direction == "out")).all()
    assert [(m.id, m.platform_message_id, m.delivery_state) for m in outbound] == [
        (reply.id, "m_echo", "delivered")]


@pytest.mark.faults
def test_echo_after_the_send_is_a_duplicate(app_ctx, agent, fake, run_jobs):
    ticket = ticket_for()
    create_reply(ticket.id, agent.id, "Eco", "private", T0)
    fake.next_ids = ["m_echo"]
    run_jobs()
    assert ingest(_echo(ticket, "m_echo", "Eco"), T0, T0) == "duplicate"
    db.session.commit()
    assert len(db.session.scalars(select(Message).where(Message.direction == "out")).all()) == 1


def test_reply_form_labels(app_ctx):
    from desk.inbox.outbound import option_label
    comment, dm = ticket_for("facebook", "comment"), ticket_for("instagram", "dm", account="ig-1")
    with app_ctx.test_request_context(headers={"Accept-Language": "es"}):
        assert str(option_label(comment, "public")) in ("Public reply", "Respuesta pública")
        assert str(option_label(comment, "private")).startswith(("Move to DM", "Pasar a mensaje"))
        assert str(option_label(dm, "private")) in ("Private message", "Mensaje privado")


@pytest.mark.faults
def test_send_interrupted_by_a_killed_worker_is_settled_never_resent(app_ctx, agent, fake, run_jobs):
    from datetime import timedelta

    from desk.inbox.outbound import sweep_interrupted
    ticket = ticket_for()
    lost = create_reply(ticket.id, agent.id, "Se cortó", "private", T0)
    echoed = create_reply(ticket.id, agent.id, "Llegó", "private", T0)
    for reply in (lost, echoed):  # claimed by a job whose worker was then killed mid-call
        reply.delivery_state, reply.sending_since, reply.delivery_attempts = "sending", T0, 1
    db.session.commit()
    assert ingest(_echo(ticket, "m_arrived", "Llegó"), T0, T0) == "duplicate"  # its echo came back
    db.session.commit()
    run_jobs()  # the queued send jobs find both claimed: no call
    assert sweep_interrupted(T0 + timedelta(minutes=5)) == 0
    assert sweep_interrupted(T0 + timedelta(minutes=11)) == 2
    db.session.expire_all()
    assert db.session.get(Message, echoed.id).delivery_state == "delivered"
    failed = db.session.get(Message, lost.id)
    assert failed.delivery_state == "failed" and "interrupted" in failed.delivery_error
    assert fake.calls == []


def test_a_reply_to_an_instagram_mention_goes_through_the_mentions_edge(app_ctx, agent, fake, run_jobs):
    ticket = ticket_for("instagram", "mention")
    ticket.messages[0].parent_platform_id = "media-77"  # a mention is a comment on their media
    db.session.commit()
    reply = create_reply(ticket.id, agent.id, "¡Gracias por mencionarnos!", "public", T0)
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Message, reply.id).delivery_state == "delivered"
    assert sent(fake) == [("/graph/page-1/mentions", {
        "media_id": "media-77", "comment_id": "in-1", "message": "¡Gracias por mencionarnos!"})]
