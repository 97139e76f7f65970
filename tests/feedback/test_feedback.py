"""CSAT surveys: scheduling, tokens, the survey page, attacks, DM ratings, agents' view."""
import hashlib
import re
from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy import func, select

from desk.core import signals
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.queue import get_queue
from desk.feedback import surveys as feedback
from desk.feedback.surveys import Survey, parse_rating
from desk.inbox.tickets import Message, Ticket
from tests.factories import (
    add_agent_reply,
    add_customer_message,
    make_channel,
    make_customer,
    make_ticket,
    minutes,
)

# The survey page reads the wall clock, so the story happens in the last few hours.
NOW = clock_now().replace(microsecond=0) - timedelta(hours=3)
LINK = re.compile(r"/s/([A-Za-z0-9_-]+)")


def resolve(ticket, now, resolution="replied"):
    ticket.status, ticket.resolved_at, ticket.resolution = "resolved", now, resolution
    signals.ticket_resolved.send(ticket, now=now, resolution=resolution)
    db.session.commit()


def served_ticket(agent, *, customer=None, channel=None, kind="dm", now=NOW, language="es"):
    ticket = make_ticket(channel=channel, customer=customer, kind=kind, sent_at=now, now=now,
                         language=language)
    add_agent_reply(ticket, agent, sent_at=now + minutes(5), now=now + minutes(5))
    resolve(ticket, now + minutes(10))
    return ticket


def sent_survey(agent, **kwargs):
    """A ticket whose survey went out; returns (survey, raw token from the DM)."""
    ticket = served_ticket(agent, **kwargs)
    survey = feedback.send_survey(ticket.id, NOW + minutes(70))
    message = db.session.get(Message, survey.message_id)
    return survey, LINK.search(message.text).group(1)


def survey_of(ticket):
    return db.session.scalar(select(Survey).where(Survey.ticket_id == ticket.id))


# --- scheduling ----------------------------------------------------------------------------

def test_no_survey_without_an_agent_reply(app_ctx):
    ticket = make_ticket(sent_at=NOW, now=NOW)
    db.session.add(Message(ticket_id=ticket.id, channel_id=ticket.channel_id, direction="out",
                           visibility="private", text="Recibido, te respondemos pronto",
                           sent_at=NOW, automatic=True, delivery_state="delivered"))
    db.session.commit()
    resolve(ticket, NOW + minutes(30))
    assert survey_of(ticket) is None


def test_survey_is_scheduled_after_the_configured_delay(app_ctx, make_user):
    app_ctx.config["CSAT_DELAY_SECONDS"] = 7200
    try:
        ticket = served_ticket(make_user("cm"))
    finally:
        app_ctx.config["CSAT_DELAY_SECONDS"] = 3600
    survey = survey_of(ticket)
    assert survey.state == "scheduled" and survey.token_hash is None and survey.language == "es"
    assert survey.send_after == NOW + minutes(10) + timedelta(hours=2)
    scheduled = get_queue("default").scheduled_job_registry
    jobs = [get_queue("default").fetch_job(job_id) for job_id in scheduled.get_job_ids()]
    assert [(job.func_name, job.args) for job in jobs] == [("workers.feedback.send_survey", (ticket.id,))]


def test_at_most_one_survey_per_customer_per_week(app_ctx, make_user):
    agent, customer = make_user("cm"), make_customer()
    first = served_ticket(agent, customer=customer)
    second = served_ticket(agent, customer=customer, now=NOW + timedelta(days=3))
    third = served_ticket(agent, customer=customer, now=NOW + timedelta(days=8))
    assert survey_of(first) and survey_of(second) is None and survey_of(third)


def test_resolving_again_never_makes_a_second_survey(app_ctx, make_user):
    ticket = served_ticket(make_user("cm"))
    feedback.send_survey(ticket.id, NOW + minutes(70))
    ticket.status = "open"
    resolve(ticket, NOW + timedelta(days=10))
    assert db.session.scalar(select(db.func.count(Survey.id))) == 1


