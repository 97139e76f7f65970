"""The media proxy (/media/<message>/<n>): an inbound attachment passed on to a signed-in agent
from the platform's own hosts (desk/channels/media.py); the agent's browser never calls the
platform. The answer can never run as a page: it is sandboxed, never sniffed and, unless it
is an image, video or sound, downloaded."""
from flask import Blueprint, Response, abort, current_app, stream_with_context

from desk.channels.media import MediaRefused, open_media
from desk.core.extensions import db
from desk.inbox.tickets import Message
from desk.views.access import role_required

bp = Blueprint("media", __name__, url_prefix="/media")


@bp.route("/<int:message_id>/<int:index>")
@role_required("cm")
def attachment(message_id, index):
    message = db.get_or_404(Message, message_id)
    attachments = message.attachments if isinstance(message.attachments, list) else []
    if message.direction != "in" or message.erased_at or index >= len(attachments) \
            or not isinstance(attachments[index], dict):
        abort(404)
    channel = message.ticket.channel
    try:
        media = open_media(channel.platform, attachments[index], channel.access_token,
                           current_app.config)
    except MediaRefused as exc:
        current_app.logger.info("media %s/%s not passed on: %s", message_id, index, exc)
        abort(exc.status)
    response = Response(stream_with_context(media.chunks), content_type=media.content_type)
    if media.length is not None:
        response.content_length = media.length
    disposition = "inline" if media.inline else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="attachment-{message_id}-{index}"'
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
