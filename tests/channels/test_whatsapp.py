"""WhatsApp's rules: the 24-hour window refuses free text before it is sent, approved templates
go instead (each outbound field asserted), templates come from the business account or an
admin, and surveys outside the window go as the survey template or not at all."""
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from desk.accounts.audit import AuditEvent
from desk.accounts.users import User
from desk.channels import whatsapp
from desk.channels.accounts import Channel
from desk.core.clock import now as clock_now
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.customers.models import Customer, CustomerIdentity
from desk.feedback import surveys
from desk.feedback.surveys import Survey, send_survey
from desk.inbox.outbound import WindowClosed, create_reply, release_reply
from desk.inbox.tickets import Message, Ticket
from desk.inbox.window import whatsapp_window

UTC = timezone.utc
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
TOKEN = "wa-token-SECRET-9911"
ADMIN = None  # no person: the test itself makes these changes


def wa_ticket(sent_at=T0, name="Lucía Pérez", wa_id="34600111222", number="1065403522", customer=None):
    """A WhatsApp conversation whose customer last wrote at `sent_at` (committed)."""
    channel = db.session.scalar(select(Channel).where(Channel.account_id == number))
    if channel is None:
        channel = Channel(platform="whatsapp", account_id=number, name="Tienda WhatsApp")
        channel.access_token = TOKEN
        db.session.add(channel)
        db.session.flush()
    if customer is None:
        customer = Customer(display_name=name)
        customer.identities.append(CustomerIdentity(platform="whatsapp", platform_user_id=wa_id))
    ticket = Ticket(channel=channel, customer=customer, kind="dm", thread_key=wa_id,
                    created_at=sent_at, updated_at=sent_at, language="es")
    db.session.add_all([ticket, Message(
        ticket=ticket, channel_id=channel.id, direction="in", visibility="private", customer=customer,
        platform_message_id=f"wamid.{wa_id}.{sent_at.timestamp()}", text="¿Y mi pedido?",
        sent_at=sent_at, received_at=sent_at)])
    db.session.commit()
    return ticket


def a_template(channel_id, body="Hola {{1}}, tu pedido {{2}} sale hoy. ¿Te ayudamos en algo más?",
               name="pedido_en_camino", language="es", for_surveys=False):
    return whatsapp.save_template(channel_id, ADMIN, T0, name=name, language=language, body=body,
                                  for_surveys=for_surveys)


def test_the_window_is_counted_from_the_customers_latest_message_on_the_number(app_ctx):
    ticket = wa_ticket()
    assert whatsapp_window(ticket, T0 + timedelta(hours=23, minutes=59)).open
    window = whatsapp_window(ticket, T0 + timedelta(hours=22, minutes=30))
    assert window.left == timedelta(hours=1, minutes=30) and window.closing
    assert not whatsapp_window(ticket, T0 + timedelta(hours=24)).open
    someone_else = wa_ticket(sent_at=T0 + timedelta(hours=20), wa_id="34600999000", name="Marta")
    assert whatsapp_window(someone_else, T0 + timedelta(hours=30)).open
    assert not whatsapp_window(ticket, T0 + timedelta(hours=30)).open  # each customer's own
    wa_ticket(sent_at=T0 + timedelta(hours=21), customer=ticket.customer)  # she writes again
    assert whatsapp_window(ticket, T0 + timedelta(hours=30)).open  # on the number, any ticket
    assert whatsapp_window(db.session.get(Ticket, ticket.id), T0).closes_at == T0 + timedelta(hours=45)


