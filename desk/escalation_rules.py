"""Escalation rules, editable by SMMs, and the signal receivers that apply them.

Rules (DESIGN.md defaults): a first-response breach -> level 1; still unanswered N minutes
after the breach -> level 2 (applied by the ladder sweep); a complaint from a VIP or an
account above a follower threshold -> level 2; legal or press keywords (Spanish and English,
whole words, accent- and case-insensitive) -> level 2. Receivers never commit.
"""
import re
from datetime import datetime, timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import ForeignKey, Text, and_, exists, select
from sqlalchemy.orm import Mapped, mapped_column

from desk import audit, signals
from desk.auth import DeskError
from desk.escalations import Escalation, raise_escalation
from desk.extensions import db
from desk.sentiment import is_negative, normalize
from desk.tickets import Ticket
from desk.txcache import per_transaction
from desk.types import UTCDateTime

DEFAULT_KEYWORDS = (
    "abogado, abogada, abogados, denuncia, denunciar, denunciare, demanda, demandar, demandare, "
    "OCU, FACUA, juzgado, tribunal, hoja de reclamaciones, libro de reclamaciones, periodista, "
    "prensa, reportaje, "
    "lawyer, attorney, sue, suing, lawsuit, legal action, court, journalist, press, reporter, "
    "trading standards")


