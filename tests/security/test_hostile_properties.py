"""Property: no string a person or a platform can send makes the desk answer 5xx or breaks
I1-I6 (security-reliability.md B.5). Generated strings mix NUL, lone surrogates, right-to-left
overrides, combining marks, emoji and 100,000-character runs; they go into every field of
every form route (app.url_map walked, signed in as an admin, CSRF tokens sent) and into
signed webhooks of every platform. Few examples, derandomized: the same cases on every run.
"""
import json
from datetime import timedelta
from urllib.parse import quote_from_bytes

import pytest
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from wtforms.fields.core import UnboundField

from desk.accounts.tokens import create_api_token
from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.escalation.crisis import Incident
from desk.escalation.escalations import escalate
from desk.inbox.tickets import Tag
from desk.intake.events import InboundEvent
from desk.notify.notifications import notify
from desk.replies.library import save_reply
from tests.factories import make_channel, make_ticket
from tests.feedback.test_feedback import sent_survey
from tests.invariants import assert_invariants
from tests.webhook_helpers import post_meta, post_x

pytestmark = pytest.mark.security
SETTINGS = settings(max_examples=6, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck))
# What a database stores but a careless view may not survive: direction overrides, combining
# marks, emoji, 100,000-character runs (and over-long names for fixed-length columns).
STORABLE_PIECES = ["\u202eevil\u202c", "\u200f\u200e\u2066x\u2069", "e\u0301\u0302\u0303\u0304",
                   "Z\u0335\u0321\u0322\u0344a", "😀👍🏽👨‍👩‍👧", "\ufeff\ufffd\uffff", "x" * 100_000,
                   "\U0001f600" * 5000, "' OR 1=1 --", "<img src=x onerror=alert(1)>", "%00",
                   "\r\n\t", " "]
# What no database stores: NUL and lone surrogates (high and low).
UNSTORABLE_PIECES = ["\x00", "a\x00b", "\ud800", "\udc00 lone", "\udbff"]
STORABLE = st.lists(st.one_of(
    st.sampled_from(STORABLE_PIECES),
    st.text(st.characters(categories=["Cf", "Mn", "So", "Lo", "Zs"]), max_size=20),
), min_size=1, max_size=3).map("".join)
HOSTILE = st.lists(st.one_of(
    st.sampled_from(STORABLE_PIECES + UNSTORABLE_PIECES),
    st.text(st.characters(categories=["Cc", "Cf", "Cs", "Mn", "So", "Lo", "Zs"]), max_size=20),
), min_size=1, max_size=3).map("".join)
# Signing out would end the session the walk needs; the JSON API takes no forms (its bodies
# are walked by tests/views/test_api_schema.py), the webhooks are below.
SKIPPED = ("auth.logout", "api.", "hooks.")
ANONYMOUS = {"auth.login", "survey.respond"}  # public forms, answered to visitors only


