"""Moderating a public comment from its ticket: hide it, show it again or delete it on
Facebook or Instagram. The platform is asked first, in the request (the agent sees its
answer); the desk records what the platform confirmed, in the audit trail too."""
from datetime import datetime

from desk.accounts import audit
from desk.accounts.audit import Actor
from desk.channels.accounts import mark_failing
from desk.channels.base import SendError
from desk.channels.senders import moderate_comment
from desk.core.errors import Conflict, DeskError, NotFound
from desk.core.extensions import db
from desk.core.texts import gettext_or_plain as _
from desk.inbox.tickets import Message

PLATFORMS = ("facebook", "instagram")


class PlatformRefused(DeskError):
    """The platform said no (its words are in the message)."""

    status = 422  # shown to the agent like any refusal (the page flashes 4xx answers)


def can_moderate(message: Message) -> bool:
    """A customer's public comment on Facebook or Instagram that is still there."""
    return (message.direction == "in" and message.visibility == "public"
            and message.ticket.kind == "comment" and message.platform_message_id is not None
            and message.ticket.channel.platform in PLATFORMS and message.deleted_at is None)


def moderate(message_id: int, action: str, *, by: Actor, now: datetime, config) -> Message:
    """Hide, unhide or delete the comment on its platform, then record it; commits. Conflict
    when the message is not a comment that can be moderated; PlatformRefused with the
    platform's answer (a refused token also marks the channel failing)."""
    message = db.session.get(Message, message_id)
    if message is None:
        raise NotFound(_("No message %(id)s.", id=message_id))
    if action not in ("hide", "unhide", "delete"):
        raise DeskError(_("Unknown action."))
    if not can_moderate(message):
        raise Conflict(_("Only a customer's public comment on Facebook or Instagram can be "
                         "hidden or deleted."))
    channel = message.ticket.channel
    platform, channel_id = channel.platform, channel.id
    comment_id, token = message.platform_message_id, channel.access_token
    db.session.rollback()  # no transaction stays open while the platform answers
    try:
        if not config["SANDBOX"]:  # the demo records what it would have asked, as for replies
            moderate_comment(platform, comment_id, action, token, config)
    except SendError as exc:
        if exc.token_invalid:
            mark_failing(channel_id, str(exc), now)
        audit.record("message.moderation_refused", ticket_id=message.ticket_id, at=now, by=by,
                     data={"message_id": message.id, "action": action, "error": str(exc)[:300]})
        db.session.commit()
        raise PlatformRefused(_("The platform refused: %(error)s", error=str(exc)[:300])) from exc
    if action == "delete":
        message.deleted_at = now
    else:
        message.hidden_at = now if action == "hide" else None
    audit.record(f"message.{action}", ticket_id=message.ticket_id, at=now, by=by,
                 data={"message_id": message.id, "platform": platform,
                       "sandbox": bool(config["SANDBOX"])})
    db.session.commit()
    return message
