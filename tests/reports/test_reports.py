"""The service report on a small hand-built data set whose every figure is known."""
import csv
import io
from datetime import date, datetime, timedelta, timezone

import pytest

from desk.core.extensions import db
from desk.feedback.activity import ActivityEvent
from desk.feedback.surveys import Survey
from desk.inbox.tickets import Message
from desk.reports.periods import ReportFilter, resolve_period
from desk.reports.refresh import refresh_rollup
from desk.reports.service import service_report
from desk.reports.sources import plan
from desk.routing.models import Team, TeamMember
from tests.factories import add_agent_reply, make_channel, make_customer, make_ticket, minutes

UTC = timezone.utc
NOW = datetime(2026, 9, 5, 12, 0, tzinfo=UTC)
JUNE = ReportFilter(start=datetime(2026, 6, 1, tzinfo=UTC), end=datetime(2026, 7, 1, tzinfo=UTC))


def at(day, hour=10, minute=0, month=6):
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _ticket(channel, opened, reply_after=None, agent=None, canned=None, resolved=None,
            rating=None, survey_sent=False, waived=False, customer=None):
    customer = customer or make_customer(platform=channel.platform)
    ticket = make_ticket(channel=channel, customer=customer, sent_at=opened, now=opened)
    if reply_after is not None:
        add_agent_reply(ticket, agent, sent_at=opened + minutes(reply_after),
                        now=opened + minutes(reply_after), canned_reply_id=canned)
    if resolved:
        ticket.status, ticket.resolved_at, ticket.resolution = "resolved", resolved, "replied"
    if waived:
        ticket.sla_state, ticket.resolution = "waived", "no_reply_needed"
    if survey_sent or rating:
        db.session.add(Survey(ticket_id=ticket.id, customer_id=customer.id, state="sent",
                              token_hash=f"{ticket.id:064d}", sent_at=resolved, created_at=resolved,
                              expires_at=resolved + timedelta(days=14), rating=rating,
                              answered_at=resolved + minutes(5) if rating else None))
    db.session.commit()
    return ticket


def june_dataset(make_user) -> dict:
    """T1..T7 in June (see the figures in each test), T8 in May (outside the period)."""
    ana, bob = make_user("cm", name="Ana Agent"), make_user("cm", name="Bob Agent")
    a, b = make_channel("instagram", name="IG brand"), make_channel("facebook", name="FB page")
    t = {}
    t[1] = _ticket(a, at(2), 10, ana, canned=11, resolved=at(2, 12), rating=5)
    t[2] = _ticket(a, at(3), 30, ana, canned=11, resolved=at(3, 12), rating=4)
    t[3] = _ticket(a, at(4), 90, bob, canned=12, resolved=at(4, 12), rating=2)
    t[4] = _ticket(b, at(20), 50, bob, resolved=at(20, 12), survey_sent=True)
    t[5] = _ticket(b, at(21))  # never answered, still open: breached
    t[6] = _ticket(b, at(22), resolved=at(22, 11), waived=True)
    t[7] = _ticket(a, at(25), resolved=at(25, 14))  # resolved without a reply: breached
    t[8] = _ticket(a, at(10, month=5), 5, ana, resolved=at(10, 12, month=5), rating=1)
    c = {n: t[n].customer_id for n in t}
    db.session.add_all([
        ActivityEvent(customer_id=c[1], kind="purchase", occurred_at=at(2, 12) + timedelta(days=89)),
        ActivityEvent(customer_id=c[2], kind="visit", occurred_at=at(3, 12) + timedelta(days=91)),
        ActivityEvent(customer_id=c[7], kind="purchase", occurred_at=at(1, 9, month=7)),
        Message(ticket_id=t[8].id, channel_id=a.id, direction="in", customer_id=c[3],
                text="¡Hola otra vez!", sent_at=at(20), platform_message_id="later-1"),
    ])
    db.session.commit()
    return {"tickets": t, "ana": ana, "bob": bob, "a": a, "b": b}


