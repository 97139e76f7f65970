"""The ticket page: thread, customer panel, composer, notes, actions, presence and replies."""
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, abort, current_app, make_response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from desk.accounts.users import User
from desk.channels import attachments, whatsapp
from desk.core.clock import now as clock_now
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.core.types import parse_id
from desk.feedback import surveys
from desk.feedback.surveys import Survey
from desk.inbox import actions as ticket_actions
from desk.inbox import files, moderation, presence
from desk.inbox import snooze as ticket_snooze
from desk.inbox.outbound import reply_options
from desk.inbox.tickets import PRIORITIES, Message, Note, Ticket
from desk.inbox.window import whatsapp_window
from desk.replies import library, macros
from desk.views.access import audit_actor, role_required

bp = Blueprint("tickets", __name__, url_prefix="/tickets")
SURVEY_REASONS = {
    surveys.PUBLIC_ONLY: _l("the conversation is public: no private message can carry the link"),
    surveys.WINDOW_CLOSED: _l("WhatsApp's 24-hour window had closed and no survey template is set "
                              "for this number"),
}


@bp.before_request
@role_required("cm")
def _agents_only():
    """Every ticket route is for signed-in agents (cm and above)."""


def _load(ticket_id: int) -> Ticket:
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        abort(404)
    return ticket


def _me() -> User:
    return current_user._get_current_object()


def _thread(ticket):
    """Messages and notes in time order."""
    notes = db.session.scalars(select(Note).where(Note.ticket_id == ticket.id)
                               .options(selectinload(Note.author)).order_by(Note.created_at)).all()
    items = [(m.sent_at, 0, m.id, "message", m) for m in ticket.messages]
    items += [(n.created_at, 1, n.id, "note", n) for n in notes]
    return [(kind, item) for *_key, kind, item in sorted(items, key=lambda i: i[:3])]


def _context(ticket, **extra):
    now = clock_now()
    history = db.session.scalars(select(Ticket).where(
        Ticket.customer_id == ticket.customer_id, Ticket.id != ticket.id)
        .order_by(Ticket.created_at.desc()).limit(6)).all()
    users = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.name)).all()
    return {"ticket": ticket, "now": now, "thread": _thread(ticket), "history": history,
            "users": users, "priorities": PRIORITIES, "reasons": ticket_actions.NO_REPLY_REASONS,
            "reply_options": reply_options(ticket), "me": current_user,
            "last_seen_id": ticket_actions.last_message_id(ticket.id),
            "handles": ticket_actions.mention_handles(),
            "snoozed": ticket_snooze.is_snoozed(ticket, now), "macros": macros.visible(current_user),
            "can_moderate": moderation.can_moderate, **_whatsapp(ticket, now),
            "attach_accept": _attach_accept(ticket), **extra}


def _attach_accept(ticket) -> str:
    """The types a reply on this ticket may carry, whichever way it goes ("" for none)."""
    return ",".join(sorted({t for visibility in reply_options(ticket) for t in attachments.accept(
        ticket.channel.platform, ticket.kind, visibility).split(",") if t}))


def _whatsapp(ticket, now) -> dict:
    """The customer's 24-hour window and the number's approved templates (WhatsApp only)."""
    window = whatsapp_window(ticket, now)
    return {"window": window,
            # The template picker shows only once the window has closed.
            "wa_templates": (whatsapp.templates(ticket.channel_id, approved_only=True)
                             if window and not window.open else []),
            "survey": db.session.scalar(select(Survey).where(Survey.ticket_id == ticket.id)),
            "survey_reasons": SURVEY_REASONS}


