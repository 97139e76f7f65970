"""What agents do to tickets: claim, assign, resolve, reopen, priority, tags, notes, bulk, reply.

Each public function is one transaction: it checks the actor's right, changes the ticket,
bumps `updated_at` (the inbox's change stamp), writes the audit log and commits.
Functions take the acting User and `now`; they never read the request or current_user.
"""
import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from desk.accounts import audit
from desk.accounts.users import User
from desk.core import signals
from desk.core.errors import Conflict, DeskError, NotFound
from desk.core.extensions import db
from desk.core.texts import N_, Later
from desk.core.texts import gettext_or_plain as _
from desk.core.types import parse_id
from desk.inbox.files import Attached
from desk.inbox.outbound import create_reply, reply_options, store_reply
from desk.inbox.tickets import PRIORITIES, Message, Note, Tag, Ticket
from desk.notify.notifications import notify

NO_REPLY_REASONS = ("spam", "like_or_emoji", "conversation_closed", "not_for_us", "duplicate",
                    "other")
BULK_ACTIONS = ("assign", "tag", "resolve")
BULK_LIMIT = 200
_TAG = re.compile(r"^[\w][\w\- ]{0,59}$")
_MENTION = re.compile(r"(?<![\w.@])@([\w][\w.\-]{0,63})")


class Forbidden(DeskError):
    status = 403


class Collision(Conflict):
    """Someone replied after the agent last looked: `replies` are the new ones."""

    def __init__(self, replies: list[Message]):
        super().__init__(_("Someone replied to this ticket after you opened it."))
        self.replies = replies


def _ticket(ticket_id: int, lock: bool = False) -> Ticket:
    query = select(Ticket).where(Ticket.id == ticket_id)
    ticket = db.session.scalar(query.with_for_update() if lock else query)
    if ticket is None:
        raise NotFound(_("No ticket %(id)s", id=ticket_id))
    return ticket


def _done(action: str, ticket: Ticket, actor: User, now: datetime, by: audit.Actor | None = None,
          **data) -> None:
    """Bump the change stamp and audit; `by` names the way in and address (web, api)."""
    ticket.updated_at = now
    audit.record(action, ticket_id=ticket.id, user_id=actor.id, data=data, at=now, by=by)


