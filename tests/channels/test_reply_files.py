"""Files agents send: attached in the composer or carried by a canned reply, checked against
each platform's limits before anything is stored, and sent the way each platform takes them
(each outbound request asserted field by field against the loopback fake)."""
import base64
import io
import json
import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from desk.accounts.audit import Actor
from desk.accounts.tokens import create_api_token
from desk.accounts.users import User
from desk.core.extensions import db
from desk.inbox.files import ReplyFile
from desk.inbox.tickets import Message
from desk.people.privacy import erase_customer
from desk.replies.models import CannedReply
from tests.factories import make_channel, make_customer, make_ticket

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def _ticket(platform, kind="dm", token="page-token-1"):
    channel = make_channel(platform, account_id={"facebook": "PAGE1", "instagram": "IG1",
                                                 "whatsapp": "1065403522", "x": "X1"}[platform])
    channel.access_token = token
    db.session.commit()
    # Sent now: the view replies at the clock's time (WhatsApp's window is open).
    ticket = make_ticket("¿Me mandáis la etiqueta de devolución?", channel=channel, kind=kind,
                         customer=make_customer(platform=platform))
    return ticket, ticket.customer.identities[0].platform_user_id


def _send(client, ticket, text="Aquí tienes la etiqueta", file=None, visibility="private",
          **fields):
    data = {"text": text, "visibility": visibility, "last_seen_id": str(_last(ticket)), **fields}
    if file is not None:
        data["file"] = file
    return client.post(f"/tickets/{ticket.id}/reply", data=data,
                       content_type="multipart/form-data")


def _last(ticket):
    return db.session.scalar(select(func.max(Message.id)).where(Message.ticket_id == ticket.id))


def _reply(ticket):
    return db.session.scalar(select(Message).where(Message.ticket_id == ticket.id,
                                                   Message.direction == "out"))


@pytest.fixture
def agent(app_ctx, make_user, login, client):
    user = make_user("cm", name="Ana")
    login(user)
    return user


def test_a_messenger_dm_sends_the_image_then_the_text_and_the_thread_shows_it(
        agent, client, fake_platform, run_jobs):
    ticket, psid = _ticket("facebook")
    response = _send(client, ticket, file=(io.BytesIO(PNG), "etiqueta.png"))
    assert response.status_code == 200, response.data
    run_jobs()
    db.session.expire_all()
    reply = _reply(ticket)
    assert reply.delivery_state == "delivered"
    upload, text = fake_platform.calls
    assert upload["path"] == "/graph/PAGE1/messages" and text["path"] == "/graph/PAGE1/messages"
    assert upload["headers"]["Authorization"] == "Bearer page-token-1"
    assert upload["headers"]["Content-Type"].startswith("multipart/form-data")
    assert json.loads(upload["json"]["recipient"]) == {"id": psid}
    assert upload["json"]["messaging_type"] == "RESPONSE"
    assert json.loads(upload["json"]["message"]) == {
        "attachment": {"type": "image", "payload": {"is_reusable": False}}}
    assert upload["json"]["filedata"] == {"filename": "etiqueta.png", "data": PNG,
                                          "content_type": "image/png"}
    assert text["json"] == {"recipient": {"id": psid}, "messaging_type": "RESPONSE",
                            "message": {"text": "Aquí tienes la etiqueta"}}
    [carried] = reply.attachments
    assert carried["type"] == "image" and carried["name"] == "etiqueta.png"
    assert carried["platform_id"] == "out-1" and reply.platform_message_id == "out-2"
    stored = db.session.get(ReplyFile, carried["file_id"])
    assert stored.message_id == reply.id and stored.size == len(PNG)
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert f'src="/media/file/{stored.id}"' in page
    shown = client.get(f"/media/file/{stored.id}")
    assert shown.status_code == 200 and shown.data == PNG and shown.mimetype == "image/png"
    assert shown.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert shown.headers["X-Content-Type-Options"] == "nosniff"


def test_a_failed_text_part_is_sent_again_without_sending_the_file_twice(
        agent, client, fake_platform, run_jobs):
    ticket, _psid = _ticket("facebook")
    _send(client, ticket, file=(io.BytesIO(PNG), "etiqueta.png"))
    # The file goes; the text that follows is refused once (a transient Graph error), then
    # retried.
    original = fake_platform._answer
    seen = []

    def second_call_fails(path, body, headers):
        seen.append(path)
        if len(seen) == 2:
            fake_platform.fail(1)
        return original(path, body, headers)
    fake_platform._answer = second_call_fails
    run_jobs()
    db.session.expire_all()
    reply = _reply(ticket)
    assert reply.delivery_state == "delivered" and reply.delivery_attempts == 2
    uploads = [c for c in fake_platform.calls if "filedata" in c["json"]]
    texts = [c for c in fake_platform.calls if c["json"].get("message") == {
        "text": "Aquí tienes la etiqueta"}]
    assert len(uploads) == 1 and len(texts) == 2  # the refused text, then the retry


