"""Canned replies: models, import/export, placeholders, usage figures and the library's role checks."""
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from desk.accounts.users import User
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.replies.index import engine
from desk.replies.library import (
    export_library,
    import_library,
    placeholder_values,
    render,
    unfilled_placeholders,
)
from desk.replies.models import CannedReply, ReplyExample, ReplyUsage
from desk.replies.usage import suggest_for_ticket, usage_figures, was_edited
from tests.factories import (
    add_agent_reply,
    add_customer_message,
    make_customer,
    make_ticket,
    minutes,
)

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
LIBRARY = Path(__file__).parents[2] / "desk" / "demo" / "canned-replies.json"  # the shipped library (= shared/eval)


def library(*replies) -> str:
    return json.dumps({"format": "desk-canned-replies/1", "replies": list(replies)})


def entry(key="refund-es", language="es", title="Reembolso", body="Hola {{customer.first_name}}",
          triggers=("quiero un reembolso",), **extra) -> dict:
    return {"key": key, "language": language, "title": title, "body": body,
            "triggers": list(triggers), **extra}


def test_import_creates_then_updates_by_key(app_ctx):
    result = import_library(LIBRARY.read_bytes(), T0)
    assert len(result.created) == 40 and not result.updated
    again = import_library(LIBRARY.read_bytes(), T0 + minutes(1))
    assert again.created == [] and again.updated == [] and len(again.unchanged) == 40
    changed = import_library(library(entry(key="order-status-es", title="Pedido")), T0 + minutes(2))
    assert changed.updated == ["order-status-es"]
    reply = db.session.scalar(select(CannedReply).where(CannedReply.key == "order-status-es"))
    assert reply.title == "Pedido" and reply.updated_at == T0 + minutes(2)
    assert db.session.scalar(select(func.count(CannedReply.id))) == 40


@pytest.mark.parametrize("bad, message", [
    (b"{not json", "not a JSON file"),
    (json.dumps({"format": "other/2", "replies": []}), "unknown format"),
    (library(entry(), entry(key="x", language="fr")), "entry 2 ('x'): language"),
    (library(entry(), entry(key="y", body="")), "entry 2 ('y'): body"),
    (library(entry(body="Hi {{customer.password}}")), "unknown placeholder {{customer.password}}"),
    (library(entry(body="Hi {{ 7*7 }}")), "unknown placeholder {{7*7}}"),
    (library(entry(), entry()), "entry 2 ('refund-es'): key: 'refund-es' appears twice"),
    (library(entry(key="Bad Key")), "entry 1 ('Bad Key'): key"),
    (library(entry(colour="red")), "entry 1 ('refund-es'): colour"),
])
def test_bad_file_names_entry_and_field_and_writes_nothing(app_ctx, bad, message):
    with pytest.raises(DeskError) as error:
        import_library(bad, T0)
    assert message in str(error.value)
    assert db.session.scalar(select(func.count(CannedReply.id))) == 0


def test_export_round_trips(app_ctx):
    import_library(LIBRARY.read_bytes(), T0)
    exported = export_library()
    assert exported["format"] == "desk-canned-replies/1" and len(exported["replies"]) == 40
    db.session.execute(CannedReply.__table__.delete())
    db.session.commit()
    assert len(import_library(json.dumps(exported), T0).created) == 40


def test_placeholders_fill_from_ticket_and_agent_and_list_the_missing(app_ctx, make_user):
    agent = db.session.get(User, make_user("cm", name="Marta Ruiz").id)
    ticket = make_ticket(customer=make_customer(name="Lucía Pérez"), now=T0)
    body = ("¡Hola {{customer.first_name}}! Soy {{ agent.first_name }} ({{ticket.reference}}), "
            "{{channel.name}}. Tu pedido {{order.number}}.")
    rendered = render(body, placeholder_values(ticket, agent))
    assert rendered.text.startswith("¡Hola Lucía! Soy Marta (T-")
    assert ticket.channel.name in rendered.text
    assert rendered.unfilled == ["order.number"] and "{{order.number}}" in rendered.text
    assert unfilled_placeholders(rendered.text) == ["order.number"]
    assert unfilled_placeholders("Hola Lucía") == []


