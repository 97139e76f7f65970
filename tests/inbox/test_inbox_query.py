"""The inbox list query: views, filters, urgency order, keyset pages, stamp (search: test_inbox_search.py)."""
from datetime import datetime, timezone

import pytest
from werkzeug.datastructures import MultiDict

from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.inbox import query as inbox_query
from desk.inbox.query import parse_params
from tests.factories import add_agent_reply, make_channel, make_customer, make_ticket, minutes

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)


def params(**kwargs):
    return parse_params(MultiDict({k: str(v) for k, v in kwargs.items()}))


def ids(p, user_id=0, now=T0 + minutes(30), limit=25):
    return [t.id for t in inbox_query.page(p, user_id, now, limit).tickets]


def test_default_order_puts_breached_first_then_nearest_due_then_replied(app_ctx, make_user):
    agent = make_user("cm")
    replied = make_ticket("answered", sent_at=T0 - minutes(200), now=T0 - minutes(200))
    add_agent_reply(replied, agent, sent_at=T0 - minutes(190), now=T0 - minutes(190))
    soon = make_ticket("soon", sent_at=T0 - minutes(50), now=T0)
    breached = make_ticket("late", sent_at=T0 - minutes(90), now=T0)
    later = make_ticket("later", sent_at=T0, now=T0)
    assert ids(params()) == [breached.id, soon.id, later.id, replied.id]


@pytest.mark.parametrize("view,expected", [
    ("mine", ["mine"]), ("unassigned", ["free", "late"]), ("breached", ["late"]),
    ("at_risk", ["risk"]), ("escalated", ["esc"]), ("waiting", ["wait"]), ("resolved", ["done"]),
])
def test_views(app_ctx, make_user, view, expected):
    agent = make_user("cm")
    made = {name: make_ticket(name, sent_at=T0 - minutes(age), now=T0)
            for name, age in [("mine", 5), ("free", 10), ("late", 120), ("risk", 50), ("esc", 5),
                              ("wait", 5), ("done", 5)]}
    made["mine"].assignee_id = agent.id
    for name in ("risk", "esc", "wait", "done"):
        made[name].assignee_id = agent.id if name == "esc" else None
    made["risk"].assignee_id = agent.id
    made["esc"].escalated = True
    made["wait"].status = "pending"
    made["wait"].assignee_id = agent.id
    made["done"].status, made["done"].resolved_at = "resolved", T0
    made["done"].assignee_id = agent.id
    db.session.commit()
    got = ids(params(view=view), agent.id, now=T0)
    names = {t.id: n for n, t in made.items()}
    if view == "mine":
        assert sorted(names[i] for i in got) == sorted(["mine", "risk", "esc", "wait"])
    else:
        assert sorted(names[i] for i in got) == sorted(expected)


def test_filters(app_ctx, make_user):
    x = make_channel("x")
    fb = make_channel("facebook")
    vip = make_customer("Ana VIP", platform="x", vip=True)
    a = make_ticket("hola", channel=x, customer=vip, kind="mention", priority="high", language="es")
    b = make_ticket("hello", channel=fb, kind="comment", language="en")
    assert ids(params(platform="x")) == [a.id]
    assert ids(params(channel=fb.id)) == [b.id]
    assert ids(params(kind="comment")) == [b.id]
    assert ids(params(priority="high")) == [a.id]
    assert ids(params(language="en")) == [b.id]
    assert ids(params(vip="true")) == [a.id]
    assert ids(params(vip="false")) == [b.id]
    assert ids(params(assignee="none")) == sorted([a.id, b.id], key=lambda i: i)


def test_keyset_pages_cover_every_ticket_once_across_segments(app_ctx, make_user):
    agent = make_user("cm")
    made = []
    for i in range(13):
        t = make_ticket(f"t{i}", sent_at=T0 - minutes(i * 7), now=T0)
        if i % 3 == 0:
            add_agent_reply(t, agent, sent_at=T0, now=T0)
        made.append(t.id)
    seen, cursor = [], None
    while True:
        p = params(cursor=cursor) if cursor else params()
        result = inbox_query.page(p, agent.id, T0, limit=4)
        seen += [t.id for t in result.tickets]
        cursor = result.next_cursor
        if not cursor:
            break
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    assert seen == ids(params(), agent.id, T0, limit=50)


@pytest.mark.parametrize("args", [
    {"view": "everything"}, {"sort": "created_at desc, (select pg_sleep(5))"},
    {"status": "open) OR 1=1 --"}, {"channel": "1; DROP TABLE ticket"}, {"cursor": "abc"},
    {"cursor": "0.99999999999999999999.1"}, {"page": "2"}, {"priority": "extreme"},
    {"vip": "maybe"}, {"language": "spanish"}, {"assignee": "1 OR 1=1"}, {"q": "x" * 201},
    {"q": "pedido\x00"}, {"q": "\x00"},
])
def test_bad_parameters_are_rejected_with_a_message(app_ctx, args):
    with pytest.raises(DeskError) as err:
        inbox_query.page(parse_params(MultiDict(args)), 1, T0)
    assert err.value.status == 400 and str(err.value)


def test_repeated_parameter_is_rejected(app_ctx):
    with pytest.raises(DeskError):
        parse_params(MultiDict([("q", "a"), ("q", "b")]))


def test_change_stamp_moves_on_new_ticket_and_on_update_only(app_ctx):
    p = params()
    ticket = make_ticket("one", sent_at=T0, now=T0)
    first = inbox_query.change_stamp(p, T0)
    assert inbox_query.change_stamp(p, T0) == first
    ticket.updated_at = T0 + minutes(1)
    db.session.commit()
    second = inbox_query.change_stamp(p, T0)
    assert second != first
    make_ticket("two", sent_at=T0, now=T0)
    assert inbox_query.change_stamp(p, T0) != second

