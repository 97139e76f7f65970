"""Agent replies going back to the platform: create, hold/release, deliver once with retries.

A reply is an outbound Message (delivery_state pending -> sending -> delivered | retrying |
failed, or "recorded" in sandbox mode; "waiting" while its channel is failing because the
platform refused the token: it goes again once a new token is saved, `channel_restored`). The unique idempotency key and a conditional UPDATE
claim make a retried or duplicated job a no-op: one reply is never sent twice.
"""
import logging
import uuid
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from rq import Retry
from sqlalchemy import select, update

from desk.accounts import audit
from desk.channels import base as channel_base
from desk.channels import whatsapp
from desk.channels import tokens as channel_tokens
from desk.channels.accounts import Channel, mark_failing
from desk.channels.senders import send as platform_send
from desk.core import signals
from desk.core.errors import Conflict, DeskError, NotFound
from desk.core.extensions import db
from desk.core.texts import gettext_or_plain as _
from desk.core.queue import enqueue_after_commit
from desk.inbox import files
from desk.inbox.tickets import Message, Ticket
from desk.inbox.window import whatsapp_window
from desk.notify import webhooks

log = logging.getLogger(__name__)

MAX_REPLY_CHARS = 8000
BRIDGE_EVENT = "reply.bridge"  # a reply handed to the bridge of a network without an adapter
X_PUBLIC_LIMIT = 280
# (platform, kind) -> visibilities an agent may answer with. "private" on a comment or a
# mention is the "move to DM" reply where the platform allows a private reply to it.
_COMMENT_OPTIONS = {
    "facebook": ["public", "private"],   # Messenger private reply to a page comment
    "instagram": ["public", "private"],  # IG private reply to a comment
    "x": ["public", "private"],          # a DM to the author (if their DMs are open)
}


# Labels for the reply form: "private" on a comment or mention is a "move to DM" reply.
VISIBILITY_LABELS = {"public": _l("Public reply"), "private": _l("Private message")}
MOVE_TO_DM_LABEL = _l("Move to DM (private reply)")


def option_label(ticket: Ticket, visibility: str) -> str:
    """How the reply form names a visibility on this ticket."""
    if visibility == "private" and ticket.kind != "dm":
        return MOVE_TO_DM_LABEL
    return VISIBILITY_LABELS[visibility]


class DeliveryFailed(Exception):
    """A transient platform error: RQ retries the job with backoff."""


def reply_options(ticket: Ticket) -> list[str]:
    """The visibilities a reply on this ticket may have: "public" and/or "private"."""
    if ticket.kind == "dm":
        return ["private"]
    if ticket.kind == "mention" and ticket.channel.platform == "instagram":
        return ["public"]  # IG mentions are answered with a comment on the media
    return list(_COMMENT_OPTIONS.get(ticket.channel.platform, ["public"]))


class WindowClosed(Conflict):
    """WhatsApp's 24-hour window has closed: only an approved template may go."""


def create_reply(ticket_id: int, author_id: int | None, text: str, visibility: str,
                 now: datetime, canned_reply_id: int | None = None,
                 automatic: bool = False, by: audit.Actor | None = None,
                 template: tuple[int, list] | None = None,
                 file: "files.Attached | None" = None) -> Message:
    """Store an outbound reply, publish reply_created (may hold it), release it unless held; commits."""
    message = store_reply(ticket_id, author_id, text, visibility, now,
                          canned_reply_id=canned_reply_id, automatic=automatic, by=by,
                          template=template, file=file)
    db.session.commit()
    return message