def test_whatsapp_uploads_the_file_and_sends_it_by_id_with_the_text_as_caption(
        agent, client, fake_platform, run_jobs):
    ticket, wa_id = _ticket("whatsapp", token="wa-token")
    assert _send(client, ticket, text="Tu factura",
                 file=(io.BytesIO(PDF), "factura-48213.pdf")).status_code == 200
    run_jobs()
    upload, sent = fake_platform.calls
    assert upload["path"] == "/wa/1065403522/media"
    assert upload["headers"]["Authorization"] == "Bearer wa-token"
    assert upload["json"]["messaging_product"] == "whatsapp"
    assert upload["json"]["type"] == "application/pdf"
    assert upload["json"]["file"] == {"filename": "factura-48213.pdf", "data": PDF,
                                      "content_type": "application/pdf"}
    assert sent["path"] == "/wa/1065403522/messages"
    assert sent["json"] == {"messaging_product": "whatsapp", "recipient_type": "individual",
                            "to": wa_id, "type": "document", "document": {
                                "id": "out-1", "caption": "Tu factura",
                                "filename": "factura-48213.pdf"}}
    db.session.expire_all()
    assert _reply(ticket).delivery_state == "delivered"


def test_an_x_dm_uploads_the_image_and_sends_it_with_the_text(agent, client, fake_platform,
                                                              run_jobs):
    ticket, user_id = _ticket("x", token="x-user-token")
    _send(client, ticket, text="Mira la foto", file=(io.BytesIO(PNG), "foto.png"))
    run_jobs()
    upload, dm = fake_platform.calls
    assert upload["path"] == "/x/media/upload"
    assert upload["json"]["media_category"] == "dm_image"
    assert upload["json"]["media_type"] == "image/png"
    assert upload["json"]["media"]["data"] == PNG
    assert dm["path"] == f"/x/dm_conversations/with/{user_id}/messages"
    assert dm["json"] == {"text": "Mira la foto", "attachments": [{"media_id": "out-1"}]}


def test_instagram_fetches_the_file_from_a_signed_address(agent, client, app, fake_platform,
                                                          run_jobs):
    ticket, igsid = _ticket("instagram")
    _send(client, ticket, text="", file=(io.BytesIO(PNG), "foto.png"))
    run_jobs()
    [sent] = fake_platform.calls
    assert sent["path"] == "/graph/IG1/messages"
    url = sent["json"]["message"]["attachment"]["payload"]["url"]
    assert sent["json"]["recipient"] == {"id": igsid}
    assert sent["json"]["message"]["attachment"]["type"] == "image"
    base = app.config["BASE_URL"].rstrip("/")
    assert re.fullmatch(re.escape(base) + r"/media/files/[\w.-]+", url)
    path = url.removeprefix(base)
    assert client.post("/logout").status_code in (200, 302)
    anonymous = client
    fetched = anonymous.get(path)
    assert fetched.status_code == 200 and fetched.data == PNG
    assert fetched.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert anonymous.get(path[:-3] + "xyz").status_code == 404  # forged
    assert anonymous.get(f"/media/file/{_reply(ticket).attachments[0]['file_id']}").status_code in (302, 401)


@pytest.mark.parametrize("platform, kind, visibility, name, data, reason", [
    ("whatsapp", "dm", "private", "grande.png", PNG + bytes(6 * 1024 * 1024), "at most 5 MB"),
    ("instagram", "comment", "public", "foto.png", PNG, "cannot carry a file"),
    ("facebook", "comment", "private", "foto.png", PNG, "cannot carry a file"),
    ("x", "dm", "private", "factura.pdf", PDF, "does not take this type of file"),
    ("facebook", "dm", "private", "foto.png", b"<html><script>alert(1)</script>", "application/octet-stream"),
])
def test_a_file_the_platform_would_refuse_is_refused_before_anything_is_stored(
        agent, client, fake_platform, platform, kind, visibility, name, data, reason):
    ticket, _ = _ticket(platform, kind=kind)
    response = _send(client, ticket, file=(io.BytesIO(data), name), visibility=visibility)
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert _reply(ticket) is None
    assert db.session.scalar(select(func.count()).select_from(ReplyFile)) == 0
    assert fake_platform.calls == []


