"""The media proxy (/media/<message>/<n>): an inbound attachment passed on to a signed-in agent
from the platform's own hosts (desk/channels/media.py); the agent's browser never calls the
platform. Also the files agents send (/media/file/<id>), and the signed address a platform
fetches one from (/media/files/<token>). The answer can never run as a page: it is sandboxed, never sniffed and, unless it
is an image, video or sound, downloaded."""
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, stream_with_context

from desk.channels.media import MediaRefused, open_media
from desk.core.extensions import db
from desk.inbox.files import ReplyFile, file_for_token
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


def _send_file(stored) -> Response:
    """A desk file, answered as the proxy answers: sandboxed, never sniffed, downloaded
    unless it is an image, video or sound."""
    response = Response(stored.data, content_type=stored.content_type)
    inline = stored.kind in ("image", "video", "audio")
    response.headers["Content-Disposition"] = (
        f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(stored.filename)}")
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/file/<int:file_id>")
@role_required("cm")
def reply_file(file_id):
    """A file an agent sent or a canned reply carries, for agents."""
    response = _send_file(db.get_or_404(ReplyFile, file_id))
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.route("/files/<token>")
def public_file(token):
    """A reply's file for the platform that fetches it (Instagram): a signed, expiring address
    that names nothing else; no session needed."""
    stored = file_for_token(token)
    if stored is None:
        abort(404)
    response = _send_file(stored)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