# --- sending -------------------------------------------------------------------------------

def test_survey_goes_as_a_dm_in_the_customers_language(app_ctx, make_user):
    survey, token = sent_survey(make_user("cm"), customer=make_customer(name="Lucía Pérez", language="es"))
    message = db.session.get(Message, survey.message_id)
    assert message.visibility == "private" and message.automatic and message.author_id is None
    assert message.text.startswith("Hola Lucía") and "http://desk.test/s/" in message.text
    assert survey.state == "sent" and survey.expires_at == survey.sent_at + timedelta(days=14)
    ticket = db.session.get(Ticket, survey.ticket_id)
    assert ticket.first_response_at < message.sent_at  # the survey did not count as a reply


@pytest.mark.security
def test_token_is_random_long_and_only_its_hash_is_stored(app_ctx, make_user):
    survey, token = sent_survey(make_user("cm"), language="en",
                                customer=make_customer(name="Sam Lee", language="en"))
    assert len(token) >= 22 and token not in (str(survey.id), str(survey.ticket_id))
    assert survey.token_hash == hashlib.sha256(token.encode()).hexdigest()
    columns = [getattr(survey, c.key) for c in Survey.__table__.columns]
    assert token not in [str(value) for value in columns]
    message = db.session.get(Message, survey.message_id)
    assert message.text.startswith("Hi Sam") and "1 to 5" in message.text


def test_public_comment_without_private_replies_records_not_sent(app_ctx, make_user):
    channel = make_channel("youtube")
    ticket = served_ticket(make_user("cm"), channel=channel, kind="comment",
                           customer=make_customer(platform="youtube"))
    survey = feedback.send_survey(ticket.id, NOW + minutes(70))
    assert survey.state == "not_sent" and "public" in survey.state_reason
    assert survey.token_hash is None and survey.message_id is None
    assert db.session.scalar(select(db.func.count(Message.id)).where(Message.automatic.is_(True))) == 0


def test_send_survey_job_runs_once(app_ctx, make_user, run_jobs):
    ticket = served_ticket(make_user("cm"))
    from workers.feedback import send_survey
    assert send_survey(ticket.id) == "sent"
    assert send_survey(ticket.id) == "sent"
    assert db.session.scalar(select(db.func.count(Message.id)).where(Message.automatic.is_(True))) == 1


# --- the survey page -------------------------------------------------------------------------

def test_customer_answers_once_on_the_page(app_ctx, client, make_user):
    survey, token = sent_survey(make_user("cm"))
    page = client.get(f"/s/{token}")
    assert page.status_code == 200 and b'lang="es"' in page.data
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert b"<script" not in page.data and b"https://" not in page.data
    done = client.post(f"/s/{token}", data={"rating": "5", "comment": "¡Genial! 👍 <b>ñ</b>"})
    assert done.status_code == 200 and b'id="survey-done"' in done.data
    again = client.post(f"/s/{token}", data={"rating": "1", "comment": "changed my mind"})
    assert again.status_code == 409 and b'id="survey-done"' in again.data
    db.session.refresh(survey)
    assert survey.rating == 5 and survey.comment == "¡Genial! 👍 <b>ñ</b>" and survey.answered_via == "web"
    assert client.get(f"/s/{token}").status_code == 200  # "already answered", friendly


def test_form_without_csrf_token_is_refused(app_ctx, client, make_user):
    survey, token = sent_survey(make_user("cm"))
    assert client.post(f"/s/{token}", data={"rating": "4"}, csrf=False).status_code == 400
    db.session.refresh(survey)
    assert survey.rating is None


@pytest.mark.security
def test_token_changed_by_one_character_is_404(app_ctx, client, make_user):
    _survey, token = sent_survey(make_user("cm"))
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(f"/s/{forged}").status_code == 404
    assert client.post(f"/s/{forged}", data={"rating": "5"}).status_code == 404
    assert client.get("/s/").status_code == 404


