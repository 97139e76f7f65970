"""Domain errors that views map to HTTP answers, and the API's one JSON error shape."""
from flask import jsonify


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
