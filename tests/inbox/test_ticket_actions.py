"""Ticket actions: atomic claim, assignment rights, resolve/reopen signals, tags, notes, bulk."""
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from desk.accounts.audit import AuditEvent
from desk.accounts.users import User
from desk.core import signals
from desk.core.errors import Conflict, DeskError
from desk.core.extensions import db
from desk.inbox import actions as ticket_actions
from desk.inbox.tickets import Ticket
from desk.notify.notifications import Notification
from tests.factories import make_ticket, minutes

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)


def user(u):
    return db.session.get(User, u.id)


def actions(ticket_id):
    return db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.ticket_id == ticket_id).order_by(AuditEvent.id)).all()


def test_claim_is_first_come_and_audited(app_ctx, make_user):
    ana, ben = make_user("cm", name="Ana"), make_user("cm", name="Ben")
    ticket = make_ticket(sent_at=T0, now=T0)
    ticket_actions.claim(ticket.id, user(ana), T0 + minutes(1))
    with pytest.raises(Conflict, match="Ana already took this ticket"):
        ticket_actions.claim(ticket.id, user(ben), T0 + minutes(1))
    assert ticket_actions.claim(ticket.id, user(ana), T0 + minutes(2)).assignee_id == ana.id
    fresh = db.session.get(Ticket, ticket.id)
    assert fresh.assignee_id == ana.id and fresh.updated_at == T0 + minutes(1)
    assert actions(ticket.id) == ["ticket.claimed"]


def test_two_simultaneous_claims_have_one_winner(app, make_user):
    agents = [make_user("cm", name=f"Agent {i}") for i in range(4)]
    with app.app_context():
        ticket_id = make_ticket(sent_at=T0, now=T0).id
    outcomes, barrier = [], threading.Barrier(len(agents))

    def take(agent):
        with app.app_context():
            barrier.wait()
            try:
                ticket_actions.claim(ticket_id, db.session.get(User, agent.id), T0)
                outcomes.append("won")
            except Conflict:
                outcomes.append("lost")
            finally:
                db.session.remove()
    threads = [threading.Thread(target=take, args=(a,)) for a in agents]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(outcomes) == ["lost"] * 3 + ["won"]
    with app.app_context():
        assert db.session.get(Ticket, ticket_id).assignee_id in {a.id for a in agents}


def test_assignment_rights(app_ctx, make_user):
    cm, other, lead = make_user("cm"), make_user("cm"), make_user("lead")
    ticket = make_ticket(sent_at=T0, now=T0)
    with pytest.raises(ticket_actions.Forbidden):
        ticket_actions.assign(ticket.id, user(cm), other.id, T0)
    ticket_actions.assign(ticket.id, user(lead), other.id, T0)
    with pytest.raises(ticket_actions.Forbidden):
        ticket_actions.assign(ticket.id, user(cm), None, T0)  # not theirs to drop
    ticket_actions.assign(ticket.id, user(other), None, T0)  # unassign themself
    assert db.session.get(Ticket, ticket.id).assignee_id is None
    with pytest.raises(DeskError):
        ticket_actions.assign(ticket.id, user(lead), 999999, T0)


def test_resolve_and_reopen_publish_signals(app_ctx, make_user):
    agent = make_user("cm")
    ticket = make_ticket(sent_at=T0, now=T0)
    seen = []
    on_resolved = lambda sender, **kw: seen.append(("resolved", kw["resolution"]))  # noqa: E731
    on_reopened = lambda sender, **kw: seen.append(("reopened", None))  # noqa: E731
    signals.ticket_resolved.connect(on_resolved)
    signals.ticket_reopened.connect(on_reopened)
    try:
        ticket_actions.resolve(ticket.id, user(agent), T0 + minutes(5))
        ticket_actions.resolve(ticket.id, user(agent), T0 + minutes(6))  # no-op
        ticket_actions.reopen(ticket.id, user(agent), T0 + minutes(7))
        ticket_actions.resolve_no_reply(ticket.id, user(agent), "spam", T0 + minutes(8))
    finally:
        signals.ticket_resolved.disconnect(on_resolved)
        signals.ticket_reopened.disconnect(on_reopened)
    assert seen == [("resolved", "replied"), ("reopened", None), ("resolved", "no_reply_needed")]
    fresh = db.session.get(Ticket, ticket.id)
    assert fresh.status == "resolved" and fresh.resolution_reason == "spam"
    assert fresh.sla_state == "waived" and fresh.updated_at == T0 + minutes(8)
    assert actions(ticket.id) == ["ticket.resolved", "ticket.reopened", "ticket.resolved"]