class EscalationSettings(db.Model):
    """The one row of live rule settings (absent: the config defaults apply)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    breach_level1: Mapped[bool] = mapped_column(default=True)
    breach_level2_minutes: Mapped[int] = mapped_column(default=30)  # 0 turns the rule off
    ack_minutes: Mapped[int] = mapped_column(default=15)
    vip_level2: Mapped[bool] = mapped_column(default=True)
    follower_threshold: Mapped[int] = mapped_column(default=10000)  # 0 turns the rule off
    keywords_enabled: Mapped[bool] = mapped_column(default=True)
    keywords: Mapped[str] = mapped_column(Text, default=DEFAULT_KEYWORDS)
    crisis_enabled: Mapped[bool] = mapped_column(default=True)
    crisis_burst: Mapped[int] = mapped_column(default=5)
    crisis_window_minutes: Mapped[int] = mapped_column(default=30)
    crisis_similarity: Mapped[int] = mapped_column(default=75)
    crisis_approval: Mapped[bool] = mapped_column(default=True)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


EDITABLE = {  # field -> (type, min, max)
    "breach_level1": (bool, None, None), "breach_level2_minutes": (int, 0, 1440),
    "ack_minutes": (int, 1, 1440), "vip_level2": (bool, None, None),
    "follower_threshold": (int, 0, 10**9), "keywords_enabled": (bool, None, None),
    "keywords": (str, None, 5000), "crisis_enabled": (bool, None, None),
    "crisis_burst": (int, 2, 1000), "crisis_window_minutes": (int, 1, 1440),
    "crisis_similarity": (int, 50, 100), "crisis_approval": (bool, None, None),
}


def current_settings() -> EscalationSettings:
    """The saved settings, or an unsaved row holding the configured defaults (read once per
    transaction: every inbound message consults them)."""
    return per_transaction("escalation_settings", (EscalationSettings,), _load_settings)


def _load_settings() -> EscalationSettings:
    row = db.session.get(EscalationSettings, 1)
    if row is not None:
        return row
    config = current_app.config
    return EscalationSettings(
        id=1, breach_level1=True, breach_level2_minutes=30, vip_level2=True,
        follower_threshold=10000, keywords_enabled=True, keywords=DEFAULT_KEYWORDS,
        crisis_enabled=True, crisis_approval=True,
        ack_minutes=int(config["ESCALATION_ACK_MINUTES"]),
        crisis_burst=int(config["CRISIS_BURST_SIZE"]),
        crisis_window_minutes=int(config["CRISIS_WINDOW_MINUTES"]),
        crisis_similarity=int(config["CRISIS_SIMILARITY"]))


def save_settings(values: dict, user_id: int, now: datetime) -> EscalationSettings:
    """Validate and store the rule settings (unknown keys are refused); audited. Commits."""
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise DeskError(f"unknown settings: {', '.join(sorted(unknown))}")
    row = db.session.get(EscalationSettings, 1)
    if row is None:
        row = _load_settings()
        db.session.add(row)
    changed = {}
    for name, value in values.items():
        kind, low, high = EDITABLE[name]
        if kind is int:
            if not isinstance(value, int) or not low <= value <= high:
                raise DeskError(f"{name} must be a whole number from {low} to {high}")
        elif kind is str:
            value = ", ".join(keyword_list(value or ""))
            if len(value) > high:
                raise DeskError(f"{name} has at most {high} characters")
        else:
            value = bool(value)
        if getattr(row, name) != value:
            changed[name] = value
            setattr(row, name, value)
    row.updated_by_id, row.updated_at = user_id, now
    audit.record("escalation_rules.changed", user_id=user_id, at=now, data=changed)
    db.session.commit()
    return row


def keyword_list(text: str) -> list[str]:
    """Keywords from a comma- or line-separated list, de-duplicated, order kept."""
    seen, result = set(), []
    for raw in re.split(r"[,\n;]", text or ""):
        word = " ".join(raw.split())
        if word and normalize(word) not in seen:
            seen.add(normalize(word))
            result.append(word)
    return result


@lru_cache(maxsize=8)
def _keyword_pattern(keywords: str) -> re.Pattern | None:
    words = [re.escape(normalize(w)) for w in keyword_list(keywords)]
    if not words:
        return None
    # Whole words only ("sue" is not "suelo"); \w is Unicode-aware, so "ñ" counts as a letter.
    return re.compile(r"(?<!\w)(" + "|".join(sorted(words, key=len, reverse=True)) + r")(?!\w)")


def matched_keywords(text: str, keywords: str) -> list[str]:
    """The legal/press keywords found in `text` (normalised), in order of appearance."""
    pattern = _keyword_pattern(keywords)
    if pattern is None:
        return []
    return list(dict.fromkeys(m.group(1) for m in pattern.finditer(normalize(text))))


@signals.sla_breached.connect
def on_sla_breached(ticket, now: datetime, clock=None, **_) -> None:
    """First-response breach -> level 1 (once per ticket); next-response clocks are left to
    the breach-plus-minutes rule."""
    if getattr(clock, "kind", "first") != "first":
        return
    settings = current_settings()
    if settings.breach_level1 and ticket.status != "resolved":
        raise_escalation(ticket, "sla_breach", 1, "First-response target missed.", now,
                         rule="sla_breach")


@signals.customer_message.connect
def on_customer_message(ticket, message, now: datetime, **_) -> None:
    """Keyword and VIP/reach rules on each customer message."""
    if message.direction != "in" or not (message.text or "").strip():
        return
    settings = current_settings()
    if settings.keywords_enabled:
        found = matched_keywords(message.text, settings.keywords)
        if found:
            raise_escalation(ticket, "legal", 2, "Legal or press risk: " + ", ".join(found), now,
                             rule="keywords")
    customer = ticket.customer
    if not is_negative(message.text) or customer is None:
        return
    if settings.vip_level2 and customer.vip:
        raise_escalation(ticket, "vip", 2, "Complaint from a VIP customer.", now, rule="vip")
    elif settings.follower_threshold and (customer.followers or 0) >= settings.follower_threshold:
        raise_escalation(ticket, "complaint", 2,
                         f"Complaint from an account with {customer.followers:,} followers.", now,
                         rule="reach")


def breach_level2_due(now: datetime) -> int:
    """Tickets still unanswered N minutes after their breach -> level 2 (no commit)."""
    settings = current_settings()
    if not settings.breach_level2_minutes:
        return 0
    cutoff = now - timedelta(minutes=settings.breach_level2_minutes)
    already = exists().where(and_(Escalation.ticket_id == Ticket.id,
                                  Escalation.reason == "sla_breach", Escalation.level == 2))
    tickets = db.session.scalars(select(Ticket).where(
        Ticket.status.in_(("open", "pending")), Ticket.sla_state == "breached",
        Ticket.sla_due_at <= cutoff,
        ~already).order_by(Ticket.sla_due_at).limit(500)).all()
    created = 0
    for ticket in tickets:
        _esc, new = raise_escalation(
            ticket, "sla_breach", 2,
            f"Still unanswered {settings.breach_level2_minutes} minutes after the breach.", now,
            rule="breach_level2")
        created += int(new)
    return created