@pytest.mark.security
def test_expired_survey_shows_a_clear_page_and_takes_no_answer(app_ctx, client, make_user):
    survey, token = sent_survey(make_user("cm"))
    survey.expires_at = clock_now() - minutes(1)
    db.session.commit()
    page = client.get(f"/s/{token}")
    assert page.status_code == 410 and b'id="survey-expired"' in page.data
    assert client.post(f"/s/{token}", data={"rating": "5"}).status_code == 410
    with pytest.raises(feedback.SurveyExpired):
        feedback.answer(token, 5, None, clock_now())


@pytest.mark.security
@pytest.mark.parametrize("rating", [0, 6, -1, "5", 5.5, None, [5], True, {"value": 5}, "five"])
def test_rating_outside_the_scale_is_422(app_ctx, client, make_user, rating):
    survey, token = sent_survey(make_user("cm"))
    response = client.post(f"/s/{token}", json={"rating": rating})
    assert response.status_code == 422
    db.session.refresh(survey)
    assert survey.rating is None and survey.answered_at is None


@pytest.mark.security
@pytest.mark.parametrize("value", ["0", "6", "five", "5.0", "", "4 "])
def test_form_rating_outside_the_scale_is_422(app_ctx, client, make_user, value):
    _survey, token = sent_survey(make_user("cm"))
    assert client.post(f"/s/{token}", data={"rating": value}).status_code == 422


@pytest.mark.security
def test_extra_fields_cannot_pick_another_ticket(app_ctx, client, make_user):
    agent = make_user("cm")
    survey, token = sent_survey(agent)
    other, _ = sent_survey(agent, customer=make_customer(name="Otro Cliente"))
    response = client.post(f"/s/{token}", json={"rating": 1, "ticket_id": other.ticket_id})
    assert response.status_code == 422
    ok = client.post(f"/s/{token}", json={"rating": 4, "comment": "bien"})
    assert ok.status_code == 200
    db.session.refresh(survey)
    db.session.refresh(other)
    assert survey.rating == 4 and other.rating is None


@pytest.mark.security
def test_guessing_tokens_is_rate_limited(app_ctx, client):
    codes = [client.get(f"/s/guess{n:04d}xxxxxxxxxxxxxxxxx").status_code for n in range(40)]
    assert codes[0] == 404 and 429 in codes


@pytest.mark.security
def test_a_signed_in_agent_cannot_answer(app_ctx, client, login, make_user):
    agent = make_user("cm")
    survey, token = sent_survey(agent)
    login(agent)
    assert client.post(f"/s/{token}", data={"rating": "5"}).status_code == 403
    db.session.refresh(survey)
    assert survey.rating is None


def test_answer_service_is_single_use(app_ctx, make_user):
    survey, token = sent_survey(make_user("cm"))
    feedback.answer(token, 3, "ok", NOW + timedelta(days=1))
    with pytest.raises(feedback.AlreadyAnswered):
        feedback.answer(token, 5, "better", NOW + timedelta(days=1))
    db.session.refresh(survey)
    assert (survey.rating, survey.comment) == (3, "ok")


# --- ratings by DM ---------------------------------------------------------------------------

@pytest.mark.parametrize("text,rating", [
    ("5", 5), ("4/5", 4), ("⭐⭐⭐⭐", 4), ("⭐️⭐️⭐️", 3), ("5 estrellas", 5), ("1 estrella", 1),
    ("3 stars", 3), ("4 de 5", 4), ("5!", 5), ("★★", 2), (" 2 ", 2), ("5 out of 5", 5),
])
def test_parse_rating_accepts(text, rating):
    assert parse_rating(text) == rating


@pytest.mark.parametrize("text", ["0", "6", "10", "5 pedidos no llegaron", "⭐⭐⭐⭐⭐⭐", "",
                                  "gracias", "4.5", "-1", "1 2"])
def test_parse_rating_refuses(text):
    assert parse_rating(text) is None