@pytest.fixture(params=["live", "rollup"])
def dataset(request, app_ctx, make_user):
    """The June data set; with "rollup", the roll-up is built afterwards, so every past day
    comes from it (the hand-computed figures must not change)."""
    data = june_dataset(make_user)
    if request.param == "rollup":
        refresh_rollup(NOW)
        assert plan(JUNE).days == [(date(2026, 6, 1), date(2026, 7, 1))]  # all June rolled up
    return data


def test_headline_figures_equal_the_hand_computed_ones(dataset):
    report = service_report(JUNE, NOW)
    tot = report.totals
    assert tot.volume == 7 and tot.answered == 4 and tot.waived == 1
    assert tot.response_rate == round(4 / 6, 4)
    # first responses 10, 30, 50, 90 minutes
    assert tot.frt_median == 2400.0 and tot.frt_p90 == 4680.0 and tot.frt_mean == 2700.0
    assert (tot.met, tot.late, tot.breached, tot.breaches) == (3, 1, 2, 3)
    assert tot.attainment == 0.5  # 3 / (3 + 1 + 2); the waived ticket is left out
    assert (tot.surveys_sent, tot.surveys_answered) == (4, 3)
    assert tot.csat_score == round(2 / 3, 4) and tot.csat_average == 3.67
    assert tot.csat_response_rate == 0.75


def test_breakdowns_by_channel_and_agent(dataset):
    report = service_report(JUNE, NOW)
    channels = {row.label: row for row in report.channels}
    assert channels["IG brand"].volume == 4 and channels["IG brand"].attainment == 0.5
    assert channels["IG brand"].response_rate == 0.75
    assert channels["FB page"].volume == 3 and channels["FB page"].waived == 1
    assert channels["FB page"].attainment == 0.5 and channels["FB page"].response_rate == 0.5
    agents = {row.label: row for row in report.agents}
    assert agents["Ana Agent"].frt_median == 1200.0 and agents["Ana Agent"].frt_p90 == 1680.0
    assert agents["Bob Agent"].frt_median == 4200.0 and agents["Bob Agent"].csat_score == 0.0
    assert agents["—"].volume == 3  # unassigned, unanswered tickets


def test_filters_by_channel_and_agent(dataset):
    only_b = service_report(ReportFilter(JUNE.start, JUNE.end, channel_id=dataset["b"].id), NOW)
    assert only_b.totals.volume == 3 and only_b.totals.frt_median == 3000.0
    only_ana = service_report(ReportFilter(JUNE.start, JUNE.end, agent_id=dataset["ana"].id), NOW)
    assert only_ana.totals.volume == 2 and only_ana.totals.csat_score == 1.0


def _teams(dataset):
    both = Team(name="Turno de mañana", members=[TeamMember(user_id=dataset["ana"].id),
                                                  TeamMember(user_id=dataset["bob"].id)])
    ana = Team(name="Solo <Ana>", members=[TeamMember(user_id=dataset["ana"].id)])
    empty = Team(name="Noche")
    db.session.add_all([both, ana, empty])
    db.session.commit()
    return both, ana, empty


def test_teams_add_up_their_members_tickets_and_filter_the_report(dataset):
    both, ana, empty = _teams(dataset)
    report = service_report(JUNE, NOW)
    teams = {row.label: row for row in report.teams}
    agents = {row.label: row for row in report.agents}
    assert list(teams) == ["Noche", "Solo <Ana>", "Turno de mañana"]
    # T1-T4 were answered by Ana or Bob: 10, 30, 50 and 90 minutes.
    assert teams["Turno de mañana"].volume == 4 and teams["Turno de mañana"].frt_median == 2400.0
    assert (teams["Turno de mañana"].met, teams["Turno de mañana"].late) == (3, 1)
    assert teams["Solo <Ana>"].volume == agents["Ana Agent"].volume == 2
    assert teams["Solo <Ana>"].frt_median == agents["Ana Agent"].frt_median
    assert teams["Noche"].volume == 0 and teams["Noche"].attainment is None
    by_team = service_report(ReportFilter(JUNE.start, JUNE.end, team_id=both.id), NOW)
    assert by_team.totals.volume == 4 and by_team.totals.csat_score == round(2 / 3, 4)
    assert [row.label for row in by_team.agents] == ["Ana Agent", "Bob Agent"]
    assert service_report(ReportFilter(JUNE.start, JUNE.end, team_id=empty.id), NOW).totals.volume == 0