def test_a_reply_25_hours_later_is_refused_and_an_approved_template_goes(app_ctx, make_user, fake_platform,
                                                                         run_jobs):
    agent = make_user("cm", name="Ana")
    ticket = wa_ticket()
    late = T0 + timedelta(hours=25)
    with pytest.raises(WindowClosed, match="24 hours"):
        create_reply(ticket.id, agent.id, "¡Perdona la espera!", "private", late)
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.direction == "out")) == 0
    template = a_template(ticket.channel_id)
    assert template.params == 2 and template.source == "manual" and template.approved
    for values, problem in (([], "needs 2 values"), (["Lucía", ""], "needs 2 values"),
                            (["Lucía", "48213\nmás"], "line breaks"), (["Lucía", "a     b"], "four spaces")):
        with pytest.raises(DeskError, match=problem):
            create_reply(ticket.id, agent.id, "", "private", late, template=(template.id, values))
    reply = create_reply(ticket.id, agent.id, "", "private", late, template=(template.id, ["Lucía", "48213"]))
    assert reply.text == "Hola Lucía, tu pedido 48213 sale hoy. ¿Te ayudamos en algo más?"
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Message, reply.id).delivery_state == "delivered"
    call = fake_platform.calls[-1]
    assert call["path"] == "/wa/1065403522/messages"
    assert call["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert call["json"] == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "34600111222",
        "type": "template", "template": {
            "name": "pedido_en_camino", "language": {"code": "es"},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": "Lucía"}, {"type": "text", "text": "48213"}]}]}}


def test_a_reply_held_past_the_window_fails_without_calling_whatsapp(app_ctx, make_user, fake_platform,
                                                                     run_jobs):
    from desk.core import signals
    agent = make_user("cm")
    ticket = wa_ticket()

    def hold(ticket, message, **kwargs):
        message.delivery_state = "held"
    signals.reply_created.connect(hold)
    try:
        reply = create_reply(ticket.id, agent.id, "Te lo confirmo mañana", "private", T0 + timedelta(hours=20))
    finally:
        signals.reply_created.disconnect(hold)
    release_reply(reply.id, T0 + timedelta(hours=26))
    run_jobs()
    db.session.expire_all()
    reply = db.session.get(Message, reply.id)
    assert reply.delivery_state == "failed" and "24-hour window" in reply.delivery_error
    assert fake_platform.calls == []


def test_templates_are_taken_from_the_business_account_page_by_page(app_ctx, fake_platform):
    ticket = wa_ticket()
    channel = db.session.get(Channel, ticket.channel_id)
    body = {"type": "BODY", "text": "Hola {{1}}, ¿qué tal te atendimos? {{2}}"}
    fake_platform.wa_templates["102290129340398"] = [
        {"name": "encuesta", "language": "es", "status": "APPROVED", "category": "UTILITY",
         "components": [{"type": "HEADER", "format": "TEXT", "text": "Tienda"}, body]},
        {"name": "survey", "language": "en_US", "status": "PENDING", "category": "UTILITY",
         "components": [{"type": "BODY", "text": "Hi {{1}}, how did we do? {{2}}"}]},
        {"name": "solo_imagen", "language": "es", "status": "APPROVED", "category": "MARKETING",
         "components": [{"type": "HEADER", "format": "IMAGE"}]},  # no body text: not sendable here
        {"name": "huecos", "language": "es", "status": "APPROVED", "category": "UTILITY",
         "components": [{"type": "BODY", "text": "Hola {{1}} y {{3}}"}]},  # numbering with a gap
    ]
    with pytest.raises(DeskError, match="Business Account id"):
        whatsapp.sync_templates(channel.id, ADMIN, T0, app_ctx.config)
    channel.business_account_id = "102290129340398"
    db.session.commit()
    a_template(channel.id, name="hecha_a_mano")
    assert whatsapp.sync_templates(channel.id, ADMIN, T0, app_ctx.config) == {
        "added": 2, "updated": 0, "removed": 0}
    calls = [c for c in fake_platform.calls if c["path"].endswith("/message_templates")]
    assert [c["query"].get("after") for c in calls] == [None, "2"]
    assert calls[0]["query"]["fields"] == "name,language,status,category,components"
    assert calls[0]["query"]["limit"] == "100"
    assert calls[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    found = {(t.name, t.language): t for t in whatsapp.templates(channel.id)}
    assert set(found) == {("encuesta", "es"), ("survey", "en_US"), ("hecha_a_mano", "es")}
    assert found[("encuesta", "es")].params == 2 and found[("survey", "en_US")].status == "PENDING"
    assert [t.name for t in whatsapp.templates(channel.id, approved_only=True)] == ["encuesta", "hecha_a_mano"]
    fake_platform.wa_templates["102290129340398"][1]["status"] = "APPROVED"
    del fake_platform.wa_templates["102290129340398"][0]
    assert whatsapp.sync_templates(channel.id, ADMIN, T0, app_ctx.config) == {
        "added": 0, "updated": 1, "removed": 1}
    assert {t.name for t in whatsapp.templates(channel.id)} == {"survey", "hecha_a_mano"}
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "channel.templates_synced")) == 2


def _resolved_with_survey(agent, sent_at, name="Lucía Pérez", wa_id="34600111222"):
    ticket = wa_ticket(sent_at=sent_at, name=name, wa_id=wa_id)
    reply = create_reply(ticket.id, agent.id, "¡Ya está en camino!", "private", sent_at + timedelta(minutes=5))
    reply.delivery_state = "delivered"
    ticket.status, ticket.resolved_at = "resolved", sent_at + timedelta(minutes=6)
    db.session.add(Survey(ticket_id=ticket.id, customer_id=ticket.customer_id, language="es",
                          send_after=sent_at + timedelta(hours=30)))
    db.session.commit()
    return ticket


def test_a_survey_after_the_window_goes_as_the_survey_template_or_is_not_sent(app_ctx, make_user,
                                                                             fake_platform, run_jobs):
    agent = make_user("cm")
    no_template = _resolved_with_survey(agent, T0)
    survey = send_survey(no_template.id, T0 + timedelta(hours=30))
    assert survey.state == "not_sent" and survey.state_reason == surveys.WINDOW_CLOSED
    template = a_template(no_template.channel_id, name="valoracion", for_surveys=True,
                          body="Hola {{1}} 👋 ¿Qué tal te atendimos? Valóranos aquí: {{2}}")
    unnamed = _resolved_with_survey(agent, T0, name="34600999888", wa_id="34600999888")
    survey = send_survey(unnamed.id, T0 + timedelta(hours=30))
    assert survey.state == "sent"
    run_jobs()
    body = fake_platform.calls[-1]["json"]
    assert body["type"] == "template" and body["template"]["name"] == "valoracion"
    name, link = [p["text"] for p in body["template"]["components"][0]["parameters"]]
    assert name == "👋" and "34600999888" not in name  # never a platform id in a greeting
    assert re.fullmatch(r"http://[^/]+/s/[A-Za-z0-9_-]{30,}", link)
    assert db.session.get(Message, survey.message_id).template["name"] == template.name
    inside = _resolved_with_survey(agent, T0, wa_id="34600555444")
    assert send_survey(inside.id, T0 + timedelta(hours=2)).state == "sent"  # free text in the window
    run_jobs()
    assert fake_platform.calls[-1]["json"]["type"] == "text"


def test_the_composer_shows_the_window_and_only_templates_once_it_closed(app_ctx, client, login, make_user,
                                                                         fake_platform):
    agent = make_user("cm", name="Ana")
    now = clock_now()
    fresh = wa_ticket(sent_at=now - timedelta(hours=2))
    old = wa_ticket(sent_at=now - timedelta(hours=25), wa_id="34600777666")
    template = a_template(fresh.channel_id)
    login(agent)
    html = client.get(f"/tickets/{fresh.id}").text
    assert 'id="wa-window" class="wa-window open"' in html and "22 hours" in html
    assert 'id="composer-text"' in html and 'id="template-select"' not in html
    assert 'id="suggestions-panel"' in html
    html = client.get(f"/tickets/{old.id}").text
    assert 'class="wa-window closed"' in html and 'id="composer-text"' not in html
    assert 'id="suggestions-panel"' not in html  # canned replies are free text
    assert f'<option value="{template.id}">pedido_en_camino · es</option>' in html
    fields = client.get(f"/tickets/{old.id}/template-fields?template_id={template.id}",
                        headers={"HX-Request": "true"}).text
    assert fields.count('name="param"') == 2 and "Hola {{1}}, tu pedido {{2}}" in fields
    seen = db.session.scalar(select(func.max(Message.id)).where(Message.ticket_id == old.id))
    refused = client.post(f"/tickets/{old.id}/reply", data={
        "text": "¡Hola!", "visibility": "private", "last_seen_id": seen}, headers={"HX-Request": "true"})
    assert refused.status_code == 409 and "24 hours" in refused.text
    sent = client.post(f"/tickets/{old.id}/reply", data={
        "visibility": "private", "last_seen_id": seen, "template_id": template.id,
        "param": ["Lucía", "48213"]}, headers={"HX-Request": "true"})
    assert sent.status_code == 200
    reply = db.session.scalar(select(Message).where(Message.ticket_id == old.id, Message.direction == "out"))
    assert reply.template == {"name": "pedido_en_camino", "language": "es", "params": ["Lucía", "48213"]}
    other = wa_ticket(sent_at=now, number="999888777", wa_id="34600123123")
    assert client.get(f"/tickets/{other.id}/template-fields?template_id={template.id}").status_code == 404


def test_admins_keep_templates_on_the_channel_page(app_ctx, client, login, make_user):
    ticket = wa_ticket()
    channel_id = ticket.channel_id
    login(make_user("cm"))
    assert client.post(f"/admin/channels/{channel_id}/templates", data={"name": "x"}).status_code == 403
    client.post("/logout")
    admin = make_user("admin")
    login(admin)
    page = client.get(f"/admin/channels/{channel_id}")
    assert page.status_code == 200 and 'id="templates"' in page.text and "business_account_id" in page.text
    bad = client.post(f"/admin/channels/{channel_id}/templates", data={
        "name": "Con Mayúsculas", "language": "es", "category": "UTILITY", "body": "Hola"})
    assert bad.status_code == 422 and "lower-case" in bad.text
    good = client.post(f"/admin/channels/{channel_id}/templates", data={
        "name": "aviso_envio", "language": "es_MX", "category": "UTILITY",
        "body": "Hola {{1}}, tu pedido sale hoy.", "for_surveys": "y"})
    assert good.status_code == 302
    template = whatsapp.templates(channel_id)[0]
    assert (template.name, template.language, template.params, template.for_surveys) == ("aviso_envio", "es_MX", 1, True)
    assert client.post(f"/admin/channels/{channel_id}/templates/{template.id}/no-survey").status_code == 302
    db.session.expire_all()
    assert not whatsapp.templates(channel_id)[0].for_surveys
    assert client.post(f"/admin/channels/{channel_id}/templates/{template.id}/explode").status_code == 404
    assert client.post(f"/admin/channels/{channel_id}/templates/{template.id}/delete").status_code == 302
    assert whatsapp.templates(channel_id) == []
    log = client.get("/admin/audit?who=all").text
    assert "saved the WhatsApp template aviso_envio (es_MX)" in log
    assert "deleted the WhatsApp template aviso_envio" in log
    edited = client.post(f"/admin/channels/{channel_id}", data={
        "name": "Tienda WhatsApp", "handle": "", "business_account_id": "10229012934039"})
    assert edited.status_code == 302
    assert db.session.get(Channel, channel_id).business_account_id == "10229012934039"
    assert client.post(f"/admin/channels/{channel_id}", data={
        "name": "Tienda WhatsApp", "business_account_id": "abc"}).status_code == 422
    ig = Channel(platform="instagram", account_id="ig-1", name="IG")
    db.session.add(ig)
    db.session.commit()
    assert client.post(f"/admin/channels/{ig.id}/templates/sync").status_code == 404
    assert db.session.get(User, admin.id) is not None


def test_the_api_refuses_late_free_text_and_sends_a_template(app_ctx, client, make_user):
    from desk.accounts.tokens import create_api_token
    agent = make_user("cm", name="Ana")
    _token, secret = create_api_token("bot", agent, scopes=["read", "write:tickets"])
    headers = {"Authorization": f"Bearer {secret}"}
    now = clock_now()
    ticket = wa_ticket(sent_at=now - timedelta(hours=25))
    template = a_template(ticket.channel_id)
    seen = db.session.scalar(select(func.max(Message.id)).where(Message.ticket_id == ticket.id))
    url = f"/api/v1/tickets/{ticket.id}/replies"
    late = client.post(url, json={"text": "¡Hola!", "visibility": "private",
                                  "last_seen_message_id": seen}, headers=headers)
    assert late.status_code == 409 and "24 hours" in late.json["detail"]
    assert client.post(url, json={"visibility": "private", "last_seen_message_id": seen},
                       headers=headers).status_code == 422  # neither text nor template
    bad = client.post(url, json={"visibility": "private", "last_seen_message_id": seen,
                                 "template": {"id": template.id, "values": ["Lucía"]}}, headers=headers)
    assert bad.status_code in (400, 422) and "needs 2 values" in bad.text
    sent = client.post(url, json={"visibility": "private", "last_seen_message_id": seen,
                                  "template": {"id": template.id, "values": ["Lucía", "48213"]}},
                       headers=headers)
    assert sent.status_code == 201, sent.text
    assert sent.json["template"] == {"name": "pedido_en_camino", "language": "es", "params": ["Lucía", "48213"]}
    assert sent.json["text"].startswith("Hola Lucía, tu pedido 48213")