@pytest.mark.parametrize("text,rating", [("5 estrellas", 5), ("4/5", 4), ("⭐⭐⭐", 3)])
def test_dm_reply_with_a_rating_answers_the_open_survey(app_ctx, make_user, text, rating):
    survey, _token = sent_survey(make_user("cm"))
    ticket = db.session.get(Ticket, survey.ticket_id)
    add_customer_message(ticket, text, sent_at=NOW + minutes(90), now=NOW + minutes(90))
    db.session.refresh(survey)
    assert survey.rating == rating and survey.answered_via == "dm"
    add_customer_message(ticket, "1", sent_at=NOW + minutes(95), now=NOW + minutes(95))
    db.session.refresh(survey)
    assert survey.rating == rating  # the first answer stands


def test_dm_that_is_not_a_rating_leaves_the_survey_open(app_ctx, make_user):
    survey, _token = sent_survey(make_user("cm"))
    ticket = db.session.get(Ticket, survey.ticket_id)
    add_customer_message(ticket, "Mi pedido 5 sigue sin llegar", sent_at=NOW + minutes(90),
                         now=NOW + minutes(90))
    db.session.refresh(survey)
    assert survey.answered_at is None


# --- what agents see -------------------------------------------------------------------------

def test_agents_see_ratings_and_comments_never_tokens(app_ctx, client, login, make_user):
    agent = make_user("cm")
    survey, token = sent_survey(agent)
    feedback.answer(token, 2, "<script>alert(1)</script> tardaron", NOW + minutes(80))
    login(agent)
    response = client.get(f"/customers/{survey.customer_id}/satisfaction")
    assert response.status_code == 200 and b'id="customer-satisfaction-body"' in response.data
    assert "★★☆☆☆".encode() in response.data and b"&lt;script&gt;" in response.data
    assert token.encode() not in response.data and survey.token_hash.encode() not in response.data
    assert client.get("/customers/999999/satisfaction").status_code == 404


def test_satisfaction_fragment_needs_sign_in(app_ctx, client):
    assert client.get("/customers/1/satisfaction").status_code == 302


def _customer_dm(ticket, text, at):
    """A DM from the ticket's customer, through the real ingest path."""
    from desk.channels.base import Author, NormalizedMessage
    from desk.intake.messages import ingest
    identity = ticket.customer.identities[0]
    message_id = f"dm-{at.timestamp()}"
    outcome = ingest(NormalizedMessage(
        platform=ticket.channel.platform, account_id=ticket.channel.account_id, kind="dm",
        direction="in", platform_message_id=message_id, thread_key=identity.platform_user_id,
        author=Author(id=identity.platform_user_id, name=identity.name), text=text, sent_at=at,
        dedupe_key=message_id), at, at)
    db.session.commit()
    return outcome


@pytest.mark.parametrize("kind,later", [("dm", minutes(90)), ("dm", timedelta(days=9)),
                                        ("comment", minutes(90))])
def test_a_dm_rating_never_opens_or_reopens_a_ticket(app_ctx, make_user, kind, later):
    survey, _token = sent_survey(make_user("cm"), kind=kind)
    tickets_before = db.session.scalar(select(func.count()).select_from(Ticket))
    ticket = db.session.get(Ticket, survey.ticket_id)
    resolved_at, state = ticket.resolved_at, ticket.sla_state
    assert _customer_dm(ticket, "⭐⭐⭐⭐⭐", NOW + later) == "appended"
    db.session.refresh(ticket)
    db.session.refresh(survey)
    assert survey.rating == 5 and survey.answered_via == "dm"
    assert (ticket.status, ticket.resolved_at, ticket.sla_state) == ("resolved", resolved_at, state)
    rating_message = ticket.messages[-1]
    assert rating_message.text == "⭐⭐⭐⭐⭐" and rating_message.automatic
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == tickets_before