def test_the_page_the_csv_and_the_api_show_teams(dataset, client, login, make_user):
    both, _ana, _empty = _teams(dataset)
    login(make_user("smm"))
    html = client.get(f"/reports?period=custom&start=2026-06-01&end=2026-06-30&team_id={both.id}").text
    assert 'id="by-team"' in html and "Solo &lt;Ana&gt;" in html and 'id="f-team"' in html
    assert f'<option value="{both.id}" selected>' in html and 'id="kpi-volume">4<' in html
    sheet = client.get(f"/reports.csv?period=custom&start=2026-06-01&end=2026-06-30&team_id={both.id}").text
    assert f"team={both.id}" in sheet and "\r\nteam," in sheet and "Turno de mañana" in sheet
    assert client.get("/reports?team_id=abc").status_code == 400


def test_distribution_trend_and_canned_replies(dataset):
    report = service_report(JUNE, NOW)
    counts = {row["bucket"]: row["count"] for row in report.distribution}
    assert counts == {"<15m": 1, "15-30m": 0, "30-60m": 2, "1-2h": 1, "2-4h": 0, "4-8h": 0,
                      "8-24h": 0, ">24h": 0}
    days = {row.key: row.volume for row in report.trend}
    assert days == {"2026-06-02": 1, "2026-06-03": 1, "2026-06-04": 1, "2026-06-20": 1,
                    "2026-06-21": 1, "2026-06-22": 1, "2026-06-25": 1}
    weekly = service_report(ReportFilter(JUNE.start, JUNE.end, granularity="week"), NOW)
    weeks = {row.key: (row.volume, row.attainment) for row in weekly.trend}
    assert weeks == {"2026-06-01": (3, round(2 / 3, 4)), "2026-06-15": (2, 0.5),
                     "2026-06-22": (2, 0.0)}
    canned = {row["id"]: row for row in report.canned_replies}
    assert [row["id"] for row in report.canned_replies] == [11, 12]
    assert canned[11]["tickets"] == 2 and canned[11]["csat_score"] == 1.0
    assert canned[11]["csat_average"] == 4.5 and canned[12]["csat_score"] == 0.0


def test_retention_by_cohort_band_and_open_window(dataset):
    ret = service_report(JUNE, NOW).retention
    cohorts = {row.group: row for row in ret.cohorts}
    within = cohorts["within_target"]  # c1 back on day 89, c2 only on day 91, c4 window open
    assert (within.customers, within.retained, within.lost, within.open) == (3, 1, 1, 1)
    assert within.rate == 0.5
    assert (cohorts["late"].retained, cohorts["late"].rate) == (1, 1.0)  # a new message
    never = cohorts["never_answered"]  # c7: window open, already back: shown apart
    assert (never.customers, never.open_returned, never.lost, never.rate) == (1, 1, 0, None)
    assert (ret.total.customers, ret.total.retained, ret.total.lost) == (5, 2, 1)
    assert (ret.total.open, ret.total.open_returned, ret.total.rate) == (1, 1, round(2 / 3, 4))
    bands = {row.group: row for row in ret.bands}
    assert (bands["promoter"].retained, bands["promoter"].lost) == (1, 1)
    assert bands["detractor"].rate == 1.0 and bands["no_rating"].customers == 2
    assert bands["neutral"].customers == 0


