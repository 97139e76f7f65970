"""Attack cases of security-reliability.md Part A, as the desk is built, not covered elsewhere.

Where each case lives:
- 1-14 webhook authenticity, replay, oversize (413) and 10,000-level nested JSON (400):
  tests/channels/test_webhooks_meta.py, tests/channels/test_webhooks_x.py (security-marked).
- 16/17 stored XSS: inbox rows (tests/inbox/test_inbox_views.py), reports page and 21 CSV formula
  injection (tests/reports/test_reports.py), suggestions (tests/replies/test_replies.py); here: one sweep over
  every page that shows customer text and names (ticket, thread, board, escalation queue and
  panel, incident, notification centre, search results, report tables and print, CSV).
- 35/36/41 IDOR: here, unknown ids and another ticket's tag on every ticket verb -> 404.
- 40/70 role checks: here, a table-driven walk of app.url_map (CM and anonymous).
- 43 CORS, 44/45 CSRF on every non-exempt POST route (walk of app.url_map): here.
- 47 open redirects: tests/accounts/test_auth.py. 49-51 sessions, tokens: tests/accounts/test_auth.py.
- 53-60 survey tampering: tests/feedback/test_feedback.py. 65-67 mass assignment of the ingest API:
  tests/intake/test_ingest_api.py. 68 token redaction: tests/inbox/test_outbound.py.
- 61-63 SQL-injection-shaped search, filter and sort values -> 400/422 or literal: here.
- 14 for the JSON API (oversize, deep nesting on /api/v1/): here.
- schemathesis over /api/v1/openapi.json: tests/views/test_api_schema.py.
- text no database stores (NUL, lone surrogates) in forms and parameters -> 400:
  tests/security/test_unstorable_input.py; in signed webhooks -> stored, made storable:
  tests/channels/test_webhooks_hostile_text.py; generated hostile strings on every route and
  platform (no 5xx, I1-I6): tests/security/test_hostile_properties.py.
"""
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from desk.accounts.tokens import create_api_token
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.escalation.crisis import Incident
from desk.escalation.escalations import escalate
from desk.inbox.tickets import Tag, Ticket
from desk.notify.notifications import notify
from tests.factories import make_channel, make_customer, make_ticket

pytestmark = pytest.mark.security
XSS_TEXT = '<img src=x onerror=alert(document.domain)>'
XSS_NAME = '"><svg onload=alert(1)>'
FORMULA = '=HYPERLINK("http://evil")'
PUBLIC = {"auth.login", "main.health", "hooks.meta_verify", "hooks.x_crc",
          "survey.respond", "api.openapi_json", "static",
          # Reached without a session by design: each checks its own link, token or half
          # sign-in (tests/accounts).
          "auth.forgot_password", "auth.reset_password", "auth.accept_invitation",
          "auth.second_factor", "auth.single_sign_on", "auth.sso_callback", "main.favicon",
          # A reply's file for the platform that fetches it: a signed, expiring token
          # (tests/channels/test_reply_files.py).
          "media.public_file"}
CM_ALLOWED = {"main.home", "main.preferences", "auth.logout", "replies.library", "replies.search",
              "replies.suggestions", "escalations.ticket_panel", "sla.timeline",
              "survey.customer_satisfaction", "routing.set_status"}
# customers.import_vip is for leads: tests/people/test_customer_details.py checks it.
CM_BLUEPRINTS = ("inbox.", "tickets.", "notifications.", "account.", "tokens.", "macros.",
                 "customers.")
CSRF_EXEMPT = ("api.", "hooks.")