def test_a_facebook_comment_reply_goes_as_a_photo_comment(agent, client, fake_platform, run_jobs):
    ticket, _ = _ticket("facebook", kind="comment")
    parent = db.session.scalar(select(Message.platform_message_id).where(
        Message.ticket_id == ticket.id))
    _send(client, ticket, text="Así queda", file=(io.BytesIO(PNG), "foto.png"), visibility="public")
    run_jobs()
    [sent] = fake_platform.calls
    assert sent["path"] == f"/graph/{parent}/comments"
    assert sent["json"]["message"] == "Así queda"
    assert sent["json"]["source"] == {"filename": "foto.png", "data": PNG, "content_type": "image/png"}


def test_a_canned_reply_carries_its_file_into_the_reply(app_ctx, make_user, login, client,
                                                        fake_platform, run_jobs):
    lead = make_user("lead")
    login(lead)
    saved = client.post("/replies/new", data={
        "key": "etiqueta", "title": "Etiqueta de devolución", "language": "es",
        "body": "Te envío la etiqueta de devolución.", "triggers": "etiqueta", "tags": "",
        "active": "y", "file": (io.BytesIO(PDF), "etiqueta-devolucion.pdf")},
        content_type="multipart/form-data")
    assert saved.status_code == 302, saved.data
    canned = db.session.scalar(select(CannedReply).where(CannedReply.key == "etiqueta"))
    assert canned.file.filename == "etiqueta-devolucion.pdf" and canned.file.message_id is None
    ticket, _ = _ticket("whatsapp", token="wa-token")
    found = client.get(f"/replies/search?q=Etiqueta&ticket_id={ticket.id}").get_data(as_text=True)
    assert 'data-file-name="etiqueta-devolucion.pdf"' in found  # the composer shows its chip
    response = _send(client, ticket, text=canned.body, canned_reply_id=str(canned.id),
                     canned_file="1")
    assert response.status_code == 200, response.data
    run_jobs()
    upload, sent = fake_platform.calls
    assert upload["json"]["file"]["data"] == PDF
    assert sent["json"]["document"]["filename"] == "etiqueta-devolucion.pdf"
    db.session.expire_all()
    assert _reply(ticket).attachments[0]["file_id"] == canned.file_id
    # Taken off in the composer (no canned_file): the text goes alone.
    _send(client, ticket, text="Sin adjunto", canned_reply_id=str(canned.id))
    assert db.session.scalars(select(Message).where(Message.text == "Sin adjunto")).one().attachments == []


def test_erasure_deletes_the_files_sent_to_the_customer_but_not_the_library(
        agent, client, fake_platform, run_jobs):
    ticket, _ = _ticket("facebook")
    library = ReplyFile(filename="catalogo.pdf", content_type="application/pdf", size=len(PDF),
                        sha256="x", data=PDF, created_at=T0)
    db.session.add(library)
    db.session.commit()
    _send(client, ticket, file=(io.BytesIO(PNG), "su-foto.png"))
    run_jobs()
    assert db.session.scalar(select(func.count()).select_from(ReplyFile)) == 2
    erase_customer(ticket.customer_id, by=Actor(user_id=agent.id), now=T0)
    db.session.commit()
    assert [f.filename for f in db.session.scalars(select(ReplyFile))] == ["catalogo.pdf"]


def test_the_api_sends_a_file_in_base64_and_refuses_one_the_platform_would_not_take(
        app_ctx, make_user, client, fake_platform, run_jobs):
    agent = make_user("cm")
    _token, secret = create_api_token("test", db.session.get(User, agent.id), scopes=None)
    headers = {"Authorization": f"Bearer {secret}"}
    ticket, wa_id = _ticket("whatsapp", token="wa-token")

    def post(**body):
        return client.open(f"/api/v1/tickets/{ticket.id}/replies", method="POST", headers=headers,
                           csrf=False, json={"last_seen_message_id": _last(ticket),
                                             "visibility": "private", **body})
    program = b"MZ\x90\x00" + bytes(300) + b"PE\x00\x00" + bytes(300)
    refused = post(text="", file={"name": "factura.pdf.exe",
                                  "content_base64": base64.b64encode(program).decode()})
    assert refused.status_code == 400
    assert "does not take this type of file" in refused.get_json()["detail"]
    assert _reply(ticket) is None
    sent = post(text="Tu factura", file={"name": "factura.pdf",
                                         "content_base64": base64.b64encode(PDF).decode()})
    assert sent.status_code == 201, sent.data
    [listed] = sent.get_json()["files"]
    assert listed["name"] == "factura.pdf" and listed["content_type"] == "application/pdf"
    assert listed["size"] == len(PDF)
    run_jobs()
    upload, message = fake_platform.calls
    assert upload["json"]["file"]["data"] == PDF
    assert message["json"]["document"] == {"id": "out-1", "caption": "Tu factura",
                                           "filename": "factura.pdf"}
    bad = post(text="x", canned_file=True)
    assert bad.status_code == 422