def _attached(canned: str) -> files.Attached | None:
    """The file the composer sends: an upload, else the inserted canned reply's file while
    its chip is still there."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        return files.Attached(upload=(upload.filename, upload.read()))
    if canned and request.form.get("canned_file") == "1":
        carried = library.file_of(int(canned))
        return files.Attached(library=carried) if carried else None
    return None


@bp.route("/<int:ticket_id>")
def show(ticket_id):
    ticket = _load(ticket_id)
    presence.heartbeat(ticket.id, current_user.id, clock_now())
    return render_template("inbox/ticket.html", **_context(ticket))


@bp.route("/<int:ticket_id>/thread")
def thread(ticket_id):
    """The thread fragment (`#thread`), refreshed when the ticket changes."""
    ticket = _load(ticket_id)
    return render_template("inbox/_thread.html", ticket=ticket, thread=_thread(ticket),
                           can_moderate=moderation.can_moderate)


@bp.route("/<int:ticket_id>/sla-badge")
def head_sla(ticket_id):
    """The header's SLA badge (`#head-sla`), polled so that others' changes show."""
    ticket = _load(ticket_id)
    return render_template("inbox/_head_sla.html", ticket=ticket, now=clock_now())


@bp.route("/<int:ticket_id>/presence", methods=["POST"])
def heartbeat(ticket_id):
    """The page beats every few seconds; answers who else is here and who is typing."""
    ticket = _load(ticket_id)
    now = clock_now()
    presence.heartbeat(ticket.id, current_user.id, now)
    others = presence.on_ticket(ticket.id, now, exclude=current_user.id)
    names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(others))).all()) if others else {}
    return render_template("inbox/_presence.html", others=others, names=names)


@bp.route("/<int:ticket_id>/typing", methods=["POST"])
def typing(ticket_id):
    ticket = _load(ticket_id)
    if request.form.get("stop"):
        presence.stop_typing(ticket.id, current_user.id)
    else:
        presence.heartbeat(ticket.id, current_user.id, clock_now(), typing=True)
    return "", 204


def _props(ticket_id):
    """The properties panel after an action, with the header's SLA badge out of band; other
    panels refresh on `ticketChanged`."""
    ticket = _load(ticket_id)
    db.session.refresh(ticket)
    context = _context(ticket)
    response = make_response(render_template("inbox/_props.html", **context)
                             + render_template("inbox/_head_sla.html", oob=True, **context))
    response.headers["HX-Trigger"] = "ticketChanged"
    return response


@bp.route("/<int:ticket_id>/claim", methods=["POST"])
def claim(ticket_id):
    ticket_actions.claim(ticket_id, _me(), clock_now())
    return _props(ticket_id)


@bp.route("/<int:ticket_id>/assign", methods=["POST"])
def assign(ticket_id):
    value = request.form.get("assignee_id", "")
    if value and parse_id(value) is None:
        raise DeskError(_("Choose someone from the list."))
    ticket_actions.assign(ticket_id, _me(), parse_id(value), clock_now())
    return _props(ticket_id)


@bp.route("/<int:ticket_id>/unassign", methods=["POST"])
def unassign(ticket_id):
    ticket_actions.assign(ticket_id, _me(), None, clock_now())
    return _props(ticket_id)


@bp.route("/<int:ticket_id>/resolve", methods=["POST"])
def resolve(ticket_id):
    ticket_actions.resolve(ticket_id, _me(), clock_now())
    return _props(ticket_id)


@bp.route("/<int:ticket_id>/resolve-no-reply", methods=["POST"])
def resolve_no_reply(ticket_id):
    ticket_actions.resolve_no_reply(ticket_id, _me(), request.form.get("reason", ""), clock_now(),
                                    detail=request.form.get("detail", ""))
    return _props(ticket_id)


@bp.route("/<int:ticket_id>/messages/<int:message_id>/<action>",
          methods=["POST"])
def moderate(ticket_id, message_id, action):
    """Hide, show again or delete a customer's public comment on the platform."""
    message = db.session.get(Message, message_id)
    if message is None or message.ticket_id != _load(ticket_id).id:
        abort(404)
    message = moderation.moderate(message_id, action, by=audit_actor(), now=clock_now(),
                                  config=current_app.config)
    return render_template("inbox/_message.html", item=message, ticket=message.ticket,
                           can_moderate=moderation.can_moderate)


@bp.route("/<int:ticket_id>/reopen", methods=["POST"])
def reopen(ticket_id):
    ticket_actions.reopen(ticket_id, _me(), clock_now())
    return _props(ticket_id)