def claim(ticket_id: int, actor: User, now: datetime, by: audit.Actor | None = None) -> Ticket:
    """Take an unassigned ticket; atomic, so of two agents at once exactly one wins."""
    result = db.session.execute(
        update(Ticket).where(Ticket.id == ticket_id, Ticket.assignee_id.is_(None))
        .values(assignee_id=actor.id, updated_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount == 1:
        audit.record("ticket.claimed", ticket_id=ticket_id, user_id=actor.id, at=now, by=by)
        ticket = _ticket(ticket_id)
        signals.ticket_assigned.send(ticket, previous=None, now=now)
        db.session.commit()
        return ticket
    db.session.rollback()
    ticket = _ticket(ticket_id)
    if ticket.assignee_id == actor.id:
        return ticket
    raise Conflict(_("%(name)s already took this ticket.", name=ticket.assignee.name))


def assign(ticket_id: int, actor: User, assignee_id: int | None, now: datetime,
           by: audit.Actor | None = None) -> Ticket:
    """Leads assign anyone; an agent may only claim a free ticket or unassign themself."""
    if assignee_id == actor.id and not actor.has_role("lead"):
        return claim(ticket_id, actor, now, by)
    ticket = _ticket(ticket_id, lock=True)
    if not actor.has_role("lead") and not (assignee_id is None and ticket.assignee_id == actor.id):
        raise Forbidden(_("Only a team lead can assign tickets to others."))
    if assignee_id is not None:
        assignee = db.session.get(User, assignee_id)
        if assignee is None or not assignee.active:
            raise DeskError(_("No active user %(id)s", id=assignee_id))
    if ticket.assignee_id != assignee_id:
        previous, ticket.assignee_id = ticket.assignee_id, assignee_id
        _done("ticket.assigned" if assignee_id else "ticket.unassigned", ticket, actor, now, by,
              previous=previous, assignee=assignee_id)
        signals.ticket_assigned.send(ticket, previous=previous, now=now)
    db.session.commit()
    return ticket


def _resolve(ticket: Ticket, actor: User, now: datetime, resolution: str, reason: str | None,
             by: audit.Actor | None = None) -> bool:
    if ticket.status == "resolved":
        return False
    ticket.status, ticket.resolved_at = "resolved", now
    ticket.resolution, ticket.resolution_reason = resolution, reason
    signals.ticket_resolved.send(ticket, now=now, resolution=resolution)
    _done("ticket.resolved", ticket, actor, now, by, resolution=resolution, reason=reason)
    return True


def resolve(ticket_id: int, actor: User, now: datetime, by: audit.Actor | None = None) -> Ticket:
    """Resolve as answered (a no-op on a resolved ticket)."""
    ticket = _ticket(ticket_id, lock=True)
    _resolve(ticket, actor, now, "replied", None, by)
    db.session.commit()
    return ticket


def resolve_no_reply(ticket_id: int, actor: User, reason: str, now: datetime,
                     detail: str = "", by: audit.Actor | None = None) -> Ticket:
    """Resolve without answering (spam, a like...): the SLA clock is waived; reason required."""
    if reason not in NO_REPLY_REASONS:
        raise DeskError(_("Choose why no reply is needed."))
    detail = (detail or "").strip()[:150]
    if reason == "other" and not detail:
        raise DeskError(_("Say why no reply is needed."))
    ticket = _ticket(ticket_id, lock=True)
    _resolve(ticket, actor, now, "no_reply_needed", f"{reason}: {detail}" if detail else reason, by)
    db.session.commit()
    return ticket


def reopen(ticket_id: int, actor: User, now: datetime, by: audit.Actor | None = None) -> Ticket:
    """Open a resolved ticket again (a no-op on an open one)."""
    ticket = _ticket(ticket_id, lock=True)
    if ticket.status == "resolved":
        ticket.status, ticket.resolved_at = "open", None
        ticket.resolution = ticket.resolution_reason = None
        signals.ticket_reopened.send(ticket, now=now)
        _done("ticket.reopened", ticket, actor, now, by)
    db.session.commit()
    return ticket


def set_priority(ticket_id: int, actor: User, priority: str, now: datetime,
                 by: audit.Actor | None = None) -> Ticket:
    if priority not in PRIORITIES:
        raise DeskError(_("Unknown priority %(value)s", value=str(priority)[:20]))
    ticket = _ticket(ticket_id, lock=True)
    if ticket.priority != priority:
        previous, ticket.priority = ticket.priority, priority
        signals.ticket_priority_changed.send(ticket, previous=previous, now=now)
        _done("ticket.priority", ticket, actor, now, by, previous=previous, priority=priority)
    db.session.commit()
    return ticket


def normalize_tag(name: str) -> str:
    name = " ".join((name or "").strip().lower().split())
    if not _TAG.match(name):
        raise DeskError(_("A tag is 1-60 letters, digits, spaces or dashes."))
    return name


def _tag(name: str) -> Tag:
    tag = db.session.scalar(select(Tag).where(Tag.name == name))
    if tag is None:
        try:
            with db.session.begin_nested():  # two agents creating the same tag at once
                tag = Tag(name=name)
                db.session.add(tag)
        except IntegrityError:
            tag = db.session.scalar(select(Tag).where(Tag.name == name))
    return tag


def _add_tag(ticket: Ticket, tag: Tag, actor: User, now: datetime,
             by: audit.Actor | None = None) -> bool:
    if tag in ticket.tags:
        return False
    ticket.tags.append(tag)
    _done("ticket.tagged", ticket, actor, now, by, tag=tag.name)
    return True


def add_tag(ticket_id: int, actor: User, name: str, now: datetime,
            by: audit.Actor | None = None) -> Ticket:
    name = normalize_tag(name)
    ticket = _ticket(ticket_id, lock=True)
    _add_tag(ticket, _tag(name), actor, now, by)
    db.session.commit()
    return ticket


def remove_tag(ticket_id: int, actor: User, tag_id: int, now: datetime,
               by: audit.Actor | None = None) -> Ticket:
    ticket = _ticket(ticket_id, lock=True)
    tag = next((t for t in ticket.tags if t.id == tag_id), None)
    if tag is not None:
        ticket.tags.remove(tag)
        _done("ticket.untagged", ticket, actor, now, by, tag=tag.name)
    db.session.commit()
    return ticket


def mention_handles() -> dict[str, User]:
    """@handle (the e-mail's local part) -> active user, for notes' @mentions."""
    users = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.name))
    return {user.email.split("@")[0].lower(): user for user in users}


