"""Macros: one action replies, tags and resolves; a preview first; personal or per team."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from desk.accounts.audit import AuditEvent
from desk.accounts.users import User
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.inbox.tickets import Message, Ticket
from desk.replies import macros
from desk.routing import teams
from tests.factories import make_ticket

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)


def user(u):
    return db.session.get(User, u.id)


def test_a_macro_replies_tags_and_resolves_in_one_action(app_ctx, client, login, make_user):
    ana = make_user("cm", name="Ana Ruiz")
    ticket = make_ticket("¿Dónde está mi pedido?", now=T0, sent_at=T0)
    login(ana)
    saved = client.post("/macros", data={
        "name": "Pedido en camino", "reply": "Hola {{customer.first_name}}, tu pedido ya salió.",
        "tags": "envío, pedido", "priority": "", "assign": "", "status": "resolved"})
    assert saved.status_code == 302
    macro = db.session.scalar(select(macros.Macro))
    preview = client.get(f"/macros/preview?macro={macro.id}&ticket={ticket.id}").get_data(True)
    assert "Hola Lucía, tu pedido ya salió." in preview and 'id="macro-run"' in preview
    assert db.session.get(Ticket, ticket.id).status == "open"  # a preview changes nothing
    ran = client.post(f"/macros/{macro.id}/run", data={"ticket": ticket.id})
    assert ran.status_code == 204 and ran.headers["HX-Refresh"] == "true"
    db.session.expire_all()
    done = db.session.get(Ticket, ticket.id)
    assert done.status == "resolved" and done.assignee_id == ana.id
    assert sorted(tag.name for tag in done.tags) == ["envío", "pedido"]
    reply = db.session.scalar(select(Message).where(Message.direction == "out"))
    assert reply.text == "Hola Lucía, tu pedido ya salió." and done.first_response_at is not None
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.ticket_id == ticket.id, AuditEvent.created_at >= T0)).all()
    assert {"macro.run", "ticket.tagged", "reply_created", "ticket.resolved"} <= set(actions)


def test_personal_and_team_macros_and_placeholders_block_a_run(app_ctx, make_user):
    lead, ana, ben = make_user("lead"), make_user("cm"), make_user("cm")
    team = teams.save_team(user(lead), T0, team_id=None, name="Care", channel_ids=[], languages=[],
                           mode="off", return_on_offline=True, member_ids=[ana.id])
    shared = macros.save(user(lead), T0, macro_id=None, name="Urgente", team_id=team.id, reply="",
                         tags=[], priority="urgent", assign=None, status=None)
    mine = macros.save(user(ben), T0, macro_id=None, name="Firma", team_id=None,
                       reply="Hola {{nadie}}", tags=[], priority=None, assign=None, status=None)
    assert [m.name for m in macros.visible(user(ana))] == ["Urgente"]
    assert [m.name for m in macros.visible(user(ben))] == ["Firma"]
    with pytest.raises(macros.actions.Forbidden):
        macros.save(user(ana), T0, macro_id=None, name="X", team_id=team.id, reply="", tags=["a"],
                    priority=None, assign=None, status=None)
    ticket = make_ticket(now=T0, sent_at=T0)
    assert macros.preview(mine.id, ticket.id, user(ben)).problems
    with pytest.raises(DeskError, match="placeholders"):
        macros.run(mine.id, ticket.id, user(ben), T0)
    macros.run(shared.id, ticket.id, user(ana), T0)
    assert db.session.get(Ticket, ticket.id).priority == "urgent"