SNOOZE_HOURS = {"1h": 1, "4h": 4, "24h": 24}


def snooze_until(choice: str, at: str, timezone: str, now: datetime) -> datetime | None:
    """The snooze form's choice as a UTC time (None: until the customer writes); `at` is a
    datetime-local value in the agent's time zone."""
    if choice == "customer":
        return None
    if choice in SNOOZE_HOURS:
        return now + timedelta(hours=SNOOZE_HOURS[choice])
    try:
        local = datetime.strptime(at or "", "%Y-%m-%dT%H:%M")
        return local.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    except (ValueError, ZoneInfoNotFoundError):
        raise DeskError(_("Choose when the ticket comes back.")) from None


@bp.route("/<int:ticket_id>/snooze", methods=["POST"])
def snooze(ticket_id):
    db.get_or_404(Ticket, ticket_id)  # an unknown ticket is 404 before its form is read
    now = clock_now()
    until = snooze_until(request.form.get("until", ""), request.form.get("at", ""),
                         current_user.timezone or "UTC", now)
    ticket_snooze.snooze(ticket_id, _me(), until, now)
    return _props(ticket_id)


@bp.route("/<int:ticket_id>/unsnooze", methods=["POST"])
def unsnooze(ticket_id):
    ticket_snooze.unsnooze(ticket_id, _me(), clock_now())
    return _props(ticket_id)


@bp.route("/<int:ticket_id>/priority", methods=["POST"])
def priority(ticket_id):
    ticket_actions.set_priority(ticket_id, _me(), request.form.get("priority", ""), clock_now())
    return _props(ticket_id)


@bp.route("/<int:ticket_id>/tags", methods=["POST"])
def add_tag(ticket_id):
    ticket_actions.add_tag(ticket_id, _me(), request.form.get("tag", ""), clock_now())
    return _props(ticket_id)


@bp.route("/<int:ticket_id>/tags/<int:tag_id>/remove", methods=["POST"])
def remove_tag(ticket_id, tag_id):
    ticket_actions.remove_tag(ticket_id, _me(), tag_id, clock_now())
    return _props(ticket_id)


@bp.route("/<int:ticket_id>/notes", methods=["POST"])
def add_note(ticket_id):
    ticket_actions.add_note(ticket_id, _me(), request.form.get("body", ""), clock_now())
    ticket = _load(ticket_id)
    return render_template("inbox/_thread.html", ticket=ticket, thread=_thread(ticket),
                           note_saved=True)


@bp.route("/<int:ticket_id>/reply", methods=["POST"])
def reply(ticket_id):
    """Send a reply; 409 with the newer replies when someone answered since the page loaded."""
    ticket = _load(ticket_id)
    form = request.form
    seen, canned = form.get("last_seen_id", ""), form.get("canned_reply_id", "")
    template_id = form.get("template_id", "")
    if parse_id(seen) is None or (canned and parse_id(canned) is None) or (
            template_id and parse_id(template_id) is None):
        raise DeskError(_("The reply form is out of date; reload the ticket."))
    template = (int(template_id), form.getlist("param")) if template_id else None
    try:
        ticket_actions.send_reply(ticket.id, _me(), form.get("text", ""), form.get("visibility", ""),
                                  clock_now(), last_seen_id=int(seen),
                                  canned_reply_id=int(canned) if canned else None,
                                  template=template, file=_attached(canned))
    except ticket_actions.Collision as collision:
        response = make_response(render_template(
            "inbox/_collision.html", **_context(_load(ticket_id)), replies=collision.replies,
            text=form.get("text", ""), visibility=form.get("visibility", ""), canned=canned,
            warned_last_seen=max(m.id for m in collision.replies)), 409)
        response.headers["HX-Retarget"] = "#composer-warning"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    presence.stop_typing(ticket.id, current_user.id)
    ticket = _load(ticket_id)
    db.session.refresh(ticket)
    response = make_response(render_template("inbox/_after_reply.html", **_context(ticket)))
    response.headers["HX-Trigger"] = "ticketChanged"
    return response