def test_rendering_is_not_a_template_engine(app_ctx):
    values = {"customer.first_name": "{{agent.name}} {% for x in y %}{{7*7}}"}
    rendered = render("Hi {{customer.first_name}} {{7*7}}", values)
    # The value's braces are dropped, never evaluated; an unknown expression stays visible.
    assert rendered.text == "Hi agent.name % for x in y %7*7 {{7*7}}"
    # Anything left in double braces blocks sending, placeholder name or not.
    assert rendered.unfilled == ["7*7"] and unfilled_placeholders(rendered.text) == ["7*7"]
    assert render("{{customer.first_name}}", {}).unfilled == ["customer.first_name"]


def test_edited_detection_treats_unfilled_placeholders_as_wildcards(app_ctx):
    values = {"customer.first_name": "Ana"}
    body = "Hola {{customer.first_name}}, tu pedido {{order.number}} sale hoy."
    assert not was_edited("Hola Ana,  tu pedido 123 sale hoy.", body, values)
    assert was_edited("Hola Ana, tu pedido 123 sale mañana.", body, values)


def test_usage_suggested_once_used_edited_and_learned(app_ctx, make_user):
    agent = db.session.get(User, make_user("cm").id)
    import_library(LIBRARY.read_bytes(), T0)
    ticket = make_ticket("hola, dónde está mi pedido??", now=T0)
    _text, items = suggest_for_ticket(ticket, agent, T0)
    assert items[0].reply.key == "order-status-es"
    suggest_for_ticket(ticket, agent, T0 + minutes(1))  # served again: still counted once
    top = items[0].reply
    assert db.session.scalar(select(func.count(ReplyUsage.id)).where(
        ReplyUsage.ticket_id == ticket.id, ReplyUsage.suggested_at.is_not(None))) == len(items)
    add_agent_reply(ticket, agent, items[0].text, canned_reply_id=top.id, now=T0 + minutes(2))
    add_customer_message(ticket, "no me llega nada todavía", now=T0 + minutes(3))
    add_agent_reply(ticket, agent, items[0].text + " Gracias!", canned_reply_id=top.id,
                    now=T0 + minutes(4))
    figures = usage_figures()[top.id]
    assert (figures.suggested, figures.used, figures.edited) == (1, 2, 1)
    assert figures.edited_rate == 0.5
    examples = db.session.scalars(select(ReplyExample).order_by(ReplyExample.id)).all()
    assert [e.text for e in examples] == ["hola, dónde está mi pedido??", "no me llega nada todavía"]
    assert engine().example_count == 2


def test_satisfaction_of_answered_tickets(app_ctx, make_user):
    survey = db.metadata.tables.get("survey")
    assert survey is not None, "the feedback area's survey table is expected"
    agent = db.session.get(User, make_user("cm").id)
    import_library(LIBRARY.read_bytes(), T0)
    reply = db.session.scalar(select(CannedReply).where(CannedReply.key == "refund-es"))
    for rating in (5, 2):
        ticket = make_ticket("quiero mi reembolso", now=T0)
        add_agent_reply(ticket, agent, "ok", canned_reply_id=reply.id, now=T0 + minutes(1))
        columns = {c.name: c for c in survey.c}
        row = {"ticket_id": ticket.id, "rating": rating}
        for name, column in columns.items():
            if name not in row and not column.nullable and not column.primary_key \
                    and column.default is None and column.server_default is None:
                row[name] = _filler(column, ticket, T0)
        db.session.execute(survey.insert().values(**row))
    db.session.commit()
    figures = usage_figures()[reply.id]
    assert (figures.rated, figures.satisfied, figures.csat) == (2, 1, 0.5)


def _filler(column, ticket, now):
    if column.name == "customer_id":
        return ticket.customer_id
    python_type = column.type.python_type
    if python_type is datetime:
        return now
    if python_type is int:
        return 0
    if python_type is bool:
        return False
    return f"x-{ticket.id}-{column.name}"


