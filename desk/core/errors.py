"""Domain errors that views map to HTTP answers, and the error shapes: problem details
(RFC 9457) for the JSON API, plain JSON for the webhooks."""
from http import HTTPStatus

from flask import jsonify

PROBLEM_TYPE = "application/problem+json"


class DeskError(Exception):
    """A domain rule was broken; views map it to a 4xx with this message."""

    status = 400


class NotFound(DeskError):
    status = 404


class Conflict(DeskError):
    status = 409


def api_error(status: int, message: str, **extra):
    """A JSON error response in the API's one shape."""
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


def problem(status: int, detail: str, *, type: str = "about:blank", title: str | None = None,
            **extra):
    """An `application/problem+json` response (RFC 9457): type, title, status, detail and any
    extension members. `error` repeats the detail for clients written before problem details."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    response = jsonify({"type": type, "title": title or phrase, "status": status,
                        "detail": detail, "error": detail, **extra})
    response.status_code = status
    response.mimetype = PROBLEM_TYPE
    return response
