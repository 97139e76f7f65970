"""Platform webhooks: verify the signature on the raw body, store raw events, answer fast.

Nothing is parsed into tickets here: events are committed to inbound_event and processed by
the inbound worker after the commit (docs/architecture.md, The flow). The platforms' GET handshakes are
Flask views. Their POST deliveries are the one path that takes hundreds of requests a second
at a peak and needs nothing Flask adds to a request here (session, login, CSRF, rate limits,
templates), so `WebhookIngress` serves them in front of Flask, inside an app context: through
gunicorn that is about a fifth less CPU per post (tests/perf/bench_ingest.py). Bodies over
MAX_CONTENT_LENGTH get 413 before any work.
"""
import logging

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request

from desk.channels import meta, x
from desk.channels.base import ParseError, load_json
from desk.core.clock import now as clock_now
from desk.core.errors import api_error
from desk.intake.events import record_events
from desk.views.responses import busy_response, security_headers

log = logging.getLogger(__name__)
bp = Blueprint("hooks", __name__, url_prefix="/webhooks")


@bp.get("/meta")
def meta_verify():
    challenge = meta.handshake(request.args, current_app.config["META_VERIFY_TOKEN"])
    if challenge is None:
        return api_error(403, "verification token mismatch")
    return challenge, 200, {"Content-Type": "text/plain; charset=utf-8"}


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


def receive_meta(raw: bytes, headers) -> Response:
    """A Facebook, Instagram or WhatsApp delivery (X-Hub-Signature-256, app secrets)."""
    config = current_app.config
    if not meta.signature_ok(raw, headers.get("X-Hub-Signature-256"),
                             [config["META_APP_SECRET"], config["INSTAGRAM_APP_SECRET"]]):
        log.warning("meta webhook with a missing or bad signature refused")
        return api_error(401, "missing or invalid X-Hub-Signature-256")
    return _store("meta", raw, meta.split)


def receive_x(raw: bytes, headers) -> Response:
    """An X delivery, AAA or XAA: one valid signature of the two headers X may send."""
    client_secret, consumer_secret = _x_secrets()
    # During X's migration an app may get either header or both: one valid signature is proof.
    if not (x.signature_ok(raw, headers.get("X-Twitter-Webhooks-Signature-OAuth2"), client_secret)
            or x.signature_ok(raw, headers.get("X-Twitter-Webhooks-Signature"), consumer_secret)):
        log.warning("X webhook with a missing or bad signature refused")
        return api_error(401, "missing or invalid X-Twitter-Webhooks-Signature-OAuth2 "
                              "or X-Twitter-Webhooks-Signature")
    return _store("x", raw, x.split)


def _x_secrets() -> tuple[str, str]:
    """(OAuth 2.0 client secret, OAuth 1.0a consumer secret); blank when not configured."""
    config = current_app.config
    return config["X_CLIENT_SECRET"], config["X_CONSUMER_SECRET"]


def _store(source: str, raw: bytes, split) -> Response:
    try:
        events = split(load_json(raw))
    except ParseError as exc:
        return api_error(400, str(exc))
    stored = record_events(source, events, clock_now())
    return jsonify({"events": len(events), "new": len(stored)})


RECEIVERS = {"/webhooks/meta": receive_meta, "/webhooks/x": receive_x}


class WebhookIngress:
    """WSGI middleware: POST deliveries to RECEIVERS are answered here, the rest by Flask."""

    def __init__(self, app, wsgi_app):
        self.app, self.wsgi_app = app, wsgi_app

    def __call__(self, environ, start_response):
        receive = (RECEIVERS.get(environ.get("PATH_INFO", ""))
                   if environ.get("REQUEST_METHOD") == "POST" else None)
        if receive is None:
            return self.wsgi_app(environ, start_response)
        with self.app.app_context():
            return self._answer(receive, Request(environ))(environ, start_response)

    def _answer(self, receive, delivery: Request) -> Response:
        delivery.max_content_length = self.app.config["MAX_CONTENT_LENGTH"]
        try:
            response = receive(delivery.get_data(), delivery.headers)
        except HTTPException as exc:  # 413 from the body's length, before it is read
            response = api_error(exc.code or 400, exc.description or exc.name)
        except OperationalError as exc:  # the store's lock budget ran out: the platform retries
            response = busy_response(exc, as_json=True)
        except Exception:
            if self.app.testing:
                raise
            log.exception("webhook delivery to %s failed", delivery.path)
            response = api_error(500, "internal error; the platform will retry")
        return security_headers(response)
