"""Blueprints, navigation, error pages and the headers every response carries."""
from flask import current_app, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from desk.auth import DeskError, api_error
from desk.types import MAX_ID
from desk.modules import import_all

# (endpoint, label, lowest role that sees it); an entry shows once its blueprint exists.
NAVIGATION = [
    ("inbox.index", _l("Inbox"), "cm"),
    ("board.index", _l("SLA board"), "lead"),
    ("escalations.index", _l("Escalations"), "lead"),
    ("replies.library", _l("Canned replies"), "cm"),
    ("reports.service", _l("Service report"), "smm"),
    ("sla.policies", _l("SLA policies"), "smm"),
    ("admin.users", _l("Admin"), "admin"),
]

BLUEPRINT_MODULES = ["auth", "main", "admin", "api", "hooks", "inbox", "tickets", "replies",
                     "board", "sla", "escalations", "notifications", "reports", "survey"]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; "
       "object-src 'none'")


class IdConverter(IntegerConverter):
    """`<int:...>` ids past an id column (/tickets/99999999999999999999) are a 404, not an
    overflow error (500) in the database driver."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def register_views(app) -> None:
    app.url_map.converters["int"] = IdConverter
    for module in import_all([f"desk.views.{name}" for name in BLUEPRINT_MODULES]):
        app.register_blueprint(module.bp)
    app.context_processor(_navigation)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["has_endpoint"] = lambda endpoint: endpoint in app.view_functions
    app.after_request(security_headers)
    from desk.views.hooks import WebhookIngress
    app.wsgi_app = WebhookIngress(app, app.wsgi_app)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DeskError, _desk_error)
    app.register_error_handler(OperationalError, _database_busy)
    from desk.views import filters
    filters.register(app)


def _navigation():
    if not current_user.is_authenticated:
        return {"navigation": []}
    items = [(endpoint, label) for endpoint, label, role in NAVIGATION
             if endpoint in current_app.view_functions and current_user.has_role(role)]
    return {"navigation": [(endpoint, label, url_for(endpoint)) for endpoint, label in items]}


def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def wants_json() -> bool:
    """API and webhook routes answer errors in JSON; pages answer in HTML."""
    return request.path.startswith(("/api/", "/webhooks/"))


def _http_error(error: HTTPException):
    if wants_json():
        return api_error(error.code or 500, error.description or error.name)
    return render_template("error.html", error=error), error.code


def _desk_error(error: DeskError):
    if wants_json():
        return api_error(error.status, str(error))
    if request.headers.get("HX-Request"):
        return render_template("_flash_error.html", message=str(error)), error.status
    return render_template("error.html", error=error, message=str(error)), error.status


def _database_busy(error: OperationalError):
    return busy_response(error, as_json=wants_json())


def busy_response(error: OperationalError, as_json: bool):
    """A lock or timeout held past the request's budget: 503 (retry later), never a 500."""
    from desk.extensions import db
    db.session.rollback()  # nothing half-written: the request's transaction is undone
    current_app.logger.warning("database busy: %s", str(error).splitlines()[0])
    message = "the database is busy; retry later"
    if as_json:
        response = api_error(503, message)
    else:
        from werkzeug.exceptions import ServiceUnavailable
        response = render_template("error.html", error=ServiceUnavailable(), message=message), 503
    response = current_app.make_response(response)
    response.headers["Retry-After"] = "5"
    return response
