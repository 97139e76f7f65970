"""The board's kept counts (desk/sla/board_counts.py) equal a count of the tickets after every
kind of change, before and after compaction, and the board's live states equal a
classification of every waiting ticket at several moments."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, select

from desk.core.extensions import db
from desk.inbox.tickets import Ticket
from desk.sla import board_counts
from desk.sla.board import keyed_states
from desk.sla.board_counts import BoardCount
from desk.sla.sweep import sweep
from tests.factories import add_agent_reply, add_customer_message, make_channel, make_ticket, minutes

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def _check():
    assert board_counts.counts() == {k: v for k, v in board_counts.live_counts().items() if v[0]}


def _classified(now):
    """The live states of every waiting ticket at `now`, one by one, as the board means them."""
    expected: dict = {}
    for t in db.session.scalars(select(Ticket).where(Ticket.status != "resolved")):
        s = expected.setdefault((t.channel_id, t.language, t.assignee_id),
                                {"open": 0, "on_track": 0, "at_risk": 0, "breached": 0})
        s["open"] += 1
        if t.sla_state in ("on_track", "at_risk", "breached") and t.sla_due_at is not None:
            state = ("breached" if t.sla_due_at <= now else
                     "at_risk" if t.sla_warn_at is not None and t.sla_warn_at <= now else "on_track")
            s[state] += 1
    return expected


def test_counts_follow_every_change_and_survive_compaction(app_ctx, make_user):
    ana, bea = make_user("cm", name="Ana"), make_user("cm", name="Bea")
    ig, fb = make_channel("instagram"), make_channel("facebook")
    tickets = [make_ticket("hola", channel=ig, sent_at=NOW - minutes(i * 20), now=NOW, language=lang)
               for i, lang in enumerate(["es", "en", None, "es", "pt"])]
    _check()
    assert board_counts.counts()[(ig.id, "es", None)] == (2, 2)
    tickets[0].assignee_id = ana.id
    tickets[1].assignee_id = bea.id
    db.session.commit()
    _check()
    add_agent_reply(tickets[0], ana, sent_at=NOW + minutes(1), now=NOW + minutes(1))  # stops the clock
    _check()
    assert board_counts.counts()[(ig.id, "es", ana.id)] == (1, 0)
    tickets[1].status, tickets[1].resolved_at = "resolved", NOW + minutes(2)
    tickets[2].channel_id = fb.id
    tickets[3].language = "en"
    db.session.commit()
    _check()
    add_customer_message(tickets[0], "¿y ahora?", sent_at=NOW + minutes(5), now=NOW + minutes(5))
    sweep(NOW + minutes(90))  # state changes alone add no rows
    _check()
    rows_before = db.session.scalar(select(func.count()).select_from(BoardCount))
    assert board_counts.compact() == rows_before
    assert db.session.scalar(select(func.count()).select_from(BoardCount)) == len(board_counts.counts())
    _check()
    assert board_counts.compact() == len(board_counts.counts())  # idempotent
    _check()
    bare = Ticket(channel_id=ig.id, customer_id=tickets[4].customer_id, kind="dm", thread_key="bare",
                  language="es", assignee_id=bea.id)  # nothing refers to it: it can be deleted
    db.session.add(bare)
    db.session.commit()
    _check()
    assert board_counts.counts()[(ig.id, "es", bea.id)] == (1, 0)
    db.session.execute(delete(Ticket).where(Ticket.id == bare.id))
    db.session.commit()
    _check()
    assert (ig.id, "es", bea.id) not in board_counts.counts()


def test_live_states_equal_a_ticket_by_ticket_classification(app_ctx, make_user):
    ana = make_user("cm", name="Ana")
    ig, x = make_channel("instagram"), make_channel("x")
    made = []
    for i in range(12):
        made.append(make_ticket("hola", channel=ig if i % 2 else x, sent_at=NOW - minutes(i * 9),
                                now=NOW, language="es" if i % 3 else "en"))
        if i % 4 == 0:
            made[-1].assignee_id = ana.id
    db.session.commit()
    add_agent_reply(made[5], ana, sent_at=NOW, now=NOW)
    board_counts.compact()
    make_ticket("otra", channel=ig, sent_at=NOW + minutes(1), now=NOW + minutes(1))  # after compaction
    for later in (0, 20, 50, 61, 115, 24 * 60):
        moment = NOW + minutes(later)
        assert keyed_states(moment) == _classified(moment), later


def test_a_missing_trigger_is_put_back_and_the_counts_rebuilt(app_ctx):
    ig = make_channel("instagram")
    make_ticket("hola", channel=ig, sent_at=NOW, now=NOW)
    board_counts.uninstall(db.session.connection())
    db.session.commit()
    make_ticket("sin contar", channel=ig, sent_at=NOW, now=NOW)  # no trigger: not counted
    assert board_counts.counts()[(ig.id, "es", None)] == (1, 1)
    board_counts.compact()
    assert board_counts.installed_triggers(db.session.connection()) == set(board_counts.TRIGGERS)
    _check()
    make_ticket("contada", channel=ig, sent_at=NOW, now=NOW)
    _check()
    assert board_counts.counts()[(ig.id, "es", None)] == (3, 3)


def test_the_scheduler_runs_the_compaction_through_an_rq_worker(app_ctx, run_jobs):
    from desk.core.queue import enqueue
    from workers.schedule import PERIODIC
    assert ("workers.sla.compact_board_counts", "default", "BOARD_COMPACT_SECONDS") in PERIODIC
    ig = make_channel("instagram")
    for _ in range(3):
        make_ticket("hola", channel=ig, sent_at=NOW - timedelta(minutes=5), now=NOW)
    # Each ticket: +1 when inserted, then -1/+1 when its clock starts in the same transaction.
    assert db.session.scalar(select(func.count()).select_from(BoardCount)) == 9
    db.session.commit()
    job = enqueue("default", "workers.sla.compact_board_counts")
    run_jobs()
    assert job.get_status(refresh=True) == "finished" and job.return_value() == 9
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(BoardCount)) == 1
    _check()