def test_a_real_question_after_the_survey_reopens_the_ticket(app_ctx, make_user):
    survey, _token = sent_survey(make_user("cm"))
    ticket = db.session.get(Ticket, survey.ticket_id)
    at = NOW + minutes(90)
    assert _customer_dm(ticket, "Otra duda: ¿hacéis envíos a Canarias?", at) == "reopened"
    db.session.refresh(ticket)
    db.session.refresh(survey)
    assert ticket.status == "open" and survey.answered_at is None
    assert ticket.sla_state == "on_track"


def test_survey_links_are_masked_for_agents(app_ctx, make_user):
    from desk.views.survey import mask_survey_links
    survey, token = sent_survey(make_user("cm"))
    text = db.session.get(Message, survey.message_id).text
    masked = app_ctx.jinja_env.filters["mask_survey_links"](text)
    assert token not in masked and "/s/…" in masked and masked.startswith("Hola")
    assert mask_survey_links("see /s/short and /settings") == "see /s/short and /settings"


@pytest.mark.security
def test_agents_never_see_a_survey_token_in_the_ticket_or_the_inbox(app_ctx, make_user, client, login):
    agent = make_user("cm")
    survey, token = sent_survey(agent)
    login(agent)
    for url in (f"/tickets/{survey.ticket_id}", "/inbox?view=resolved"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert token not in page.get_data(as_text=True), url


def test_a_survey_whose_delayed_job_was_lost_is_sent_by_the_resweep(app_ctx, make_user, redis_server):
    """Redis restarted without its data (or was down at the resolution): the survey's delayed
    job is gone, but the database knows it is due, and the periodic re-sweep sends it once."""
    ticket = served_ticket(make_user("cm"))  # resolved at NOW + 10 min: due at NOW + 70 min
    Redis.from_url(redis_server.url).flushdb()  # the delayed job is lost
    stale = app_ctx.config["SURVEY_STALE_SECONDS"]
    assert feedback.resweep(NOW + minutes(70) + timedelta(seconds=stale - 1)) == 0  # not yet
    assert feedback.resweep(NOW + minutes(70) + timedelta(seconds=stale)) == 1
    queued = get_queue("default")
    assert [(job.func_name, job.args) for job in queued.get_jobs()] == [
        ("workers.feedback.send_survey", (ticket.id,))]
    from workers.feedback import send_survey
    assert send_survey(ticket.id) == "sent"
    assert feedback.resweep(NOW + timedelta(days=1)) == 0  # sent: nothing left to re-send
    assert db.session.scalar(select(db.func.count(Message.id)).where(Message.automatic.is_(True))) == 1


def test_a_dm_rating_while_another_ticket_is_open_starts_no_clock(app_ctx, make_user):
    """Issue #20: a rating DM landed on the customer's open DM ticket, started a response
    clock there, breached days later and escalated. It answers the survey and asks for nothing."""
    from desk.sla.policies import SlaClock
    agent = make_user("cm")
    survey, _token = sent_survey(agent, kind="comment")
    surveyed = db.session.get(Ticket, survey.ticket_id)
    open_dm = make_ticket("¿Tenéis la talla 38?", channel=surveyed.channel, customer=surveyed.customer,
                          sent_at=NOW + minutes(30), now=NOW + minutes(30))
    add_agent_reply(open_dm, agent, "¡Sí! Te la reservamos.", sent_at=NOW + minutes(35), now=NOW + minutes(35))
    clocks_before = db.session.scalar(select(func.count()).select_from(SlaClock).where(
        SlaClock.ticket_id == open_dm.id))
    assert _customer_dm(open_dm, "5", NOW + minutes(90)) == "appended"
    db.session.refresh(survey)
    db.session.refresh(open_dm)
    assert survey.rating == 5 and survey.answered_via == "dm"
    assert open_dm.sla_state == "met" and open_dm.status == "open"
    assert db.session.scalar(select(func.count()).select_from(SlaClock).where(
        SlaClock.ticket_id == open_dm.id)) == clocks_before
    assert [m.text for m in db.session.get(Ticket, surveyed.id).messages if m.automatic and m.direction == "in"] == ["5"]