def store_reply(ticket_id: int, author_id: int | None, text: str, visibility: str,
                now: datetime, canned_reply_id: int | None = None,
                automatic: bool = False, by: audit.Actor | None = None,
                template: tuple[int, list] | None = None,
                file: "files.Attached | None" = None) -> Message:
    """create_reply without the commit, for a use case that does more in its transaction.
    `template` (WhatsApp): (template id, parameter values); the text is then its body.
    `file`: an upload or a canned reply's file, checked against the platform's limits."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}")
    if ticket.customer.erased_at is not None:
        raise Conflict(_("This customer's data was erased: no reply can be sent to them."))
    sent_as, text = _template_or_window(ticket, text, template, now)
    text = (text or "").strip()
    if not text and file is None:
        raise DeskError("a reply needs some text")
    if len(text) > MAX_REPLY_CHARS:
        raise DeskError(f"a reply has at most {MAX_REPLY_CHARS} characters")
    options = reply_options(ticket)
    if visibility not in options:
        raise DeskError(f"a {ticket.kind} on {ticket.channel.platform} can be answered with: "
                        f"{', '.join(options)} (not {visibility!r})")
    if ticket.channel.platform == "x" and visibility == "public" and len(text) > X_PUBLIC_LIMIT:
        raise DeskError(f"a public reply on X has at most {X_PUBLIC_LIMIT} characters")
    stored_file = files.attach(ticket, visibility, file, sent_as is not None, author_id, now)
    message = Message(ticket=ticket, channel_id=ticket.channel_id, direction="out",
                      visibility=visibility, author_id=author_id, text=text, sent_at=now,
                      received_at=now, automatic=automatic,
                      attachments=[files.descriptor(stored_file)] if stored_file else [],
                      parent_platform_id=_reply_target(ticket),
                      idempotency_key=uuid.uuid4().hex, delivery_state="pending",
                      canned_reply_id=canned_reply_id, template=sent_as)
    db.session.add(message)
    ticket.last_message_at = ticket.updated_at = now
    db.session.flush()
    if stored_file is not None and file.upload is not None:
        stored_file.message_id = message.id  # uploaded for this reply: erased with it
    signals.reply_created.send(ticket, message=message, now=now)
    audit.record("reply_created", ticket_id=ticket.id, user_id=author_id,
                 actor="user" if author_id else "system", at=now, by=by,
                 data={"message_id": message.id, "visibility": visibility,
                       "held": message.delivery_state == "held"})
    if message.delivery_state != "held":
        _release(ticket, message, now)
    return message


def _template_or_window(ticket: Ticket, text: str, template, now: datetime) -> tuple[dict | None, str]:
    """(what the reply goes as, its text): a WhatsApp template with its values checked, or
    free text, which WhatsApp refuses once the customer's 24-hour window has closed."""
    if template is None:
        window = whatsapp_window(ticket, now)
        if window is not None and not window.open:
            raise WindowClosed(_("More than 24 hours have passed since this customer last wrote: "
                                 "WhatsApp only takes an approved template now. Choose one below."))
        return None, text
    if ticket.channel.platform != "whatsapp":
        raise DeskError("only WhatsApp replies go as templates")
    chosen = whatsapp.template_of(ticket.channel_id, template[0])
    if not chosen.approved:
        raise DeskError(_("The template %(name)s is not approved on WhatsApp (%(status)s).",
                          name=chosen.name, status=chosen.status))
    values = whatsapp.clean_values(chosen, template[1])
    return {"name": chosen.name, "language": chosen.language, "params": values}, chosen.render(values)


def release_reply(message_id: int, now: datetime) -> Message:
    """Release a held reply for delivery (publish reply_released, enqueue the send); commits."""
    message = db.session.get(Message, message_id)
    if message is None or message.direction != "out":
        raise NotFound(f"no reply {message_id}")
    if message.delivery_state != "held":
        raise DeskError("only a reply waiting for approval can be released")
    message.sent_at = now
    _release(message.ticket, message, now)
    db.session.commit()
    return message


def _release(ticket: Ticket, message: Message, now: datetime) -> None:
    message.delivery_state = "pending"
    signals.reply_released.send(ticket, message=message, now=now)
    intervals = [int(s) for s in str(current_app.config["OUTBOUND_RETRY_INTERVALS"]).split(",")]
    enqueue_after_commit("outbound", "workers.outbound.send_reply", message.id,
                         retry=Retry(max=len(intervals), interval=intervals))


def _reply_target(ticket: Ticket) -> str | None:
    """The platform id a reply answers: the customer's latest message on the thread."""
    return db.session.scalar(
        select(Message.platform_message_id)
        .where(Message.ticket_id == ticket.id, Message.direction == "in",
               Message.deleted_at.is_(None), Message.platform_message_id.is_not(None))
        .order_by(Message.sent_at.desc(), Message.id.desc()).limit(1))


