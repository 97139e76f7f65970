"""The sweep records each warning and breach exactly once, whoever runs it and whenever."""
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from desk.core import signals
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.queue import enqueue
from desk.inbox.tickets import Ticket
from desk.notify.notifications import Notification
from desk.sla.clocks import latest_clock
from desk.sla.policies import SlaClock
from desk.sla.sweep import database_now, sweep
from tests.factories import add_agent_reply, make_ticket, minutes

T0 = datetime(2026, 3, 10, 14, 2, tzinfo=timezone.utc)


def at(n):
    return T0 + minutes(n)


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


class Recorder:
    """Collects the clocks a signal announced."""

    def __init__(self, signal):
        self.seen = []
        self.signal = signal
        signal.connect(self.receive)

    def receive(self, ticket, clock, now, **_):
        self.seen.append((ticket.id, clock.id, now))

    def close(self):
        self.signal.disconnect(self.receive)


@pytest.fixture
def recorders():
    warned, breached = Recorder(signals.sla_warned), Recorder(signals.sla_breached)
    yield warned, breached
    warned.close()
    breached.close()


def test_running_the_sweep_again_records_nothing_new(app_ctx, make_user, recorders):
    lead = make_user("lead")
    tickets = [make_ticket(sent_at=at(i), now=at(i)) for i in range(3)]
    first = sweep(at(61))
    assert len(first.breaches) == 2 and len(first.warnings) == 1  # the third is 1 min from due
    again = sweep(at(61))
    assert again == ([], [])
    later = sweep(at(90))
    assert len(later.breaches) == 1 and later.warnings == []
    warned, breached = recorders
    assert len(warned.seen) == 1 and len(breached.seen) == 3
    assert sorted(t for t, _, _ in breached.seen) == sorted(t.id for t in tickets)
    assert count(SlaClock, SlaClock.breached_at.is_not(None)) == 3
    assert count(Notification, Notification.user_id == lead.id, Notification.kind == "sla_breach") == 3
    assert count(Notification, Notification.user_id == lead.id, Notification.kind == "sla_warning") == 1


def test_breach_time_is_the_due_time_after_the_scheduler_was_down(app_ctx, recorders):
    ticket = make_ticket(sent_at=T0, now=T0)
    result = sweep(at(60 + 17))  # nobody swept for 17 minutes after the due time
    clock = latest_clock(ticket)
    assert result.breaches == [clock.id] and result.warnings == []
    assert clock.breached_at == at(60) and clock.breach_detected_at == at(77)
    assert clock.warned_at is None  # no stale warning after the fact
    assert ticket.sla_state == "breached"


def test_a_clock_behind_or_ahead_never_breaches_early_or_twice(app_ctx, recorders):
    ticket = make_ticket(sent_at=T0, now=T0)
    assert sweep(at(59)).breaches == []  # a host a minute behind: not yet
    assert len(sweep(at(60)).breaches) == 1  # exactly at the due time
    assert sweep(at(55)) == ([], [])  # a second host, five minutes behind: nothing to undo or redo
    assert sweep(at(70)) == ([], [])  # a host ten minutes ahead: already recorded
    assert latest_clock(ticket).breached_at == at(60)
    assert len(recorders[1].seen) == 1


def test_the_database_clock_is_the_default_so_a_fast_worker_cannot_breach_early(app_ctx):
    real = clock_now()
    soon = make_ticket(sent_at=real - minutes(40), now=real)  # due in twenty minutes
    overdue = make_ticket(sent_at=real - minutes(90), now=real)
    assert abs(database_now() - real) < timedelta(seconds=5)
    result = sweep()  # what the job and `desk sla sweep` do: the database says what time it is
    assert result.breaches == [latest_clock(overdue).id]
    assert latest_clock(soon).breached_at is None and soon.sla_state == "on_track"
    assert latest_clock(overdue).breached_at == real - minutes(30)


def test_a_sweep_that_crashes_leaves_nothing_and_the_next_one_catches_up(app_ctx, recorders):
    ticket = make_ticket(sent_at=T0, now=T0)

    def crash(sender, **_):
        raise RuntimeError("worker killed mid-sweep")

    signals.sla_breached.connect(crash)
    try:
        with pytest.raises(RuntimeError):
            sweep(at(61))
    finally:
        signals.sla_breached.disconnect(crash)
    db.session.rollback()
    assert latest_clock(ticket).breached_at is None and ticket.sla_state == "on_track"
    assert len(sweep(at(62)).breaches) == 1
    assert latest_clock(ticket).breached_at == at(60)


def test_replied_and_waived_clocks_are_never_breached(app_ctx, make_user):
    replied = make_ticket(sent_at=T0, now=T0)
    add_agent_reply(replied, make_user("cm"), sent_at=at(30), now=at(30))
    waived = make_ticket(sent_at=T0, now=T0)
    signals.ticket_resolved.send(waived, now=at(10), resolution="no_reply_needed")
    db.session.commit()
    assert sweep(at(120)) == ([], [])


