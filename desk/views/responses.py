"""What every response shares: security headers, and error answers (JSON for the API and
webhooks, a page or an htmx flash for people)."""
from flask import current_app, has_request_context, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from desk.core.errors import DeskError, api_error, problem
from desk.core.extensions import db

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; "
       "object-src 'none'")


def register(app) -> None:
    app.after_request(security_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DeskError, _desk_error)
    app.register_error_handler(OperationalError, _database_busy)


def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def wants_json() -> bool:
    """API and webhook routes answer errors in JSON; pages answer in HTML."""
    return request.path.startswith(("/api/", "/webhooks/"))


def json_error(status: int, message: str):
    """The API answers problem details (RFC 9457); the webhooks keep their plain JSON (their
    ingress answers outside a request context, desk/views/hooks.py)."""
    if has_request_context() and request.path.startswith("/api/"):
        return problem(status, message)
    return api_error(status, message)


def _http_error(error: HTTPException):
    if wants_json():
        response = json_error(error.code or 500, error.description or error.name)
        for name, value in error.get_headers():  # Retry-After of a 429, Allow of a 405
            if name.lower() != "content-type":
                response.headers[name] = value
        return response
    return render_template("error.html", error=error), error.code


def _desk_error(error: DeskError):
    if wants_json():
        return json_error(error.status, str(error))
    if request.headers.get("HX-Request"):
        return render_template("_flash_error.html", message=str(error)), error.status
    return render_template("error.html", error=error, message=str(error)), error.status


def _database_busy(error: OperationalError):
    return busy_response(error, as_json=wants_json())


def busy_response(error: OperationalError, as_json: bool):
    """A lock or timeout held past the request's budget: 503 (retry later), never a 500."""
    db.session.rollback()  # nothing half-written: the request's transaction is undone
    current_app.logger.warning("database busy: %s", str(error).splitlines()[0])
    message = "the database is busy; retry later"
    if as_json:
        response = json_error(503, message)
    else:
        response = render_template("error.html", error=ServiceUnavailable(), message=message), 503
    response = current_app.make_response(response)
    response.headers["Retry-After"] = "5"
    return response
