"""The weekly service report e-mailed to SMMs: last week's headline figures and a link."""
from datetime import datetime, time, timedelta, timezone

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from desk.accounts.users import User
from desk.core.extensions import db
from desk.notify.mailer import send_mail
from desk.notify.notifications import notify
from desk.notify.preferences import wants
from desk.reports.format import duration
from desk.reports.periods import ReportFilter
from desk.reports.service import ServiceReport, service_report


def last_week(now: datetime) -> ReportFilter:
    """Monday 00:00 to Monday 00:00 UTC of the last complete week before `now`."""
    today = now.astimezone(timezone.utc).date()
    monday = today - timedelta(days=today.weekday())
    end = datetime.combine(monday, time(0), tzinfo=timezone.utc)
    return ReportFilter(start=end - timedelta(days=7), end=end, preset="custom")


def report_link(f: ReportFilter) -> str:
    base = current_app.config["BASE_URL"].rstrip("/")
    return (f"{base}/reports?period=custom&start={f.start.date().isoformat()}"
            f"&end={f.last_day.isoformat()}&granularity=day")


def _pct(value) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def weekly_text(report: ServiceReport) -> tuple[str, str]:
    """(subject, plain-text body) in the current locale."""
    f, t, r = report.filters, report.totals, report.retention.total
    period = f"{f.start.date().isoformat()} – {f.last_day.isoformat()}"
    subject = _("Service report, week of %(day)s", day=f.start.date().isoformat())
    lines = [
        _("Service report for %(period)s", period=period), "",
        _("Tickets: %(n)d (answered %(a)d, response rate %(r)s)", n=t.volume, a=t.answered, r=_pct(t.response_rate)),
        _("First response: median %(m)s, p90 %(p)s, mean %(avg)s", m=duration(t.frt_median), p=duration(t.frt_p90), avg=duration(t.frt_mean)),
        _("SLA attainment: %(a)s (%(b)d breaches)", a=_pct(t.attainment), b=t.breaches),
        _("CSAT: %(c)s from %(n)d ratings (response rate %(r)s)", c=_pct(t.csat_score), n=t.surveys_answered, r=_pct(t.csat_response_rate)),
        _("Escalations: %(n)d", n=report.escalations.get("count", 0)),
        _("Retention (90 days): %(r)s; %(n)d customers still in their window", r=_pct(r.rate), n=r.open + r.open_returned),
        "", _("The full report: %(link)s", link=report_link(f)),
    ]
    return subject, "\n".join(lines)


def send_weekly_report(now: datetime) -> int:
    """Notify and e-mail each active SMM once per week (idempotent); returns e-mails sent."""
    f = last_week(now)
    report = service_report(f, now)
    smms = list(db.session.scalars(select(User).where(User.role == "smm", User.active.is_(True))))
    key = f"weekly-report:{f.start.date().isoformat()}"
    with force_locale("en"):
        subject, _body = weekly_text(report)
    created = notify([u.id for u in smms], "weekly_report", subject, dedupe_key=key,
                     link=report_link(f), now=now)
    db.session.commit()  # the unique (user, key) makes a second run send nothing
    fresh = {n.user_id for n in created}
    sent = 0
    for user in smms:
        if user.id not in fresh or not wants(user.notification_prefs, "weekly_report", "mail"):
            continue
        with force_locale(user.locale or "en"):
            subject, body = weekly_text(report)
        sent += bool(send_mail([user.email], subject, body))
    return sent