def test_two_sweeps_at_once_record_one_breach(app, app_ctx, recorders):
    tickets = [make_ticket(sent_at=at(-i), now=at(-i)) for i in range(40)]
    ids = [t.id for t in tickets]
    db.session.remove()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                results.append(sweep(at(61)))
            except Exception as exc:  # a lost race must not break anything: reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    breached = [c for r in results for c in r.breaches]
    if db.engine.dialect.name == "postgresql":
        assert not errors and len(results) == 2
    else:  # SQLite serialises writers; the loser may get "database is locked" and retry later
        assert len(results) + len(errors) == 2 and results
    assert sorted(breached) == sorted(set(breached)) and len(breached) == 40
    assert count(SlaClock, SlaClock.breached_at.is_not(None)) == 40
    assert len(recorders[1].seen) == 40
    assert count(Ticket, Ticket.id.in_(ids), Ticket.sla_state == "breached") == 40


def test_the_rq_job_sweeps_by_the_database_clock(app_ctx, run_jobs, make_user):
    lead = make_user("lead")
    real = clock_now()
    ticket = make_ticket(sent_at=real - minutes(61), now=real)
    ticket_id = ticket.id
    enqueue("default", "workers.sla.sweep")
    enqueue("default", "workers.sla.sweep")  # two schedulers firing at once
    run_jobs()
    db.session.expire_all()
    clock = latest_clock(db.session.get(Ticket, ticket_id))
    assert clock.breached_at == real - minutes(1)
    assert count(Notification, Notification.user_id == lead.id, Notification.dedupe_key == f"sla-breach-{clock.id}") == 1


def test_leads_and_the_assignee_are_notified_and_mail_goes_out_after_commit(app_ctx, make_user,
                                                                               run_jobs, smtp_server):
    lead, agent = make_user("lead"), make_user("cm")
    make_user("cm")  # other CMs hear nothing
    ticket = make_ticket(sent_at=T0, now=T0)
    ticket.assignee_id = agent.id
    db.session.commit()
    sweep(at(50))
    sweep(at(61))
    notes = db.session.scalars(select(Notification).where(Notification.kind.like("sla_%"))
                              .order_by(Notification.id)).all()
    assert sorted((n.user_id, n.kind) for n in notes) == sorted([
        (lead.id, "sla_warning"), (agent.id, "sla_warning"),
        (lead.id, "sla_breach"), (agent.id, "sla_breach")])
    assert all(n.ticket_id == ticket.id and ticket.reference in n.text for n in notes)
    assert smtp_server.messages == []  # nothing is mailed before the jobs run after commit
    run_jobs()
    mine = [(to, mail["Subject"]) for to, mail in smtp_server.messages
            if mail["Subject"].startswith(ticket.reference + ": ")]
    assert [to for to, _ in mine] == [[lead.email], [lead.email]]
    assert "at risk" in mine[0][1] and "overdue" in mine[1][1]


def test_smms_are_told_when_there_is_no_lead(app_ctx, make_user):
    smm = make_user("smm")
    make_ticket(sent_at=T0, now=T0)
    sweep(at(61))
    assert count(Notification, Notification.user_id == smm.id, Notification.kind == "sla_breach") == 1


def test_cli_sweep_prints_what_it_recorded(app, app_ctx):
    make_ticket(sent_at=T0, now=T0)
    make_ticket(sent_at=at(10), now=at(10))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["sla", "sweep", "--now", at(61).isoformat()])
    assert result.exit_code == 0, result.output
    assert "warnings recorded: 1" in result.output and "breaches recorded: 1" in result.output
    again = runner.invoke(args=["sla", "sweep", "--now", at(61).isoformat()])
    assert "warnings recorded: 0" in again.output and "breaches recorded: 0" in again.output
    bad = runner.invoke(args=["sla", "sweep", "--now", "yesterday"])
    assert bad.exit_code != 0 and "ISO 8601" in bad.output


def test_the_sweep_is_scheduled_periodically(app):
    from workers.schedule import registrations
    regs = registrations({**app.config, "SLA_SWEEP_SECONDS": 30})
    assert any(f.__name__ == "sweep" and q == "default" and i == 30 for f, q, i in regs)


def test_a_long_catch_up_commits_in_batches_and_misses_nothing(app_ctx, recorders):
    tickets = [make_ticket(sent_at=at(-i), now=at(-i)) for i in range(7)]
    result = sweep(at(200), batch=3)
    assert len(result.breaches) == 7 and len(set(result.breaches)) == 7
    assert all(latest_clock(t).breached_at == latest_clock(t).due_at for t in tickets)
    assert len(recorders[1].seen) == 7 and sweep(at(201), batch=3) == ([], [])


def test_a_resolved_ticket_still_owing_an_answer_is_recorded_but_nobody_is_paged(app_ctx, make_user, recorders):
    lead = make_user("lead")
    ticket = make_ticket(sent_at=T0, now=T0)
    ticket.status = "resolved"
    signals.ticket_resolved.send(ticket, now=at(5), resolution="replied")
    db.session.commit()
    assert len(sweep(at(61)).breaches) == 1 and latest_clock(ticket).breached_at == at(60)
    assert len(recorders[1].seen) == 1
    assert count(Notification, Notification.user_id == lead.id, Notification.kind.like("sla_%")) == 0