def test_day_89_counts_and_day_91_does_not_once_the_window_closes(dataset):
    later = service_report(JUNE, NOW + timedelta(days=200)).retention
    assert later.total.open == 0 and later.total.open_returned == 0
    assert later.total.retained == 3 and later.total.lost == 2  # c4 now lost, c7 retained


def test_escalations_and_time_to_acknowledge(dataset):
    from desk.escalation.escalations import Escalation
    t = dataset["tickets"]
    for ticket, acked in ((t[3], 5), (t[5], 15), (t[7], None)):
        created = ticket.created_at + minutes(60)
        db.session.add(Escalation(ticket_id=ticket.id, reason="sla_breach", level=1,
                                  created_at=created, ack_due_at=created + minutes(15),
                                  acknowledged_at=created + minutes(acked) if acked else None))
    db.session.commit()
    esc = service_report(JUNE, NOW).escalations
    assert (esc["count"], esc["acknowledged"]) == (3, 2)
    assert esc["ack_mean"] == 600.0 and esc["ack_median"] == 600.0


def test_no_tickets_and_all_waived(app_ctx):
    empty = service_report(JUNE, NOW)
    assert empty.totals.volume == 0 and empty.totals.attainment is None
    assert empty.totals.frt_median is None and empty.retention.total.rate is None
    channel = make_channel()
    for day in (2, 3):
        _ticket(channel, at(day), resolved=at(day, 11), waived=True)
    waived = service_report(JUNE, NOW).totals
    assert waived.volume == 2 and waived.waived == 2
    assert waived.attainment is None and waived.response_rate is None


def test_single_response_time_median_equals_p90(app_ctx, make_user):
    _ticket(make_channel(), at(2), 42, make_user("cm"), resolved=at(2, 12))
    tot = service_report(JUNE, NOW).totals
    assert tot.frt_median == tot.frt_p90 == tot.frt_mean == 2520.0


@pytest.mark.parametrize("preset,start,end", [
    ("last_7_days", date(2026, 8, 30), date(2026, 9, 6)),
    ("this_month", date(2026, 9, 1), date(2026, 9, 6)),
    ("last_month", date(2026, 8, 1), date(2026, 9, 1)),
    ("this_quarter", date(2026, 7, 1), date(2026, 9, 6)),
    ("last_quarter", date(2026, 4, 1), date(2026, 7, 1)),
])
def test_period_presets(preset, start, end):
    got_start, got_end, _ = resolve_period(preset, NOW)
    assert (got_start.date(), got_end.date()) == (start, end)


# --- the page, the API, the CSV ---------------------------------------------------------

def test_report_page_for_smm_and_403_for_cm(dataset, client, login, make_user):
    login(make_user("cm"))
    assert client.get("/reports").status_code == 403
    assert client.get("/reports.csv").status_code == 403
    client.post("/logout")
    login(make_user("smm"))
    page = client.get("/reports?period=custom&start=2026-06-01&end=2026-06-30")
    assert page.status_code == 200
    assert b'data-report="' in page.data and b"<script>" not in page.data
    assert b"IG brand" in page.data and b'id="kpi-attainment">50 %' in page.data
    fragment = client.get("/reports?period=custom&start=2026-06-01&end=2026-06-30&channel_id="
                          f"{dataset['b'].id}", headers={"HX-Request": "true"})
    assert fragment.data.lstrip().startswith(b'<div id="report-body"')
    assert b'id="kpi-volume">3<' in fragment.data and "HX-Request" in fragment.headers["Vary"]
    assert client.get("/reports/print?period=last_quarter").status_code == 200
    assert client.get("/reports?period=custom&start=2026-06-30&end=2026-06-01").status_code == 400


def test_customer_text_with_html_is_escaped_on_the_page(dataset, client, login, make_user):
    dataset["a"].name = "<img src=x onerror=alert(1)>"
    db.session.commit()
    login(make_user("smm"))
    page = client.get("/reports?period=custom&start=2026-06-01&end=2026-06-30")
    assert b"<img src=x" not in page.data and b"&lt;img src=x" in page.data


