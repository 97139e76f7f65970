"""Jinja filters for times and durations, in the viewer's timezone and language."""
from datetime import datetime

from flask_babel import format_datetime, format_timedelta
from flask_babel import lazy_gettext as _l

from desk.core.clock import now as clock_now


def localtime(value: datetime | None, fmt: str = "short") -> str:
    """A UTC datetime shown in the user's timezone."""
    return format_datetime(value, fmt) if value else ""


def ago(value: datetime | None) -> str:
    """How long ago, in words ("5 minutes")."""
    if value is None:
        return ""
    return format_timedelta(clock_now() - value, granularity="minute", threshold=0.9)


def iso(value: datetime | None) -> str:
    """ISO 8601 in UTC, for data attributes read by desk.js (countdowns)."""
    return value.isoformat() if value else ""


ROLE_NAMES = {"cm": _l("Community manager"), "lead": _l("Team lead"),
              "smm": _l("Social media manager"), "admin": _l("Administrator")}


def role_name(role: str | None) -> str:
    """A role code (cm, lead, smm, admin) as people say it, in the viewer's language."""
    return str(ROLE_NAMES.get(role, role or ""))


def register(app) -> None:
    app.add_template_filter(role_name)
    app.add_template_filter(localtime)
    app.add_template_filter(ago)
    app.add_template_filter(iso)