def form_fields() -> list[str]:
    """Every field a desk form or view reads: the WTForms classes' and request.form's names."""
    names, pending = set(), list(FlaskForm.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        names.update(n for n in dir(cls) if isinstance(getattr(cls, n, None), UnboundField))
    plain = {"action", "assignee", "assignee_id", "body", "canned_reply_id", "comment", "detail",
             "from", "ids", "last_seen_id", "note", "priority", "rating", "reason", "required",
             "section", "stop", "tag", "text", "visibility"}
    return sorted((names | plain) - {"file"})


@pytest.fixture
def world(app_ctx, make_user, monkeypatch):
    """One of everything a route can name, and valid values to mix with the hostile ones."""
    monkeypatch.setitem(app_ctx.config, "LOGIN_RATE_LIMIT", "100000 per minute")
    monkeypatch.setitem(app_ctx.config, "SURVEY_RATE_LIMIT", "100000 per minute")
    admin, other = make_user("admin"), make_user("cm")
    _survey, token = sent_survey(other)
    ticket = make_ticket("¿Dónde está mi pedido?", now=clock_now() - timedelta(hours=1))
    tag = Tag(name="vip")
    ticket.tags.append(tag)
    escalation = escalate(ticket.id, "complaint", 1, "nota", clock_now())
    incident = Incident(title="caída", created_at=clock_now())
    incident.tickets.append(ticket)
    db.session.add(incident)
    notification = notify([admin.id], "mention", "hola", dedupe_key="h", ticket_id=ticket.id,
                          now=clock_now())[0]
    reply = save_reply({"key": "hola", "language": "es", "title": "Hola", "body": "Hola"},
                       clock_now())
    api_token, api_secret = create_api_token("walk", db.session.get(User, admin.id))
    db.session.commit()
    ids = {"ticket_id": ticket.id, "tag_id": tag.id, "escalation_id": escalation.id,
           "incident_id": incident.id, "notification_id": notification.id,
           "reply_id": reply.id, "user_id": other.id, "token_id": api_token.id,
           "message_id": ticket.messages[-1].id, "decision": "reject", "token": token,
           "api_secret": api_secret}
    valid = {"role": "lead", "platform": "facebook", "priority": "high", "reason": "other",
             "level": "1", "visibility": "private", "last_seen_id": str(ticket.messages[-1].id),
             "rating": "5", "action": "tag", "ids": str(ticket.id), "assignee_id": str(admin.id),
             "email": "nuevo@desk.test", "password": "a long enough password", "locale": "es",
             "timezone": "Europe/Madrid", "language": "es", "key": "clave", "kind": "dm"}
    return admin, ids, valid


def walked_routes(app, ids: dict, method: str, skipped: tuple = ()):
    """(endpoint, url) of every `method` route but `skipped` ones, ids filled from `ids`."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if method in rule.methods and not rule.endpoint.startswith(skipped + ("static",)):
            yield rule.endpoint, rule.build({name: ids.get(name, 999999) for name in rule.arguments})[1]


def test_hostile_form_fields_on_every_post_route_never_fail(app, client, login, world):
    admin, ids, valid = world
    fields = form_fields()
    routes = list(walked_routes(app, ids, "POST", SKIPPED))
    assert len(routes) >= 40
    login(admin)
    # A form with one unstorable value is refused before any view runs (views/inputs.py); the
    # storable ones reach the views and the database.
    form = st.one_of(*(st.fixed_dictionaries({
        name: st.one_of(st.just(valid.get(name, "x")), text) for name in fields})
        for text in (STORABLE, HOSTILE)))

    @given(data=form, query=st.one_of(st.just(""), STORABLE, HOSTILE))
    @SETTINGS
    def walk(data, query):
        body = _urlencoded(data)
        for endpoint, url in routes:
            # A fresh visitor each time: a form may have made the account it signs in with.
            who = app.test_client() if endpoint in ANONYMOUS else client
            response = who.post(url, data=body, query_string=_urlencoded({"q": query}).decode(),
                                content_type="application/x-www-form-urlencoded")
            assert response.status_code < 500, (endpoint, response.status_code)
        assert_invariants()

    walk()


def test_hostile_query_parameters_on_every_page_never_fail(app, client, login, world):
    admin, ids, _valid = world
    routes = list(walked_routes(app, ids, "GET"))  # pages, the JSON API and the handshakes
    assert len(routes) >= 40
    login(admin)
    bearer = {"Authorization": f"Bearer {ids['api_secret']}"}
    names = ["q", "status", "sort", "view", "period", "start", "end", "channel", "channel_id",
             "agent_id", "state", "level", "next", "stamp", "cursor", "tz", "language"]

    @given(query=st.one_of(*(st.fixed_dictionaries({name: text for name in names})
                             for text in (STORABLE, HOSTILE))))
    @SETTINGS
    def walk(query):
        encoded = _urlencoded(query).decode()
        for endpoint, url in routes:
            response = client.get(url, query_string=encoded, headers=bearer)
            assert response.status_code < 500, (endpoint, response.status_code)

    walk()


def _urlencoded(data: dict) -> bytes:
    """The body a browser would send: UTF-8 percent-encoded, a lone surrogate as its bytes."""
    return b"&".join(quote_from_bytes(k.encode("utf-8", "surrogatepass")).encode() + b"="
                     + quote_from_bytes(v.encode("utf-8", "surrogatepass")).encode()
                     for k, v in data.items())


# --- signed webhooks of every platform ----------------------------------------------------

PAGE, IG, WA, X_BRAND = "1122334455", "17841405726653026", "106540352242922", "4337869213"


def meta_deliveries(n: int, text: str, name: str, tag: str) -> list[dict]:
    """A Messenger DM, a page comment, an Instagram comment and DM, a WhatsApp message."""
    mid = f"m{n}{tag}"
    return [
        {"object": "page", "entry": [{"id": PAGE, "time": 1700000000000, "messaging": [{
            "sender": {"id": f"psid{tag}"}, "recipient": {"id": PAGE}, "timestamp": 1700000000000,
            "message": {"mid": f"fb_{mid}", "text": text}}]}]},
        {"object": "page", "entry": [{"id": PAGE, "time": 1510092433, "changes": [{
            "field": "feed", "value": {"from": {"id": f"u{tag}", "name": name}, "item": "comment",
                                       "comment_id": f"1_{mid}", "post_id": "1_2", "verb": "add",
                                       "parent_id": "1_2", "created_time": 1510092431,
                                       "message": text}}]}]},
        {"object": "instagram", "entry": [{"id": IG, "time": 1755779280, "changes": [{
            "field": "comments", "value": {"id": f"igc_{mid}", "text": text,
                                           "from": {"id": f"ig{tag}", "username": name},
                                           "media": {"id": "1791", "media_product_type": "FEED"}}}]}]},
        {"object": "instagram", "entry": [{"id": IG, "time": 1569262486134, "messaging": [{
            "sender": {"id": f"ig{tag}"}, "recipient": {"id": IG}, "timestamp": 1569262485349,
            "message": {"mid": f"igm_{mid}", "text": text}}]}]},
        {"object": "whatsapp_business_account", "entry": [{"id": "1022", "changes": [{
            "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "1555", "phone_number_id": WA},
                "contacts": [{"profile": {"name": name}, "wa_id": "165055"}],
                "messages": [{"from": "165055", "id": f"wamid.{mid}", "timestamp": "1749416383",
                              "type": "text", "text": {"body": text}}]}}]}]},
    ]


def x_deliveries(n: int, text: str, name: str, tag: str) -> list[dict]:
    """An X mention and an X DM (Account Activity API)."""
    user = {"id_str": f"2{n}", "id": 2, "name": name, "screen_name": name[:40],
            "followers_count": 3}
    return [
        {"for_user_id": X_BRAND, "tweet_create_events": [{
            "id_str": f"7{n}", "text": text, "user": user, "in_reply_to_status_id_str": None,
            "created_at": "Wed Feb 05 08:39:31 +0000 2020"}]},
        {"for_user_id": X_BRAND, "direct_message_events": [{
            "type": "message_create", "id": f"8{n}", "created_timestamp": "1516403560557",
            "message_create": {"target": {"recipient_id": X_BRAND}, "sender_id": f"3{tag}",
                               "message_data": {"text": text, "entities": {}}}}],
         "users": {f"3{tag}": {"id": f"3{tag}", "name": name, "screen_name": name[:40]}}},
    ]


@pytest.fixture
def channels(app_ctx):
    return [make_channel(platform, account) for platform, account in (
        ("facebook", PAGE), ("instagram", IG), ("whatsapp", WA), ("x", X_BRAND))]


def test_hostile_text_in_signed_webhooks_is_stored_once_and_processed(app, client, channels,
                                                                      run_jobs):
    counter = iter(range(10**6))

    @given(text=HOSTILE, name=HOSTILE, tag=HOSTILE)
    @SETTINGS
    def deliver(text, name, tag):
        n = next(counter)
        before = db.session.scalar(select(func.max(InboundEvent.id))) or 0
        posted = 0
        for body in meta_deliveries(n, text, name, tag):
            response = post_meta(client, json.dumps(body).encode())
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            posted += response.get_json()["events"]
        for body in x_deliveries(n, text, name, tag):
            response = post_x(client, json.dumps(body).encode())
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            posted += response.get_json()["events"]
        assert posted == 7
        assert db.session.scalar(select(func.count()).select_from(InboundEvent)
                                 .where(InboundEvent.id > before)) == 7  # each stored once
        run_jobs()
        db.session.expire_all()
        failed = db.session.scalars(select(InboundEvent.error).where(
            InboundEvent.id > before, InboundEvent.status.not_in(("processed", "dropped")))).all()
        assert failed == [], failed[:1]
        assert_invariants()

    deliver()
