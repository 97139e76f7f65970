"""The report roll-up: a report built on it equals the live report, figure for figure, before
and after a refresh and between the two (change marks make the changed parts live)."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, text, update

from desk.core.extensions import db
from desk.feedback.activity import ActivityEvent
from desk.feedback.surveys import Survey
from desk.inbox.tickets import Message, Ticket
from desk.reports import rollup
from desk.reports.periods import ReportFilter
from desk.reports.refresh import refresh_rollup
from desk.routing.models import Team, TeamMember
from desk.reports.rollup import (
    ReportCanned,
    ReportCell,
    ReportFrt,
    ReportServed,
    ReportTicket,
    ReportTicketCanned,
    report_dirty_customer,
    report_dirty_ticket,
)
from desk.reports.service import service_report
from desk.reports.sources import plan
from tests.factories import add_agent_reply, make_channel
from tests.reports.test_reports import JUNE, NOW, _ticket, at, june_dataset

UTC = timezone.utc


def _figures(report) -> dict:
    data = report.as_dict()
    data.pop("generated_at")
    return data


def assert_same_as_live(f: ReportFilter, now: datetime) -> dict:
    rolled = _figures(service_report(f, now))
    assert rolled == _figures(service_report(f, now, live=True))
    return rolled


def marks() -> tuple[int, int]:
    return (db.session.scalar(select(func.count()).select_from(report_dirty_ticket)),
            db.session.scalar(select(func.count()).select_from(report_dirty_customer)))


def marked_tickets() -> set[int]:
    return set(db.session.scalars(select(report_dirty_ticket.c.ticket_id)))


def rollup_rows() -> dict:
    models = (ReportTicket, ReportTicketCanned, ReportCell, ReportFrt, ReportCanned, ReportServed)
    return {model.__tablename__: sorted(tuple(row) for row in db.session.execute(
        select(*model.__table__.columns))) for model in models}


def test_rolled_up_report_equals_the_live_one_for_every_filter(app_ctx, make_user):
    data = june_dataset(make_user)
    team = Team(name="Ana", members=[TeamMember(user_id=data["ana"].id)])
    db.session.add(team)
    db.session.commit()
    live_before = _figures(service_report(JUNE, NOW))  # nothing rolled up yet: all live
    assert not plan(JUNE).built and marks() != (0, 0)
    result = refresh_rollup(NOW)
    assert result.full and marks() == (0, 0)
    noon_to_noon = ReportFilter(datetime(2026, 6, 2, 12, tzinfo=UTC), datetime(2026, 6, 25, 12, tzinfo=UTC))
    for f in (JUNE, ReportFilter(JUNE.start, JUNE.end, granularity="week"),
              ReportFilter(JUNE.start, JUNE.end, channel_id=data["a"].id),
              ReportFilter(JUNE.start, JUNE.end, channel_id=data["b"].id),
              ReportFilter(JUNE.start, JUNE.end, agent_id=data["ana"].id),
              ReportFilter(JUNE.start, JUNE.end, agent_id=data["bob"].id), noon_to_noon,
              ReportFilter(JUNE.start, JUNE.end, team_id=team.id),
              ReportFilter(datetime(2026, 5, 1, tzinfo=UTC), JUNE.end)):
        assert plan(f).built and plan(f).days, f  # the roll-up is really used
        assert_same_as_live(f, NOW)
    assert _figures(service_report(JUNE, NOW)) == live_before


def test_refresh_is_idempotent(app_ctx, make_user):
    june_dataset(make_user)
    refresh_rollup(NOW)
    built = rollup_rows()
    assert len(built["report_ticket"]) == 8 and len(built["report_served"]) == 6
    assert len(built["report_canned"]) == 3 and len(built["report_ticket_canned"]) == 3
    again = refresh_rollup(NOW + timedelta(minutes=1))
    assert (again.full, again.tickets, again.days, again.customers) == (False, 0, 0, 0)
    assert rollup_rows() == built
    assert refresh_rollup(NOW, full=True).full and rollup_rows() == built


def test_a_change_after_the_refresh_is_live_until_the_next_one(app_ctx, make_user):
    data = june_dataset(make_user)
    t, bob = data["tickets"], data["bob"]
    refresh_rollup(NOW)
    before = service_report(JUNE, NOW)
    # A late reply to T5 (June 21), a rating for T4's survey given by a bulk UPDATE, a
    # customer of June 2 back through an activity event, T3 moved to T7's customer (a merge).
    add_agent_reply(t[5], bob, sent_at=at(21, 15), now=at(21, 15))
    db.session.execute(update(Survey).where(Survey.ticket_id == t[4].id)
                       .values(rating=5, answered_at=at(20, 13)))
    db.session.add(ActivityEvent(customer_id=t[4].customer_id, kind="visit",
                                 occurred_at=at(20, 12) + timedelta(days=30)))
    db.session.execute(update(Ticket).where(Ticket.id == t[3].id).values(customer_id=t[7].customer_id))
    db.session.commit()
    assert marked_tickets() == {t[3].id, t[4].id, t[5].id}
    after = assert_same_as_live(JUNE, NOW)
    tot, was = after["totals"], before.totals
    assert tot["answered"] == was.answered + 1 and tot["late"] == was.late + 1
    assert tot["breached"] == was.breached - 1 and tot["surveys_answered"] == was.surveys_answered + 1
    assert after["retention"]["total"]["customers"] == before.retention.total.customers - 1
    result = refresh_rollup(NOW)
    assert (result.tickets, result.days) == (3, 3) and marks() == (0, 0)
    assert _figures(service_report(JUNE, NOW)) == after  # the same figures, now rolled up


def test_a_cell_left_empty_by_a_change_disappears_as_it_would_live(app_ctx, make_user):
    data = june_dataset(make_user)
    refresh_rollup(NOW)
    the_21st = ReportFilter(at(21, 0), at(22, 0))  # T5 only, unassigned: agent "—"
    assert [row.label for row in service_report(the_21st, NOW).agents] == ["—"]
    add_agent_reply(data["tickets"][5], data["bob"], sent_at=at(21, 15), now=at(21, 15))
    assert [row["label"] for row in assert_same_as_live(the_21st, NOW)["agents"]] == ["Bob Agent"]


def test_changes_no_figure_depends_on_leave_no_mark(app_ctx, make_user):
    june_dataset(make_user)
    refresh_rollup(NOW)
    # What the SLA sweep, the inbox and deliveries write all day long.
    db.session.execute(update(Ticket).where(Ticket.sla_state.is_distinct_from("waived"))
                       .values(sla_state="breached", priority="high", updated_at=NOW))
    db.session.execute(update(Message).values(delivery_state="failed", text="edited"))
    db.session.commit()
    assert marks() == (0, 0)


def test_breach_counts_follow_now(app_ctx, make_user):
    data = june_dataset(make_user)
    t5 = data["tickets"][5]
    db.session.execute(update(Ticket).where(Ticket.id == t5.id).values(first_response_due_at=at(23, 9)))
    db.session.commit()
    _ticket(data["b"], at(21, 14))  # unanswered too, due at 15:00 the same day
    refresh_rollup(NOW)
    between = at(22, 12)  # one of June 21's unanswered tickets is past due, the other not
    assert assert_same_as_live(JUNE, between)["totals"]["breached"] == 1
    assert assert_same_as_live(JUNE, at(21, 14, 30))["totals"]["breached"] == 0
    assert assert_same_as_live(JUNE, NOW)["totals"]["breached"] == 3  # T5, the new one, T7


def test_partial_days_at_the_edges_come_from_the_stored_tickets(app_ctx, make_user):
    june_dataset(make_user)
    refresh_rollup(NOW)
    noon_to_noon = ReportFilter(at(2, 12), at(25, 12))
    src = plan(noon_to_noon)
    assert src.edges == [(at(2, 12), at(3, 0)), (at(25, 0), at(25, 12))]
    assert src.days == [(at(3).date(), at(25).date())]
    assert assert_same_as_live(noon_to_noon, NOW)["totals"]["volume"] == 6  # T2 .. T7 (T1: 10:00 on the 2nd)
    one_afternoon = ReportFilter(at(21, 12), at(21, 18))
    assert plan(one_afternoon).days == [] and assert_same_as_live(one_afternoon, NOW)["totals"]["volume"] == 0
    assert_same_as_live(JUNE, at(21, 10, 30))  # a report on a day of June, as it was then


def test_percentiles_to_the_minute_and_an_exact_mean(app_ctx, make_user):
    channel, agent = make_channel(), make_user("cm")
    _ticket(channel, at(2), 10.5, agent, resolved=at(2, 12))  # 10 min 30 s
    _ticket(channel, at(3), 45.5 / 60, agent, resolved=at(3, 12))  # 45.5 s
    live = service_report(JUNE, NOW).totals
    assert (live.frt_median, live.frt_mean) == (322.5, 337.8)  # (45 + 600) / 2; (45.5 + 630) / 2
    refresh_rollup(NOW)
    assert service_report(JUNE, NOW).totals == live
    counts = {row["bucket"]: row["count"] for row in service_report(JUNE, NOW).distribution}
    assert counts["<15m"] == 2


def test_a_missing_trigger_makes_the_next_refresh_rebuild_everything(app_ctx, make_user):
    june_dataset(make_user)
    refresh_rollup(NOW)
    connection = db.session.connection()
    drop = "DROP TRIGGER report_mark_ticket_update"
    connection.exec_driver_sql(drop + (" ON ticket" if connection.dialect.name == "postgresql" else ""))
    db.session.commit()
    assert "report_mark_ticket_update" not in rollup.installed_triggers(db.session.connection())
    assert refresh_rollup(NOW).full
    assert rollup.installed_triggers(db.session.connection()) == set(rollup.TRIGGERS)


def test_the_refresh_job_runs_and_is_scheduled(app_ctx, make_user):
    from workers.reports import refresh_rollup as job
    from workers.schedule import registrations
    june_dataset(make_user)
    assert job() == (True, 8, None)
    assert job() == (False, 0, 0)
    regs = {func.__name__: (queue, every) for func, queue, every in registrations(app_ctx.config)}
    assert regs["refresh_rollup"] == ("default", app_ctx.config["REPORT_ROLLUP_SECONDS"])


def test_reports_while_no_refresh_ever_ran_are_live(app_ctx, make_user):
    june_dataset(make_user)
    db.session.execute(text("DELETE FROM report_rollup"))
    db.session.commit()
    assert not plan(JUNE).built
    assert service_report(JUNE, NOW).totals.volume == 7
