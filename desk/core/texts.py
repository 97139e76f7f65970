"""Texts stored now and read later: a message id and its values, not a finished sentence.

A notification or a system escalation's note is written once (by a sweep, a rule, a job) and
read later by people with different languages and time zones. So the row keeps the English
message id (marked with `N_` so `make translations` extracts it) and its values as JSON, and
the reader's request renders it: the message in their language, times in their zone.

Values are plain (text, numbers) or tagged: {"t": ISO time} is shown in the reader's zone,
{"m": message id} is translated too (a clock's name, a reason, a level).
"""
import json
from contextlib import contextmanager
from datetime import datetime

from flask import current_app, has_request_context
from flask_babel import _get_current_context, force_locale, format_datetime, format_decimal
from flask_babel import gettext as _
from pytz import timezone as zone


def gettext_or_plain(message: str, **values) -> str:
    """`message` translated in a request (the agent's language); plain English in workers,
    commands and scripts, where no one's language is known."""
    if has_request_context():
        return _(message, **values)
    return message % values if values else message


def N_(msgid: str) -> str:  # noqa: N802 - the name babel extracts by default
    """Mark `msgid` for the catalogue without translating it now."""
    return msgid


class Later:
    """`msgid` with `values`, rendered when shown; str() renders it in the current locale."""

    def __init__(self, msgid: str, **values):
        self.msgid = msgid
        self.values = {key: _encode(value) for key, value in values.items()}

    def params(self) -> str:
        return json.dumps(self.values, ensure_ascii=False, sort_keys=True)

    def __str__(self) -> str:
        return render(self.msgid, self.values)


def term(msgid: str) -> dict:
    """A value that is itself a message (translated when shown)."""
    return {"m": msgid}


def number(value: int) -> dict:
    """A number shown with the reader's grouping (120,000 / 120.000)."""
    return {"n": value}


def _encode(value):
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, Later):
        return {"m": value.msgid, "v": value.values}
    if isinstance(value, (dict, int, float)) or value is None:
        return value
    return str(value)


def _decode(value, time_format: str):
    if isinstance(value, dict) and "t" in value:
        return format_datetime(datetime.fromisoformat(value["t"]), time_format)
    if isinstance(value, dict) and "m" in value:
        return render(value["m"], value.get("v"), time_format)
    if isinstance(value, dict) and "n" in value:
        return format_decimal(value["n"])
    return "" if value is None else value


def render(msgid: str, values: dict | str | None, time_format: str = "d MMM HH:mm") -> str:
    """The message in the current language, its times in the current time zone."""
    if isinstance(values, str):
        values = json.loads(values or "{}")
    decoded = {key: _decode(value, time_format) for key, value in (values or {}).items()}
    return _(msgid, **decoded) if decoded else _(msgid)


def shown(stored_text: str | None, msgid: str | None, values: str | None) -> str:
    """What a row with a stored text and maybe a message id shows: rows written before message
    ids existed (or by hand) keep their text."""
    if msgid:
        return render(msgid, values)
    return stored_text or ""


@contextmanager
def for_reader(locale: str | None, time_zone: str | None):
    """Render texts for one reader outside their request (a mail job): their language and
    their time zone (the desk's defaults where they chose none)."""
    with force_locale(locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        ctx = _get_current_context()  # flask_babel's per-context cache of locale and zone
        before = getattr(ctx, "babel_tzinfo", None)
        ctx.babel_tzinfo = zone(time_zone or current_app.config["BABEL_DEFAULT_TIMEZONE"])
        try:
            yield
        finally:
            ctx.babel_tzinfo = before
