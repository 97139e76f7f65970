"""Jinja filters for times and durations, in the viewer's timezone and language."""
from datetime import datetime

from flask_babel import format_date, format_datetime, format_timedelta
from ua_parser import parse as parse_user_agent

from desk.accounts.users import ROLE_LABELS
from desk.channels.attachments import PLATFORM_NAMES
from desk.core.clock import now as clock_now


def localtime(value: datetime | None, fmt: str = "short") -> str:
    """A UTC datetime shown in the user's timezone."""
    return format_datetime(value, fmt) if value else ""


def localdate(value: datetime | None, fmt: str = "medium") -> str:
    """The day of a UTC datetime in the user's timezone ("7 dic 2026")."""
    return format_date(value, fmt) if value else ""


def ago(value: datetime | None) -> str:
    """How long ago, in words ("5 minutes")."""
    if value is None:
        return ""
    return format_timedelta(clock_now() - value, granularity="minute", threshold=0.9)


def timedelta_words(value) -> str:
    """A length of time in words, to the minute ("5 hours", "12 minutes")."""
    return format_timedelta(value, granularity="minute", threshold=1) if value is not None else ""


def iso(value: datetime | None) -> str:
    """ISO 8601 in UTC, for data attributes read by desk.js (countdowns)."""
    return value.isoformat() if value else ""


def browser(user_agent: str | None) -> str:
    """A User-Agent header in words: "Chrome 131 on Windows" (empty if unknown)."""
    if not user_agent:
        return ""
    result = parse_user_agent(user_agent)
    agent, system = result.user_agent, result.os
    name = " ".join(part for part in (agent.family, agent.major) if part) if agent else ""
    where = system.family if system and system.family != "Other" else ""
    return f"{name} · {where}" if name and where else name or where


def role_name(role: str | None) -> str:
    """A role code (cm, lead, smm, admin) as people say it, in the viewer's language."""
    return str(ROLE_LABELS.get(role, role or ""))


def platform_name(platform: str) -> str:
    """How a platform is written for people ("WhatsApp", not "whatsapp")."""
    return PLATFORM_NAMES.get(platform, (platform or "").title())


def register(app) -> None:
    app.add_template_filter(platform_name)
    app.add_template_filter(role_name)
    app.add_template_filter(localtime)
    app.add_template_filter(localdate)
    app.add_template_filter(ago)
    app.add_template_filter(iso)
    app.add_template_filter(timedelta_words, "timedelta")
    app.add_template_filter(browser)