def test_no_reply_needs_a_known_reason(app_ctx, make_user):
    agent = make_user("cm")
    ticket = make_ticket(sent_at=T0, now=T0)
    with pytest.raises(DeskError):
        ticket_actions.resolve_no_reply(ticket.id, user(agent), "because", T0)
    with pytest.raises(DeskError):
        ticket_actions.resolve_no_reply(ticket.id, user(agent), "other", T0, detail="  ")
    assert db.session.get(Ticket, ticket.id).status == "open"


def test_priority_and_tags(app_ctx, make_user):
    agent = make_user("cm")
    ticket = make_ticket(sent_at=T0, now=T0)
    ticket_actions.set_priority(ticket.id, user(agent), "urgent", T0)
    with pytest.raises(DeskError):
        ticket_actions.set_priority(ticket.id, user(agent), "extreme", T0)
    ticket_actions.add_tag(ticket.id, user(agent), "  Envío  Tardío ", T0)
    ticket_actions.add_tag(ticket.id, user(agent), "envío tardío", T0)
    with pytest.raises(DeskError):
        ticket_actions.add_tag(ticket.id, user(agent), "<script>", T0)
    fresh = db.session.get(Ticket, ticket.id)
    assert fresh.priority == "urgent" and [t.name for t in fresh.tags] == ["envío tardío"]
    ticket_actions.remove_tag(ticket.id, user(agent), fresh.tags[0].id, T0)
    assert db.session.get(Ticket, ticket.id).tags == []


def test_note_mentions_notify_colleagues_once(app_ctx, make_user):
    ana = make_user("cm", email="ana@desk.test", name="Ana")
    ben = make_user("lead", email="ben.lee@desk.test", name="Ben")
    ticket = make_ticket(sent_at=T0, now=T0)
    note = ticket_actions.add_note(ticket.id, user(ana), "@ben.lee mira esto, y @ana y @nadie.", T0)
    assert note.mentions == sorted([ana.id, ben.id])
    notes = db.session.scalars(select(Notification)).all()
    assert [(n.user_id, n.kind) for n in notes] == [(ben.id, "mention")]
    assert "Ana" in notes[0].text and ticket.reference in notes[0].text
    with pytest.raises(DeskError):
        ticket_actions.add_note(ticket.id, user(ana), "   ", T0)


def test_bulk_assign_tag_resolve(app_ctx, make_user):
    cm, lead = make_user("cm"), make_user("lead")
    tickets = [make_ticket(f"t{i}", sent_at=T0, now=T0) for i in range(3)]
    ids = [t.id for t in tickets]
    ticket_actions.claim(ids[0], user(lead), T0)
    result = ticket_actions.bulk(ids, user(cm), "assign", "me", T0)
    assert (result.done, result.skipped, result.reasons) == (2, 1, {"taken": 1})
    with pytest.raises(ticket_actions.Forbidden):
        ticket_actions.bulk(ids, user(cm), "assign", str(lead.id), T0)
    assert ticket_actions.bulk(ids, user(lead), "assign", str(lead.id), T0).done == 2
    assert ticket_actions.bulk(ids, user(cm), "tag", "promo", T0).done == 3
    assert ticket_actions.bulk(ids, user(cm), "resolve", None, T0).done == 3
    again = ticket_actions.bulk(ids + [999999], user(cm), "resolve", None, T0)
    assert (again.done, again.skipped, again.reasons) == (0, 4, {"missing": 1, "already_resolved": 3})
    assert ticket_actions.bulk(ids, user(cm), "tag", "promo", T0).reasons == {"already_tagged": 3}
    rows = db.session.scalars(select(Ticket).where(Ticket.id.in_(ids))).all()
    assert all(t.status == "resolved" and t.assignee_id == lead.id for t in rows)
    with pytest.raises(DeskError):
        ticket_actions.bulk(ids, user(cm), "delete", None, T0)


def test_reply_refused_when_someone_replied_since_and_claims_free_ticket(app_ctx, make_user):
    ana, ben = make_user("cm", name="Ana"), make_user("cm", name="Ben")
    ticket = make_ticket(sent_at=T0, now=T0)
    seen = ticket_actions.last_message_id(ticket.id)
    first = ticket_actions.send_reply(ticket.id, user(ana), "Hola, lo miro", "private",
                                      T0 + minutes(2), last_seen_id=seen)
    assert db.session.get(Ticket, ticket.id).assignee_id == ana.id
    with pytest.raises(ticket_actions.Collision) as collision:
        ticket_actions.send_reply(ticket.id, user(ben), "Hola!", "private", T0 + minutes(3),
                                  last_seen_id=seen)
    assert [m.id for m in collision.value.replies] == [first.id]
    ticket_actions.send_reply(ticket.id, user(ben), "Hola!", "private", T0 + minutes(3),
                              last_seen_id=first.id)