def add_note(ticket_id: int, actor: User, body: str, now: datetime,
             by: audit.Actor | None = None) -> Note:
    """An internal note; each @mentioned colleague gets one notification."""
    body = (body or "").strip()
    if not body or len(body) > 5000:
        raise DeskError(_("A note needs 1-5000 characters."))
    ticket = _ticket(ticket_id)
    handles = mention_handles()
    mentioned = {handles[h.lower().rstrip(".")].id for h in _MENTION.findall(body)
                 if h.lower().rstrip(".") in handles}
    note = Note(ticket_id=ticket.id, author_id=actor.id, body=body, mentions=sorted(mentioned),
                created_at=now)
    db.session.add(note)
    db.session.flush()
    notify(mentioned - {actor.id}, "mention",
           Later(N_("%(name)s mentioned you in a note on %(ref)s"), name=actor.name,
                 ref=ticket.reference),
           dedupe_key=f"mention:note:{note.id}", link=f"/tickets/{ticket.id}#note-{note.id}",
           ticket_id=ticket.id, now=now)
    _done("ticket.note", ticket, actor, now, by, note_id=note.id, mentions=sorted(mentioned))
    db.session.commit()
    return note


@dataclass
class BulkResult:
    done: int
    skipped: int
    # Why tickets were skipped: reason -> how many (already_resolved, already_tagged,
    # already_assigned, taken (someone else's, only leads reassign), missing).
    reasons: dict = field(default_factory=dict)


def bulk(ticket_ids: list[int], actor: User, action: str, value: str | None,
         now: datetime) -> BulkResult:
    """Assign (to "me" or, for leads, anyone), tag or resolve many tickets in one transaction."""
    if action not in BULK_ACTIONS:
        raise DeskError(_("Unknown bulk action."))
    ids = sorted(set(ticket_ids))
    if not ids or len(ids) > BULK_LIMIT:
        raise DeskError(_("Select between 1 and %(n)s tickets.", n=BULK_LIMIT))
    tickets = db.session.scalars(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id)
                                 .with_for_update()).all()
    reasons: dict[str, int] = {}

    def skip(reason: str) -> None:
        reasons[reason] = reasons.get(reason, 0) + 1
    if len(tickets) < len(ids):
        reasons["missing"] = len(ids) - len(tickets)
    if action == "assign":
        done = _bulk_assign(tickets, actor, value, now, skip)
    elif action == "tag":
        tag = _tag(normalize_tag(value or ""))
        done = 0
        for ticket in tickets:
            if _add_tag(ticket, tag, actor, now):
                done += 1
            else:
                skip("already_tagged")
    else:
        done = 0
        for ticket in tickets:
            if _resolve(ticket, actor, now, "replied", None):
                done += 1
            else:
                skip("already_resolved")
    db.session.commit()
    return BulkResult(done, len(ids) - done, reasons)


def _bulk_assign(tickets, actor: User, value: str | None, now: datetime, skip) -> int:
    if value in (None, "", "me"):
        assignee_id = actor.id
    elif not (parse_id(value) is not None and actor.has_role("lead")):
        raise Forbidden(_("Only a team lead can assign tickets to others."))
    else:
        assignee = db.session.get(User, int(value))
        if assignee is None or not assignee.active:
            raise DeskError(_("No active user %(id)s", id=value))
        assignee_id = assignee.id
    done = 0
    for ticket in tickets:
        # Agents only take free tickets; leads may reassign.
        if ticket.assignee_id == assignee_id:
            skip("already_assigned")
            continue
        if ticket.assignee_id and not actor.has_role("lead"):
            skip("taken")
            continue
        previous, ticket.assignee_id = ticket.assignee_id, assignee_id
        _done("ticket.assigned", ticket, actor, now, previous=previous, assignee=assignee_id)
        signals.ticket_assigned.send(ticket, previous=previous, now=now)
        done += 1
    return done