def deliver(message_id: int, now: datetime) -> str | None:
    """Send a released reply once; returns its delivery state. Raises DeliveryFailed to retry."""
    claimed = db.session.execute(
        update(Message).where(Message.id == message_id,
                              Message.delivery_state.in_(("pending", "retrying")))
        .values(delivery_state="sending", delivery_attempts=Message.delivery_attempts + 1,
                sending_since=now)
        .execution_options(synchronize_session=False))
    db.session.commit()
    message = db.session.get(Message, message_id)
    if message is None or claimed.rowcount != 1:
        return message.delivery_state if message else None  # held, sent or claimed elsewhere
    ticket = message.ticket
    if current_app.config["SANDBOX"]:
        return _finish(message, "recorded", now)
    if ticket.channel.platform not in channel_base.SENDING_PLATFORMS:
        if bridge_wanted():
            return _to_bridge(message, now)
        return _finish(message, "recorded", now)
    if ticket.channel.failing:  # no call with a token the platform refused: wait for a new one
        message.delivery_error = ticket.channel.failing_reason
        return _finish(message, "waiting", now)
    # Released (sent_at) after the window closed, e.g. held for approval past it: WhatsApp
    # would refuse it. One released in time but sent late gets the platform's own refusal.
    window = whatsapp_window(ticket, message.sent_at) if message.template is None else None
    if window is not None and not window.open:
        message.delivery_error = ("WhatsApp's 24-hour window closed before this reply was "
                                  "released; send an approved template instead")
        return _finish(message, "failed", now)
    try:
        platform_id = _send(ticket, message, now)
    except channel_base.SendError as exc:
        message.delivery_error = str(exc)[:2000]
        if exc.token_invalid:
            mark_failing(ticket.channel_id, str(exc), now)
            return _finish(message, "waiting", now)
        retries = len(str(current_app.config["OUTBOUND_RETRY_INTERVALS"]).split(","))
        if exc.transient and message.delivery_attempts <= retries:
            _finish(message, "retrying", now)
            raise DeliveryFailed(str(exc)) from exc
        return _finish(message, "failed", now)
    _store_platform_id(message, platform_id)
    message.delivery_error = None
    return _finish(message, "delivered", now)


def _send(ticket: Ticket, message: Message, now: datetime) -> str | None:
    """One send; an X user token is refreshed first when it is about to expire, and once more
    when X refuses it (then the send is tried again with the new token)."""
    config = current_app.config
    if channel_tokens.token_due(ticket.channel, now, config):
        channel_tokens.refresh_token(ticket.channel_id, now, config)
    reply = _outbound(ticket, message)
    try:
        return platform_send(reply, config)
    except channel_base.SendError as exc:
        if not (exc.token_invalid and ticket.channel.refresh_token_encrypted):
            raise
        outcome = channel_tokens.refresh_token(ticket.channel_id, now, config,
                                                 refused_token=reply.access_token)
        if outcome not in ("refreshed", "fresh"):
            raise
    return platform_send(_outbound(ticket, message), config)


def resend_waiting(channel: Channel, now: datetime) -> int:
    """The channel works again: its waiting replies are queued once more (a fresh set of
    retries). Runs inside the caller's transaction (signal `channel_restored`)."""
    waiting = db.session.scalars(select(Message).where(
        Message.channel_id == channel.id, Message.direction == "out",
        Message.delivery_state == "waiting").order_by(Message.id)).all()
    intervals = [int(s) for s in str(current_app.config["OUTBOUND_RETRY_INTERVALS"]).split(",")]
    for message in waiting:
        message.delivery_state, message.delivery_attempts = "pending", 0
        enqueue_after_commit("outbound", "workers.outbound.send_reply", message.id,
                             retry=Retry(max=len(intervals), interval=intervals))
    if waiting:
        log.info("channel %s restored: %s waiting replies queued again", channel.id, len(waiting))
    return len(waiting)


@signals.channel_restored.connect
def _on_channel_restored(channel, now, **_):
    resend_waiting(channel, now)


def bridge_wanted() -> bool:
    """A bridge takes the replies of networks without an adapter when the outgoing webhook's
    endpoint subscribes to reply.bridge events."""
    return webhooks.wanted(BRIDGE_EVENT)


def _to_bridge(message: Message, now: datetime) -> str:
    """Hand the reply to the bridge as an event; it waits ("bridge") for its confirmation."""
    message.delivery_state = "bridge"
    signals.reply_bridged.send(message.ticket, message=message, now=now)
    audit.record("reply_bridge", ticket_id=message.ticket_id, actor="system", at=now,
                 data={"message_id": message.id})
    db.session.commit()
    return "bridge"