def routes(app, method: str | None = None):
    """(endpoint, url, method) for every rule, ids filled with 999999 (or `ids`)."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        args = {name: ("accept" if name == "decision" else "tok" if name == "token" else 999999)
                for name in rule.arguments}
        url = rule.build(args)[1]
        for verb in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method is None or verb == method:
                yield rule.endpoint, url, verb


# --- stored XSS ---------------------------------------------------------------------------

@pytest.fixture
def hostile(app_ctx, make_user):
    admin = make_user("admin", name=XSS_NAME)
    channel = make_channel("instagram", "ig-xss", name=XSS_NAME)
    customer = make_customer(name=XSS_NAME, platform="instagram")
    ticket = make_ticket(f"{XSS_TEXT} {FORMULA}", channel=channel, customer=customer,
                         now=clock_now() - timedelta(hours=3))
    escalate(ticket.id, "vip", 1, XSS_TEXT, clock_now())
    incident = Incident(title=XSS_TEXT, created_at=clock_now())
    incident.tickets.append(ticket)
    db.session.add(incident)
    notify([admin.id], "mention", XSS_TEXT + XSS_NAME, dedupe_key="xss", ticket_id=ticket.id,
           link=f"/tickets/{ticket.id}", now=clock_now())
    db.session.commit()
    return admin, ticket, incident


def test_customer_text_and_names_render_as_text_on_every_page(client, login, hostile):
    admin, ticket, incident = hostile
    login(admin)
    pages = ["/inbox", "/inbox/list", "/inbox?q=onerror", f"/tickets/{ticket.id}",
             f"/tickets/{ticket.id}/thread", "/board", "/escalations",
             f"/tickets/{ticket.id}/escalation", f"/escalations/incidents/{incident.id}",
             "/notifications", "/reports", "/reports/print", f"/tickets/{ticket.id}/sla",
             f"/customers/{ticket.customer_id}/satisfaction", "/admin/users", "/admin/channels",
             "/admin/audit", "/admin/tokens", "/tokens"]
    shown = 0
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.get_data(as_text=True)
        assert "<img src=x" not in html and "<svg onload" not in html, page
        shown += "&lt;img src=x onerror" in html or "&lt;svg onload" in html
    assert shown >= len(pages) - 3  # the payload is on (nearly) every page, escaped


def test_csv_export_neutralises_formulas_in_customer_text(client, login, hostile):
    login(hostile[0])
    body = client.get("/reports.csv").get_data(as_text=True)
    assert not re.search(r'(^|,)"?=HYPERLINK', body, re.M)


def test_search_results_escape_the_payload_and_treat_it_literally(client, login, hostile):
    login(hostile[0])
    html = client.get("/inbox/list", query_string={"q": "<img src=x"}).get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x onerror" in html


# --- IDOR: unknown or other ids -> 404 on every ticket verb -----------------------------

def test_every_ticket_verb_answers_404_for_an_unknown_ticket(app_ctx, client, login, make_user):
    login(make_user("admin"))  # the highest role: only the missing object can refuse
    checked = 0
    for endpoint, url, verb in routes(app_ctx):
        if "999999" not in url or not url.startswith(("/tickets/", "/board/tickets/")):
            continue
        response = client.open(url, method=verb, data={"text": "x", "body": "x", "tag": "x", "priority": "high",
                                                        "user_id": "1", "reason": "spam"})
        assert response.status_code == 404, (endpoint, verb, response.status_code)
        checked += 1
    assert checked >= 18
    token = create_api_token("idor")[1]
    assert client.get("/api/v1/tickets/999999",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 404


def test_a_tag_of_another_ticket_cannot_be_removed_through_this_one(app_ctx, client, login,
                                                                  make_user):
    login(make_user("cm"))
    mine, other = make_ticket("mine"), make_ticket("other")
    tag = Tag(name="vip-secret")
    db.session.add(tag)
    other.tags.append(tag)
    db.session.commit()
    response = client.post(f"/tickets/{mine.id}/tags/{tag.id}/remove")
    assert response.status_code in (200, 404)  # a no-op on this ticket, never the other one
    db.session.expire_all()
    assert [t.name for t in db.session.get(Ticket, other.id).tags] == ["vip-secret"]


# --- role checks on every route ---------------------------------------------------------

def test_a_community_manager_is_refused_every_lead_smm_and_admin_route(app, client, login,
                                                                      make_user):
    login(make_user("cm"))
    refused = 0
    for endpoint, url, verb in routes(app):
        if (endpoint in PUBLIC or endpoint in CM_ALLOWED or endpoint.startswith(CM_BLUEPRINTS)
                or endpoint.startswith("api.")):
            continue
        response = client.open(url, method=verb, data={})
        assert response.status_code in (403, 404), (endpoint, verb, response.status_code)
        if "999999" not in url:
            assert response.status_code == 403, (endpoint, verb)
        refused += 1
    assert refused >= 25


def test_anonymous_users_reach_only_the_public_routes(app, client):
    checked = 0
    for endpoint, url, verb in routes(app):
        if endpoint in PUBLIC:
            continue
        response = client.open(url, method=verb, data={})
        if endpoint.startswith("api."):
            assert response.status_code == 401, (endpoint, verb)
        else:
            assert response.status_code in (302, 401), (endpoint, verb, response.status_code)
            if response.status_code == 302:
                assert "/login" in response.headers["Location"], endpoint
        checked += 1
    assert checked >= 60


# --- CSRF and CORS ------------------------------------------------------------------------

def test_every_session_post_without_a_csrf_token_is_400(app, client, login, make_user):
    login(make_user("admin"))
    checked = 0
    for endpoint, url, verb in routes(app, "POST"):
        if endpoint.startswith(CSRF_EXEMPT):
            continue
        response = client.post(url, data={"text": "x"}, csrf=False)
        assert response.status_code == 400, (endpoint, response.status_code)
        checked += 1
    assert checked >= 35


def test_no_cross_origin_access_with_credentials(app, client, login, make_user):
    login(make_user("admin"))
    evil = {"Origin": "https://evil.example"}
    for url in ("/inbox", "/api/v1/me", "/api/v1/tickets", "/login"):
        for response in (client.get(url, headers=evil),
                         client.options(url, headers={**evil, "Access-Control-Request-Method": "POST"})):
            assert "Access-Control-Allow-Origin" not in response.headers, url
            assert "Access-Control-Allow-Credentials" not in response.headers, url


# --- SQL-injection-shaped search, filter and sort values ---------------------------------

INJECTIONS = ["' OR 1=1 --", "equal_to) OR 1=1 --", "id; DROP TABLE ticket", "%", "_", "\\",
              "created_at desc, (select pg_sleep(5))", "UTC'); --", "1 UNION SELECT password FROM user"]


def test_injection_shaped_values_are_refused_or_literal_never_500(app_ctx, client, login,
                                                                 make_user):
    login(make_user("admin"))
    make_ticket("¿Dónde está mi pedido 100%?")
    token = create_api_token("sqli")[1]
    bearer = {"Authorization": f"Bearer {token}"}
    for value in INJECTIONS:
        for url, params in (("/inbox/list", {"q": value}), ("/inbox/list", {"status": value}),
                            ("/inbox/list", {"sort": value}), ("/inbox/list", {"assignee": value}),
                            ("/inbox/list", {"channel": value}), ("/replies/search", {"q": value}),
                            ("/reports", {"period": value}), ("/reports", {"channel_id": value}),
                            ("/reports", {"start": value}), ("/board", {"sort": value})):
            response = client.get(url, query_string=params)
            assert response.status_code in (200, 400, 422), (url, params, response.status_code)
        for params in ({"status": value}, {"channel": value}, {"assignee": value},
                       {"cursor": value}, {"sla": value}):
            response = client.get("/api/v1/tickets", query_string=params, headers=bearer)
            assert response.status_code in (400, 422), (params, response.status_code)
    # a LIKE wildcard matches literally: "%" finds only the ticket that contains "%"
    assert "100%" in client.get("/inbox/list", query_string={"q": "%"}).get_data(as_text=True)
    assert db.session.scalar(select(Ticket.id)) is not None  # nothing was dropped
    many = client.get("/inbox/list", query_string=[("q", "a"), ("q", "b")])
    assert many.status_code in (200, 400)


# --- oversize and deeply nested JSON on the API ------------------------------------------

def test_api_refuses_oversize_and_deeply_nested_json(app_ctx, client):
    bearer = {"Authorization": f"Bearer {create_api_token('big')[1]}"}
    huge = b'{"messages": ["' + b"a" * (5 * 1024 * 1024) + b'"]}'
    response = client.post("/api/v1/messages", data=huge, headers=bearer,
                           content_type="application/json")
    assert response.status_code == 413 and response.is_json
    deep = b'{"messages": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    response = client.post("/api/v1/messages", data=deep, headers=bearer,
                           content_type="application/json")
    assert response.status_code in (400, 422) and response.is_json


# --- ids that pass str.isdigit but overflow a column or int() -------------------------------

BAD_IDS = ["99999999999", "9" * 25, "²", "١٢", "-1", "1e9"]


def test_out_of_range_and_unicode_digit_ids_are_4xx_never_500(app_ctx, client, login, make_user):
    login(make_user("admin"))
    ticket = make_ticket("¿y mi pedido?")
    token = create_api_token("ids")[1]
    for bad in BAD_IDS:
        for url, data in ((f"/tickets/{ticket.id}/assign", {"assignee_id": bad}),
                          (f"/board/tickets/{ticket.id}/assign", {"assignee_id": bad}),
                          ("/inbox/bulk", {"ids": bad, "action": "assign_me"}),
                          ("/inbox/bulk", {"ids": str(ticket.id), "action": "assign", "assignee": bad}),
                          (f"/tickets/{ticket.id}/reply", {"text": "hola", "visibility": "private",
                                                            "last_seen_id": bad}),
                          (f"/tickets/{ticket.id}/reply", {"text": "hola", "visibility": "private",
                                                            "last_seen_id": "1", "canned_reply_id": bad})):
            response = client.post(url, data=data)
            assert 400 <= response.status_code < 500, (url, data, response.status_code)
        for url in (f"/tickets/{bad}", f"/api/v1/tickets/{bad}"):
            response = client.get(url, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 404, (url, response.status_code)
        for params in ({"channel_id": bad}, {"agent_id": bad}):
            assert client.get("/reports", query_string=params).status_code in (200, 400)
        response = client.get("/api/v1/tickets", query_string={"assignee": bad},
                              headers={"Authorization": f"Bearer {token}"})
        assert response.status_code in (400, 422), (bad, response.status_code)


def test_nul_characters_in_api_bodies_are_422_not_a_database_error(app_ctx, client):
    """PostgreSQL text cannot hold NUL: found by schemathesis as a 500 on POST /messages."""
    bearer = {"Authorization": f"Bearer {create_api_token('nul')[1]}"}
    make_channel("x", "x-acct")
    message = ('{"channel": {"platform": "x", "account_id": "%s"}, "kind": "dm", '
               '"message_id": "m-1", "author": {"id": "a-1"}, "text": "%s"}')
    for body in (message % ("\\u0000", "hola"), message % ("x-acct", "hola\\u0000"),
                 '{"messages": [%s]}' % (message % ("x-acct", "\\u0000"))):
        response = client.post("/api/v1/messages", data=body.encode(), headers=bearer,
                               content_type="application/json")
        assert response.status_code == 422 and response.is_json, (body, response.status_code)