def replies_since(ticket_id: int, last_seen_id: int) -> list[Message]:
    """Agent replies on the ticket newer than the message the agent last saw."""
    return db.session.scalars(select(Message).where(
        Message.ticket_id == ticket_id, Message.direction == "out", Message.automatic.is_(False),
        Message.id > last_seen_id).order_by(Message.id)).all()


def last_message_id(ticket_id: int) -> int:
    return db.session.scalar(select(func.max(Message.id)).where(Message.ticket_id == ticket_id)) or 0


def send_reply(ticket_id: int, actor: User, text: str, visibility: str, now: datetime, *,
               last_seen_id: int, canned_reply_id: int | None = None,
               by: audit.Actor | None = None, template: tuple[int, list] | None = None,
               file: Attached | None = None) -> Message:
    """Reply unless someone else replied since `last_seen_id` (Collision); claims a free ticket.
    `template`: a WhatsApp template and its values, outside the 24-hour window; `file`: one
    file the reply carries."""
    ticket = _ticket(ticket_id, lock=True)  # two senders on PostgreSQL take turns here
    newer = replies_since(ticket_id, last_seen_id)
    if newer:
        db.session.rollback()
        raise Collision(newer)
    if ticket.assignee_id is None:
        ticket.assignee_id = actor.id
        _done("ticket.claimed", ticket, actor, now, by, via="reply")
        signals.ticket_assigned.send(ticket, previous=None, now=now)
    else:
        ticket.updated_at = now
    return create_reply(ticket_id, actor.id, text, visibility, now,
                        canned_reply_id=canned_reply_id, automatic=False, by=by, template=template,
                        file=file)


KEEP = "keep"  # apply_actions: leave the owner as it is


def apply_actions(ticket_id: int, actor: User, now: datetime, *, reply: str = "",
                  canned_reply_id: int | None = None, tags=(), priority: str | None = None,
                  assignee: int | str | None = KEEP, status: str | None = None) -> Ticket:
    """Several actions on one ticket in one transaction (a macro): owner (KEEP, None to
    unassign, a user id), tags, priority, a reply, then status ("resolved" or "pending"), with
    the rights each has on its own; commits."""
    ticket = _ticket(ticket_id, lock=True)
    if assignee != KEEP and assignee != ticket.assignee_id:
        mine = assignee == actor.id and ticket.assignee_id is None
        if not (actor.has_role("lead") or mine or (assignee is None and ticket.assignee_id == actor.id)):
            raise Forbidden(_("Only a team lead can assign tickets to others."))
        if assignee is not None and not getattr(db.session.get(User, assignee), "active", False):
            raise DeskError(_("No active user %(id)s", id=assignee))
        previous, ticket.assignee_id = ticket.assignee_id, assignee
        _done("ticket.assigned" if assignee else "ticket.unassigned", ticket, actor, now,
              previous=previous, assignee=assignee, via="macro")
    for name in tags:
        _add_tag(ticket, _tag(normalize_tag(name)), actor, now)
    if priority is not None and priority != ticket.priority:
        if priority not in PRIORITIES:
            raise DeskError(_("Unknown priority %(value)s", value=str(priority)[:20]))
        previous, ticket.priority = ticket.priority, priority
        signals.ticket_priority_changed.send(ticket, previous=previous, now=now)
        _done("ticket.priority", ticket, actor, now, previous=previous, priority=priority)
    if reply:
        if ticket.assignee_id is None:
            ticket.assignee_id = actor.id
            _done("ticket.claimed", ticket, actor, now, via="reply")
        store_reply(ticket.id, actor.id, reply, reply_options(ticket)[0], now,
                    canned_reply_id=canned_reply_id)
    if status == "resolved":
        _resolve(ticket, actor, now, "replied", None)
    elif status == "pending" and ticket.status == "open":
        ticket.status = "pending"
        _done("ticket.pending", ticket, actor, now)
    db.session.commit()
    return ticket