def test_library_roles(client, make_user, login, app):
    cm = make_user("cm")
    login(cm)
    assert client.get("/replies").status_code == 200
    assert client.get("/replies/new").status_code == 403
    assert client.get("/replies/export").status_code == 403
    data = {"file": (io.BytesIO(LIBRARY.read_bytes()), "lib.json")}
    assert client.post("/replies/import", data=data, content_type="multipart/form-data").status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count(CannedReply.id))) == 0


def test_lead_imports_edits_deactivates_and_exports(client, make_user, login, app):
    login(make_user("lead"))
    data = {"file": (io.BytesIO(LIBRARY.read_bytes()), "lib.json")}
    response = client.post("/replies/import", data=data, content_type="multipart/form-data",
                           follow_redirects=True)
    assert response.status_code == 200 and b"40 created" in response.data
    bad = {"file": (io.BytesIO(library(entry(language="fr")).encode()), "bad.json")}
    response = client.post("/replies/import", data=bad, content_type="multipart/form-data")
    assert response.status_code == 400 and b"entry 1 (&#39;refund-es&#39;): language" in response.data
    with app.app_context():
        reply_id = db.session.scalar(select(CannedReply.id).where(CannedReply.key == "refund-es"))
    response = client.post(f"/replies/{reply_id}/edit", data={
        "key": "refund-es", "title": "Reembolsos", "language": "es", "body": "Hola {{customer.name}}",
        "triggers": "reembolso\ndevolución del dinero", "tags": "dinero, pagos", "active": "y"})
    assert response.status_code == 302
    assert client.post(f"/replies/{reply_id}/active").status_code == 302
    assert b"devoluci\xc3\xb3n del dinero" in client.get(f"/replies/{reply_id}/edit").data
    assert client.get("/replies/new").status_code == 200
    clash = client.post("/replies/new", data={"key": "refund-en", "title": "Otra", "language": "es",
                                              "body": "Hola", "triggers": "", "tags": ""})
    assert clash.status_code == 400 and b"already used by another reply" in clash.data
    with app.app_context():
        reply = db.session.get(CannedReply, reply_id)
        assert (reply.title, reply.triggers, reply.tags, reply.active) == (
            "Reembolsos", ["reembolso", "devolución del dinero"], ["dinero", "pagos"], False)
    exported = client.get("/replies/export")
    assert exported.status_code == 200 and exported.mimetype == "application/json"
    assert len(exported.get_json()["replies"]) == 40
    page = client.get("/replies")
    assert b"Reembolsos" in page.data and b'id="replies-table"' in page.data


