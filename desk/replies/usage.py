"""Suggestions for tickets, usage tracking and usage figures of canned replies.

Suggestions come from this process's engine (desk.replies.index). Usage: "suggested" when
the fragment is served (once per ticket and reply), "used"/"edited" and a learning example
when a reply carrying `canned_reply_id` is released (receiver on `signals.reply_released`).
"""
import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from desk.accounts.users import User
from desk.core import signals
from desk.core.extensions import db
from desk.inbox.tickets import Message, Ticket
from desk.replies.engine import Suggestion
from desk.replies.index import engine
from desk.replies.library import placeholder_values, render
from desk.replies.models import CannedReply, ReplyExample, ReplyUsage

LEARN_CHARS = 1000  # how much of the answered customer text an example keeps


def customer_text(ticket: Ticket, before: datetime | None = None) -> str:
    """The customer's latest messages (those after the last agent reply), oldest first."""
    messages = [m for m in ticket.messages if m.deleted_at is None
                and (before is None or m.sent_at <= before)]
    latest: list[Message] = []
    for m in reversed(messages):
        if m.direction == "out" and not m.automatic:
            if latest:
                break
            continue
        if m.direction == "in":
            latest.append(m)
        if len(latest) == 3:
            break
    return "\n".join(m.text for m in reversed(latest) if m.text)


@dataclass
class TicketSuggestion:
    reply: CannedReply
    suggestion: Suggestion
    text: str  # the body with placeholders filled
    unfilled: list[str]
    neutral: list[str] = field(default_factory=list)  # name placeholders left out: no name known


def suggest_for_ticket(ticket: Ticket, agent, now: datetime, limit: int = 3,
                       record: bool = True) -> tuple[str, list[TicketSuggestion]]:
    """(customer text, top suggestions filled for this ticket); records "suggested" and commits."""
    text = customer_text(ticket)
    language = ticket.language or (ticket.customer.language if ticket.customer else None)
    found = engine().suggest(text, language=language, limit=limit)
    rows = {r.key: r for r in db.session.scalars(
        select(CannedReply).where(CannedReply.key.in_([s.key for s in found])))}
    values = placeholder_values(ticket, agent)
    result = []
    for s in found:
        reply = rows.get(s.key)
        if reply is None or not reply.active:
            continue
        rendered = render(reply.body, values)
        result.append(TicketSuggestion(reply, s, rendered.text, rendered.unfilled,
                                       rendered.neutral))
    if record and result:
        _record_suggested(ticket.id, [(n, item.reply.id) for n, item in enumerate(result, 1)], now)
    return text, result


def _record_suggested(ticket_id: int, ranked: list[tuple[int, int]], now: datetime) -> None:
    known = set(db.session.scalars(select(ReplyUsage.canned_reply_id).where(
        ReplyUsage.ticket_id == ticket_id, ReplyUsage.suggested_at.is_not(None))))
    for rank, reply_id in ranked:
        if reply_id in known:
            continue
        usage = _usage(reply_id, ticket_id)
        usage.suggested_at, usage.rank = now, rank
    db.session.commit()


def _usage(reply_id: int, ticket_id: int) -> ReplyUsage:
    usage = db.session.scalar(select(ReplyUsage).where(
        ReplyUsage.canned_reply_id == reply_id, ReplyUsage.ticket_id == ticket_id))
    if usage is None:
        try:  # a savepoint: another request may insert the same (reply, ticket) row meanwhile
            with db.session.begin_nested():
                usage = ReplyUsage(canned_reply_id=reply_id, ticket_id=ticket_id, uses=0, edits=0)
                db.session.add(usage)
        except IntegrityError:
            usage = db.session.scalar(select(ReplyUsage).where(
                ReplyUsage.canned_reply_id == reply_id, ReplyUsage.ticket_id == ticket_id))
    return usage


def was_edited(sent: str, body: str, values: dict) -> bool:
    """True when the sent text is not the rendered body (unfilled placeholders match anything)."""
    rendered = render(body, values)
    pattern = re.escape(_squash(rendered.text))
    for name in rendered.unfilled:
        pattern = pattern.replace(re.escape("{{" + name + "}}"), ".+?", 1)
    return re.fullmatch(pattern, _squash(sent), flags=re.S) is None


def _squash(text: str) -> str:
    return " ".join((text or "").split())


@signals.reply_released.connect
def _reply_released(ticket, message=None, now=None, **_):
    """A released reply made from a canned reply counts as used and teaches the engine."""
    if message is None or not message.canned_reply_id or message.automatic:
        return
    reply = db.session.get(CannedReply, message.canned_reply_id)
    if reply is None:
        return
    db.session.flush()
    usage = _usage(reply.id, ticket.id)
    usage.uses = (usage.uses or 0) + 1
    usage.last_used_at = now
    author = message.author or (
        db.session.get(User, message.author_id) if message.author_id else None)
    if was_edited(message.text, reply.body, placeholder_values(ticket, author)):
        usage.edits = (usage.edits or 0) + 1
    asked = customer_text(ticket, before=message.sent_at)
    exists = db.session.scalar(select(ReplyExample.id).where(ReplyExample.message_id == message.id))
    if asked and exists is None:
        db.session.add(ReplyExample(canned_reply_id=reply.id, ticket_id=ticket.id,
                                    message_id=message.id, text=asked[:LEARN_CHARS],
                                    language=ticket.language, created_at=now))


@dataclass
class Figures:
    suggested: int = 0
    used: int = 0
    edited: int = 0
    rated: int = 0  # tickets it answered that have a satisfaction rating
    satisfied: int = 0  # of those, rated 4 or 5

    @property
    def edited_rate(self) -> float | None:
        return self.edited / self.used if self.used else None

    @property
    def csat(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None


def usage_figures() -> dict[int, Figures]:
    """Figures per reply id, by SQL aggregates over the usage rows (and surveys, if any)."""
    figures: dict[int, Figures] = {}
    rows = db.session.execute(select(
        ReplyUsage.canned_reply_id, func.count(ReplyUsage.suggested_at),
        func.coalesce(func.sum(ReplyUsage.uses), 0), func.coalesce(func.sum(ReplyUsage.edits), 0))
        .group_by(ReplyUsage.canned_reply_id))
    for reply_id, suggested, used, edited in rows:
        figures[reply_id] = Figures(suggested, int(used), int(edited))
    survey = db.metadata.tables.get("survey")
    if survey is not None and {"ticket_id", "rating"} <= set(survey.c.keys()):
        rated = db.session.execute(select(
            ReplyUsage.canned_reply_id, func.count(survey.c.rating),
            func.count(survey.c.rating).filter(survey.c.rating >= 4))
            .join(survey, survey.c.ticket_id == ReplyUsage.ticket_id)
            .where(ReplyUsage.uses > 0, survey.c.rating.is_not(None))
            .group_by(ReplyUsage.canned_reply_id))
        for reply_id, count, good in rated:
            item = figures.setdefault(reply_id, Figures())
            item.rated, item.satisfied = count, good
    return figures
