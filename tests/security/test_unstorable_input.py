"""Form fields, query parameters and JSON that no database can store (NUL, lone surrogates)
are a 400 with a clear, translated message on every route, never a 500."""
import pytest
from sqlalchemy import func, select

from desk.accounts.tokens import create_api_token
from desk.core.extensions import db
from desk.escalation.escalations import Escalation
from desk.feedback.surveys import Survey
from desk.inbox.tickets import Message, Note, Ticket
from tests.factories import make_ticket
from tests.feedback.test_feedback import sent_survey

pytestmark = pytest.mark.security
NUL = "a\x00b"
MESSAGE = "cannot be stored"
SPANISH = "no se pueden guardar"


def refused(response, as_json: bool = False) -> bool:
    """A 400 that names the problem, as JSON or as a page."""
    if as_json:
        return response.status_code == 400 and MESSAGE in response.get_json()["error"]
    return response.status_code == 400 and MESSAGE in response.get_data(as_text=True)


@pytest.fixture
def agent(app_ctx, client, login, make_user):
    user = make_user("admin")
    login(user)
    return user


@pytest.fixture
def ticket(agent):
    made = make_ticket("¿Dónde está mi pedido?")
    return made.id, made.messages[-1].id


def test_nul_in_the_login_email_is_400(app_ctx, client, make_user):
    make_user("cm", email="ana@desk.test")
    response = client.post("/login", data={"email": "ana@desk.test\x00", "password": "x"})
    assert refused(response)


def test_the_message_is_in_the_visitors_language(app_ctx, client):
    response = client.post("/login", data={"email": NUL, "password": "x"},
                           headers={"Accept-Language": "es"})
    assert response.status_code == 400 and SPANISH in response.get_data(as_text=True)


def test_nul_in_the_survey_comment_is_400_and_the_survey_stays_open(app_ctx, client, make_user):
    survey, token = sent_survey(make_user("cm"))
    assert refused(client.post(f"/s/{token}", data={"rating": "5", "comment": NUL}))
    response = client.post(f"/s/{token}", json={"rating": 5, "comment": "\ud800 lone"})
    assert response.status_code == 400
    response = client.post(f"/s/{token}", json={"rating": 5, "comment": NUL})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Survey, survey.id).answered_at is None
    assert client.post(f"/s/{token}", data={"rating": "5", "comment": "bien"}).status_code == 200


def test_nul_in_a_note_is_400(client, ticket):
    assert refused(client.post(f"/tickets/{ticket[0]}/notes", data={"body": NUL}))
    assert db.session.scalar(select(func.count()).select_from(Note)) == 0


def test_nul_in_a_reply_is_400(client, ticket):
    ticket_id, seen = ticket
    response = client.post(f"/tickets/{ticket_id}/reply", data={
        "text": NUL, "visibility": "private", "last_seen_id": seen})
    assert refused(response)
    assert db.session.scalar(select(func.count()).select_from(Message).where(
        Message.direction == "out")) == 0


def test_nul_in_an_escalation_note_is_400(client, ticket):
    response = client.post(f"/tickets/{ticket[0]}/escalation",
                           data={"reason": "complaint", "level": "1", "note": NUL})
    assert refused(response)
    assert db.session.scalar(select(func.count()).select_from(Escalation)) == 0


def test_nul_in_resolve_without_reply_details_is_400(client, ticket):
    response = client.post(f"/tickets/{ticket[0]}/resolve-no-reply",
                           data={"reason": "other", "detail": NUL})
    assert refused(response)
    db.session.expire_all()
    assert db.session.get(Ticket, ticket[0]).status != "resolved"


def test_htmx_requests_get_the_message_as_a_flash(client, ticket):
    response = client.post(f"/tickets/{ticket[0]}/notes", data={"body": NUL},
                           headers={"HX-Request": "true"})
    assert refused(response) and 'id="flash-error"' in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/escalations?state=%00", "/replies/search?q=%00",
                                 "/reports?period=a%00", "/inbox/list?q=%00", "/board?sort=%00",
                                 "/login?next=/inbox%00"])
def test_nul_in_a_query_parameter_is_400(client, agent, url):
    assert refused(client.get(url)), url


def test_nul_in_a_parameter_name_is_400(client, agent):
    assert refused(client.get("/inbox/list?a%00=1"))


def test_api_and_webhook_routes_answer_in_json(client):
    assert refused(client.get("/webhooks/x?crc_token=a%00"), as_json=True)
    assert refused(client.get("/api/v1/tickets?q=%00"), as_json=True)


def test_a_broken_utf8_sequence_in_a_form_is_stored_harmlessly(client, ticket):
    """Browsers cannot send a lone surrogate in a form: its UTF-8 bytes never decode to one."""
    response = client.post(f"/tickets/{ticket[0]}/notes", data=b"body=%ED%A0%80+nota",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    body = db.session.scalar(select(Note.body))
    assert body.endswith(" nota") and not any(0xD800 <= ord(c) <= 0xDFFF for c in body)


def test_api_bodies_keep_their_422_for_nul_and_lone_surrogates_anywhere(app_ctx, client):
    bearer = {"Authorization": f"Bearer {create_api_token('hostile')[1]}"}
    for body in (b'{"messages": [], "\\ud800": 1}', b'{"messages": [{"text": "\\u0000"}]}'):
        response = client.post("/api/v1/messages", data=body, headers=bearer,
                               content_type="application/json")
        assert response.status_code == 422 and "lone surrogates" in response.get_json()["error"]
