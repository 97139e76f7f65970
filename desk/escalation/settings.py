"""The escalation rules' live settings, editable by SMMs (one row; absent: the defaults),
and the legal and press keyword matching they use."""
import re
from datetime import datetime
from functools import lru_cache

from flask import current_app
from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from desk.accounts import audit
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.core.txcache import per_transaction
from desk.core.types import UTCDateTime
from desk.escalation.sentiment import normalize

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


def save_settings(values: dict, user_id: int, now: datetime,
                  by: audit.Actor | None = None) -> EscalationSettings:
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
    audit.record("escalation_rules.changed", user_id=user_id, at=now, data=changed, by=by,
                 object_type="escalation_rules", object_id=row.id)
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