def confirm_bridged(ticket_id: int, message_id: int, state: str, now: datetime,
                    platform_id: str | None = None, error: str | None = None) -> Message:
    """The bridge's word on a reply it was handed: delivered (with the platform's id) or
    failed (with the error). A repeated confirmation is a no-op; a reply not waiting for a
    bridge, or a platform id another message has, is a Conflict. Commits."""
    if state not in ("delivered", "failed"):
        raise DeskError("the state is delivered or failed")
    if state == "delivered" and not platform_id:
        raise DeskError("a delivered reply needs the platform's message id")
    message = db.session.scalar(select(Message).where(
        Message.id == message_id, Message.ticket_id == ticket_id,
        Message.direction == "out").with_for_update())
    if message is None:
        raise NotFound(f"no reply {message_id} on ticket {ticket_id}")
    if message.delivery_state == state and (state == "failed"
                                             or message.platform_message_id == platform_id):
        return message
    if message.delivery_state != "bridge":
        raise Conflict(f"reply {message_id} is not waiting for a bridge "
                       f"(it is {message.delivery_state})")
    if state == "delivered":
        taken = db.session.scalar(select(Message).where(
            Message.channel_id == message.channel_id, Message.platform_message_id == platform_id,
            Message.id != message.id))
        if taken is not None and not (taken.direction == "out" and taken.author_id is None):
            raise Conflict(f"another message already has the platform id {platform_id!r}")
        _store_platform_id(message, platform_id)
        message.delivery_error = None
    else:
        message.delivery_error = (error or "the bridge could not deliver it")[:2000]
    _finish(message, state, now)
    return message


def sweep_interrupted(now: datetime) -> int:
    """Sends claimed long ago and never finished (worker killed): delivered if the platform's
    echo told us its id, else failed with a message; never re-sent blindly (no double send)."""
    cutoff = now - timedelta(seconds=int(current_app.config["OUTBOUND_STUCK_SECONDS"]))
    stuck = db.session.scalars(select(Message).where(
        Message.delivery_state == "sending", Message.sending_since < cutoff)).all()
    for message in stuck:
        if message.platform_message_id:
            message.delivery_error = None
            _finish(message, "delivered", now)
        else:
            message.delivery_error = ("sending was interrupted; check on the platform whether it "
                                      "arrived before sending it again")
            _finish(message, "failed", now)
    db.session.commit()
    return len(stuck)


def _finish(message: Message, state: str, now: datetime) -> str:
    message.delivery_state = state
    if state in ("delivered", "recorded"):
        message.delivered_at = now
    audit.record(f"reply_{state}", ticket_id=message.ticket_id, actor="system", at=now,
                 data={"message_id": message.id, "error": message.delivery_error})
    if state in ("delivered", "recorded", "failed"):
        signals.reply_finished.send(message.ticket, message=message, state=state, now=now)
    db.session.commit()
    log.info("reply %s %s", message.id, state)
    return state


def _store_platform_id(message: Message, platform_id: str | None) -> None:
    """Keep the platform's id; an echo of this very reply that arrived first is merged away."""
    if not platform_id:
        return
    echo = db.session.scalar(select(Message).where(
        Message.channel_id == message.channel_id, Message.platform_message_id == platform_id,
        Message.id != message.id))
    if echo is not None and echo.direction == "out" and echo.author_id is None:
        db.session.delete(echo)
        db.session.flush()
    message.platform_message_id = platform_id


def _outbound(ticket: Ticket, message: Message) -> channel_base.OutboundReply:
    identity = next((i for i in ticket.customer.identities
                     if i.platform == ticket.channel.platform), None)
    return channel_base.OutboundReply(
        platform=ticket.channel.platform, account_id=ticket.channel.account_id,
        access_token=ticket.channel.access_token, kind=ticket.kind,
        visibility=message.visibility, text=message.text,
        recipient_id=identity.platform_user_id if identity else None,
        reply_to_id=message.parent_platform_id, thread_key=ticket.thread_key,
        idempotency_key=message.idempotency_key, media_id=_media_of(message),
        template=message.template, file=files.outbound_file(message),
        file_sent=lambda platform_id: files.mark_sent(message, platform_id))



def _media_of(reply: Message) -> str | None:
    """The media the answered comment is on (stored as its parent), for Instagram mentions."""
    if reply.ticket.kind != "mention" or not reply.parent_platform_id:
        return None
    return db.session.scalar(select(Message.parent_platform_id).where(
        Message.channel_id == reply.channel_id,
        Message.platform_message_id == reply.parent_platform_id))
