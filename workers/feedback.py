"""Satisfaction jobs: send a scheduled survey, re-sweep lost ones; e-mail the weekly report."""
from desk.core.clock import now as clock_now
from desk.feedback import surveys as feedback
from workers import job


@job
def send_survey(ticket_id: int) -> str | None:
    """Send the ticket's scheduled survey (idempotent: a sent one is left alone)."""
    survey = feedback.send_survey(ticket_id, clock_now())
    return survey.state if survey else None


@job
def resweep_surveys() -> int:
    """Periodic: enqueue surveys whose delayed send was lost (idempotent: sent ones stay)."""
    return feedback.resweep(clock_now())


@job
def send_weekly_report() -> int:
    """E-mail last week's service report to every SMM not yet sent it; returns how many."""
    from desk.reports.weekly import send_weekly_report as send
    return send(clock_now())