def test_suggestions_fragment_escapes_customer_text(client, make_user, login, app):
    with app.app_context():
        import_library(LIBRARY.read_bytes(), T0)
        ticket = make_ticket("<script>alert(1)</script> dónde está mi pedido??",
                             customer=make_customer(name="<b>Eve</b> Doe"))
        ticket_id = ticket.id
    login(make_user("cm"))
    response = client.get(f"/tickets/{ticket_id}/suggestions", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.data.decode()
    assert '<section id="suggestions"' in html and "<script>" not in html and "<b>Eve" not in html
    assert "<mark>pedido</mark>" in html and "<mark>dónde</mark>" in html
    assert 'data-reply-id="' in html and "Estado del pedido" in html
    assert client.get("/tickets/999999/suggestions").status_code == 404


def test_slash_search_by_fuzzy_title(client, make_user, login, app):
    with app.app_context():
        import_library(LIBRARY.read_bytes(), T0)
        ticket_id = make_ticket("hola").id
    login(make_user("cm"))
    html = client.get(f"/replies/search?q=reembolzo&ticket_id={ticket_id}").data.decode()
    assert 'id="reply-search-results"' in html and "Reembolso" in html
    html = client.get("/replies/search?q=zzzzqqq").data.decode()
    assert "No canned reply matches" in html


def test_signed_out_users_are_sent_to_login(client, app):
    with app.app_context():
        ticket_id = make_ticket("hola").id
    assert client.get("/replies").status_code == 302
    assert client.get(f"/tickets/{ticket_id}/suggestions").status_code in (302, 401)


def test_engine_is_built_once_and_follows_library_and_history(app_ctx):
    import_library(LIBRARY.read_bytes(), T0)
    first = engine()
    assert engine() is first  # same process, nothing changed: no rebuild
    assert first.suggest("quiero trabajar en aduanas")[0].key == "jobs-es"
    changed = json.loads(LIBRARY.read_text())
    for reply in changed["replies"]:
        if reply["key"] == "order-status-es":
            reply["triggers"].append("retenido en aduanas")
    import_library(json.dumps(changed), T0 + minutes(1))
    rebuilt = engine()
    assert rebuilt is not first and rebuilt.suggest("paquete retenido en aduanas")[0].key == "order-status-es"
    # An example written by another process is picked up without a rebuild.
    reply_id = db.session.scalar(select(CannedReply.id).where(CannedReply.key == "invoice-es"))
    db.session.add(ReplyExample(canned_reply_id=reply_id, text="papeleo de hacienda", created_at=T0))
    db.session.commit()
    assert engine() is rebuilt and rebuilt.example_count == 1
    assert rebuilt.suggest("papeleo de hacienda")[0].key == "invoice-es"


def test_suggestions_fragment_with_an_empty_library(client, make_user, login, app):
    with app.app_context():
        ticket_id = make_ticket("dónde está mi pedido").id
    login(make_user("cm"))
    response = client.get(f"/tickets/{ticket_id}/suggestions")
    assert response.status_code == 200
    assert b'id="suggestions"' in response.data and b"fits this message well enough" in response.data


def test_history_weighs_how_each_answer_went(app_ctx):
    """Sent as written counts fully, edited less, a suggestion passed over counts against."""
    from desk.replies import index
    import_library(LIBRARY.read_bytes(), T0)
    reply_id = dict(db.session.execute(select(CannedReply.key, CannedReply.id)).all())
    plain, edited, other = (make_ticket(text, now=T0) for text in ("a", "b", "c"))
    rows = [(plain, "refund-es", 1, 0, 2), (edited, "refund-es", 2, 2, None),
            (other, "refund-es", 1, 0, 2), (other, "return-exchange-es", 0, 0, 1),
            (other, "jobs-es", 0, 0, 3)]
    for ticket, key, uses, edits, rank in rows:
        db.session.add(ReplyUsage(canned_reply_id=reply_id[key], ticket_id=ticket.id, uses=uses,
                                  edits=edits, rank=rank, suggested_at=T0 if rank else None))
    for ticket in (plain, edited, other):
        db.session.add(ReplyExample(canned_reply_id=reply_id["refund-es"], ticket_id=ticket.id,
                                    text=f"texto {ticket.id}", created_at=T0))
    db.session.commit()
    weights = {(key, text): weight for key, text, _id, weight in index._examples_after(0)}
    assert weights == {("refund-es", f"texto {plain.id}"): index.SENT,
                       ("refund-es", f"texto {edited.id}"): index.EDITED,
                       ("refund-es", f"texto {other.id}"): index.SENT,
                       # ranked above the chosen reply: passed over; jobs-es (3rd) was not
                       ("return-exchange-es", f"texto {other.id}"): index.PASSED_OVER}


def test_no_suggestion_when_nothing_fits_says_so_in_both_languages(client, make_user, login, app):
    with app.app_context():
        import_library(LIBRARY.read_bytes(), T0)
        ticket_id = make_ticket("el perro de mi vecino ladra mucho").id
    login(make_user("cm"))
    english = client.get(f"/tickets/{ticket_id}/suggestions").data.decode()
    assert 'class="suggestion"' not in english and "fits this message well enough" in english
    spanish = client.get(f"/tickets/{ticket_id}/suggestions",
                         headers={"Accept-Language": "es"}).data.decode()
    assert 'class="suggestion"' not in spanish and "encaja lo bastante" in spanish
