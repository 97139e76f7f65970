"""One person on two channels: found as a likely duplicate, merged after a preview, counted
once by the service report (rolled up or live), and the merge undone."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from desk.accounts.audit import Actor, AuditEvent
from desk.core.errors import Conflict, DeskError
from desk.core.extensions import db
from desk.customers.models import Customer, CustomerNote, CustomerTag
from desk.feedback.surveys import Survey
from desk.inbox.tickets import Message, Ticket
from desk.people import duplicates, merge
from desk.reports.periods import ReportFilter
from desk.reports.refresh import refresh_rollup
from desk.reports.service import service_report
from tests.factories import add_agent_reply, add_customer_message, make_channel, make_customer, make_ticket

NOW = datetime(2026, 9, 5, 12, 0, tzinfo=UTC)
JUNE = ReportFilter(start=datetime(2026, 6, 1, tzinfo=UTC), end=datetime(2026, 7, 1, tzinfo=UTC))


def at(day, hour=10):
    return datetime(2026, 6, day, hour, tzinfo=UTC)


def _served(channel, customer, opened, agent, *, kind="dm", rating=None):
    ticket = make_ticket("¿Mi pedido?", channel=channel, customer=customer, kind=kind,
                         sent_at=opened, now=opened)
    add_agent_reply(ticket, agent, sent_at=opened + timedelta(minutes=10), now=opened + timedelta(minutes=10))
    ticket.status, ticket.resolved_at, ticket.resolution = "resolved", opened + timedelta(hours=2), "replied"
    if rating:
        db.session.add(Survey(ticket_id=ticket.id, customer_id=customer.id, state="sent",
                              token_hash=f"{ticket.id:064d}", sent_at=ticket.resolved_at,
                              created_at=ticket.resolved_at, rating=rating,
                              expires_at=ticket.resolved_at + timedelta(days=14),
                              answered_at=ticket.resolved_at + timedelta(minutes=5)))
    db.session.commit()
    return ticket


@pytest.fixture
def one_person(app_ctx, make_user):
    """María on Instagram (a DM) and on Facebook (a comment), as two customers."""
    agent = make_user("cm", name="Ana Agent")
    instagram, facebook = make_channel("instagram", name="IG"), make_channel("facebook", name="FB")
    on_ig = make_customer(name="María López", platform="instagram", email=None)
    on_ig.identities[0].handle = "maria.lopez"
    on_fb = make_customer(name="Maria Lopez", platform="facebook", email="maria@example.com")
    other = make_customer(name="Jorge Ruiz", platform="facebook")
    db.session.add(CustomerNote(customer_id=on_fb.id, body="Prefiere WhatsApp", created_at=at(1)))
    on_fb.tags.append(CustomerTag(name="wholesale"))
    db.session.commit()
    dm = _served(instagram, on_ig, at(2), agent, rating=5)
    comment = _served(facebook, on_fb, at(20), agent, kind="comment", rating=2)
    _served(facebook, other, at(21), agent)
    return {"agent": agent, "ig": on_ig.id, "fb": on_fb.id, "other": other.id,
            "dm": dm.id, "comment": comment.id}


def _figures(now=NOW, live=False):
    data = service_report(JUNE, now, live=live).as_dict()
    data.pop("generated_at")
    return data


def test_the_same_person_on_two_channels_is_suggested_never_merged_by_itself(one_person):
    ig = db.session.get(Customer, one_person["ig"])
    found = duplicates.suggestions(ig)
    assert [(s.customer.id, s.reason) for s in found] == [(one_person["fb"], "name")]
    assert found[0].score >= 85
    assert db.session.get(Customer, one_person["fb"]).merged_into_id is None


def test_merge_moves_everything_and_retention_counts_the_person_once(one_person):
    by = Actor(user_id=one_person["agent"].id, ip="203.0.113.9")
    refresh_rollup(NOW, full=True)
    before = _figures()
    assert before["retention"]["total"]["customers"] == 3
    # The DM's customer came back on Facebook (the comment, 18 days later): as two customers
    # that return is invisible; as one person it is a return.
    seen = merge.preview(one_person["ig"], one_person["fb"])
    assert seen.counts["ticket"] == 1 and seen.counts["identity"] == 1 and seen.counts["note"] == 1
    assert seen.fields["email"] == (None, "maria@example.com") and seen.tags == ["wholesale"]
    record = merge.merge(one_person["ig"], one_person["fb"], by=by, now=NOW)

    kept = db.session.get(Customer, one_person["ig"])
    assert sorted(i.platform for i in kept.identities) == ["facebook", "instagram"]
    assert kept.email == "maria@example.com" and [t.name for t in kept.tags] == ["wholesale"]
    assert db.session.get(Customer, one_person["fb"]).merged_into_id == kept.id
    tickets = set(db.session.scalars(select(Ticket.id).where(Ticket.customer_id == kept.id)))
    assert tickets == {one_person["dm"], one_person["comment"]}
    assert db.session.scalar(select(func.count()).select_from(Message).where(
        Message.customer_id == one_person["fb"])) == 0
    assert db.session.scalar(select(func.count()).select_from(Survey).where(
        Survey.customer_id == kept.id)) == 2
    after = _figures()
    assert after == _figures(live=True)  # the roll-up corrected by the change marks
    assert after["retention"]["total"]["customers"] == 2  # María once, Jorge once
    # Every other figure is the same: volume, response times, CSAT do not depend on who.
    assert after["totals"] == before["totals"] and after["channels"] == before["channels"]
    refresh_rollup(NOW)
    assert _figures() == after
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "customer.merged"))
    assert (event.object_id, event.data["merged_id"], event.ip) == (kept.id, one_person["fb"], "203.0.113.9")
    assert record.moved["ticket"] == [one_person["comment"]]


def test_undo_puts_both_customers_back_as_they_were(one_person):
    by = Actor(user_id=one_person["agent"].id)
    refresh_rollup(NOW, full=True)
    before = _figures()
    record = merge.merge(one_person["ig"], one_person["fb"], by=by, now=NOW)
    # A message that arrives after the merge stays with the person it reached.
    later = add_customer_message(db.session.get(Ticket, one_person["dm"]), "¿Y la factura?",
                                 sent_at=NOW, now=NOW)
    merge.undo(record.id, by=by, now=NOW + timedelta(minutes=1))
    ig, fb = db.session.get(Customer, one_person["ig"]), db.session.get(Customer, one_person["fb"])
    assert fb.merged_into_id is None and [i.platform for i in fb.identities] == ["facebook"]
    assert ig.email is None and ig.tags == [] and [t.name for t in fb.tags] == ["wholesale"]
    assert db.session.get(Ticket, one_person["comment"]).customer_id == fb.id
    assert db.session.get(Message, later.id).customer_id == ig.id
    assert _figures() == _figures(live=True)
    assert _figures()["retention"] == before["retention"]
    with pytest.raises(Conflict):
        merge.undo(record.id, by=by, now=NOW)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "customer.merge_undone")) == 1


def test_a_merge_refuses_the_same_customer_and_a_merged_one(one_person):
    by = Actor(user_id=one_person["agent"].id)
    with pytest.raises(DeskError):
        merge.merge(one_person["ig"], one_person["ig"], by=by, now=NOW)
    merge.merge(one_person["ig"], one_person["fb"], by=by, now=NOW)
    with pytest.raises(DeskError):
        merge.merge(one_person["other"], one_person["fb"], by=by, now=NOW)
    assert duplicates.suggestions(db.session.get(Customer, one_person["other"])) == []


def test_merge_through_the_pages(one_person, client, login):
    login(one_person["agent"])
    preview = client.get(f"/customers/{one_person['ig']}/merge?other={one_person['fb']}")
    assert preview.status_code == 200
    assert "maria@example.com" in preview.text and 'id="merge-confirm"' in preview.text
    assert db.session.get(Customer, one_person["fb"]).merged_into_id is None  # a preview writes nothing
    done = client.post(f"/customers/{one_person['ig']}/merge", data={"other": one_person["fb"]})
    assert done.status_code == 302
    page = client.get(f"/customers/{one_person['ig']}")
    assert page.status_code == 200
    for ticket_id in (one_person["dm"], one_person["comment"]):
        assert f'id="customer-ticket-{ticket_id}"' in page.text
    assert "Prefiere WhatsApp" in page.text and 'id="customer-merges"' in page.text
    # The merged customer's address leads to the person kept.
    moved = client.get(f"/customers/{one_person['fb']}")
    assert moved.status_code == 302 and moved.headers["Location"].endswith(f"/customers/{one_person['ig']}")
    record = db.session.scalar(select(merge.CustomerMerge))
    assert client.post(f"/customers/merges/{record.id}/undo").status_code == 302
    db.session.expire_all()
    assert db.session.get(Customer, one_person["fb"]).merged_into_id is None


def test_the_audit_page_tells_merges_and_edits_as_sentences(one_person, client, login, make_user):
    merge.merge(one_person["ig"], one_person["fb"], by=Actor(user_id=one_person["agent"].id), now=NOW)
    from desk.people import edit
    edit.update_customer(one_person["ig"], {"phone": "600111222"},
                         by=Actor(user_id=one_person["agent"].id), now=NOW)
    login(make_user("admin"))
    page = client.get("/admin/audit").text
    assert f"Ana Agent merged customer #{one_person['fb']} into customer #{one_person['ig']}" in page
    assert f"Ana Agent changed customer #{one_person['ig']} (phone)" in page
    assert "+34600111222" not in page
