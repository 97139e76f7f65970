"""Platform webhooks: verify the signature on the raw body, store raw events, answer fast.

Nothing is parsed into tickets here: events are committed to inbound_event and processed by
the inbound worker after the commit (DESIGN.md, core flow). Bodies over MAX_CONTENT_LENGTH
get 413 from Werkzeug before any work.
"""
import logging

from flask import Blueprint, current_app, jsonify, request

from desk.auth import api_error
from desk.channels import meta, x
from desk.channels.base import ParseError, load_json
from desk.clock import now as clock_now
from desk.extensions import csrf, limiter
from desk.inbound import record_events

log = logging.getLogger(__name__)
bp = Blueprint("hooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)


@limiter.request_filter
def _platform_deliveries() -> bool:
    """Platforms are not rate limited (their signature is the gate): skip the limiter's work."""
    return request.blueprint == "hooks"


@bp.get("/meta")
def meta_verify():
    challenge = meta.handshake(request.args, current_app.config["META_VERIFY_TOKEN"])
    if challenge is None:
        return api_error(403, "verification token mismatch")
    return challenge, 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.post("/meta")
def meta_events():
    raw = request.get_data(cache=True)
    secrets = [current_app.config["META_APP_SECRET"], current_app.config["INSTAGRAM_APP_SECRET"]]
    if not meta.signature_ok(raw, request.headers.get("X-Hub-Signature-256"), secrets):
        log.warning("meta webhook with a missing or bad signature refused")
        return api_error(401, "missing or invalid X-Hub-Signature-256")
    return _store("meta", raw, meta.split)


@bp.get("/x")
def x_crc():
    token = request.args.get("crc_token")
    client_secret, consumer_secret = _x_secrets()
    if not token:
        return api_error(400, "crc_token is required")
    # X expects the CRC keyed by the OAuth 2.0 client secret when the app has one, else by the
    # consumer secret (docs.x.com/x-api/webhooks/introduction, "Signature headers").
    secret = client_secret or consumer_secret
    if not secret:
        return api_error(403, "X is not configured")
    return jsonify(x.crc_response(token, secret))


@bp.post("/x")
def x_events():
    raw = request.get_data(cache=True)
    client_secret, consumer_secret = _x_secrets()
    # During X's migration an app may get either header or both: one valid signature is proof.
    if not (x.signature_ok(raw, request.headers.get("X-Twitter-Webhooks-Signature-OAuth2"),
                           client_secret)
            or x.signature_ok(raw, request.headers.get("X-Twitter-Webhooks-Signature"),
                              consumer_secret)):
        log.warning("X webhook with a missing or bad signature refused")
        return api_error(401, "missing or invalid X-Twitter-Webhooks-Signature-OAuth2 "
                              "or X-Twitter-Webhooks-Signature")
    return _store("x", raw, x.split)


def _x_secrets() -> tuple[str, str]:
    """(OAuth 2.0 client secret, OAuth 1.0a consumer secret); blank when not configured."""
    config = current_app.config
    return config["X_CLIENT_SECRET"], config["X_CONSUMER_SECRET"]


def _store(source: str, raw: bytes, split) -> tuple:
    try:
        events = split(load_json(raw))
    except ParseError as exc:
        return api_error(400, str(exc))
    stored = record_events(source, events, clock_now())
    return jsonify({"events": len(events), "new": len(stored)}), 200