@pytest.mark.security
def test_csv_neutralises_formulas(dataset, client, login, make_user):
    dataset["a"].name = "=HYPERLINK(\"http://evil\")"
    dataset["b"].name = "+cmd|' /C calc'!A0"
    db.session.commit()
    login(make_user("smm"))
    response = client.get("/reports.csv?period=custom&start=2026-06-01&end=2026-06-30")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    cells = [cell for row in csv.reader(io.StringIO(response.data.decode("utf-8-sig"))) for cell in row]
    assert "'=HYPERLINK(\"http://evil\")" in cells and "'+cmd|' /C calc'!A0" in cells
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in cells)
    assert not any(cell.startswith("-") and not _number(cell) for cell in cells)


def _number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def test_csv_cell_escaping_rules():
    from desk.reports.export import safe_cell
    for raw in ("=1+1", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(raw) == "'" + raw
    assert safe_cell("Lucía ñ 👍") == "Lucía ñ 👍" and safe_cell(-3.5) == -3.5


def test_api_report_matches_the_page_figures(dataset, client):
    from desk.accounts.tokens import create_api_token
    _token, raw = create_api_token("reporting")
    response = client.get("/api/v1/reports/service?period=custom&start=2026-06-01&end=2026-06-30",
                          headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    totals = response.json["totals"]
    assert totals["volume"] == 7 and totals["frt_median"] is not None
    assert response.json["retention"]["window_days"] == 90
    assert client.get("/api/v1/reports/service").status_code == 401
    bad = client.get("/api/v1/reports/service?period=never", headers={"Authorization": f"Bearer {raw}"})
    assert bad.status_code == 400 and "period" in bad.json["error"]


# --- the weekly e-mail ----------------------------------------------------------------------

def test_weekly_report_goes_to_each_smm_once(dataset, make_user, monkeypatch):
    from desk.reports import weekly
    sent = []
    monkeypatch.setattr(weekly, "send_mail", lambda to, subject, text, html=None: sent.append((to, subject, text)) or True)
    smm, _cm = make_user("smm", email="boss@desk.test"), make_user("cm")
    monday = datetime(2026, 6, 8, 7, 0, tzinfo=UTC)  # reports the week of June 1-7
    assert weekly.send_weekly_report(monday) == 1
    (to, subject, text), = sent
    assert to == ["boss@desk.test"] and "2026-06-01" in subject
    assert "Tickets: 3 (answered 3" in text and "SLA attainment: 66.7 %" in text
    assert "http://desk.test/reports?period=custom&start=2026-06-01&end=2026-06-07" in text
    assert weekly.send_weekly_report(monday + timedelta(hours=1)) == 0 and len(sent) == 1


def test_report_weekly_command_prints(dataset, app):
    result = app.test_cli_runner().invoke(args=["report", "weekly"])
    assert result.exit_code == 0 and "Service report" in result.output


def test_weekly_job_is_on_the_schedule(app):
    from workers.schedule import cron_registrations
    jobs = {func.__name__: cron for func, _queue, cron in cron_registrations(app.config)}
    assert jobs["send_weekly_report"] == "0 7 * * 1"


def test_csv_headers_carry_units_and_trend_rows_no_empty_percentiles(dataset, client, login, make_user):
    login(make_user("smm"))
    response = client.get("/reports.csv?period=custom&start=2026-06-01&end=2026-06-30")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    totals_head = next(r for r in rows if r and r[0] == "totals")
    assert {"frt_median_seconds", "frt_p90_seconds", "frt_mean_seconds", "attainment_0_1"} <= set(totals_head)
    trend_at = next(i for i, r in enumerate(rows) if r and r[0].startswith("trend"))
    trend_head = rows[trend_at]
    assert "frt_median_seconds" not in trend_head and "frt_mean_seconds" in trend_head
    for point in rows[trend_at + 1:]:
        if not point:
            break
        assert len(point) == len(trend_head)
