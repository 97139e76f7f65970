"""One check before every view: a request whose parameters, form fields or JSON hold text no
database can store (NUL, lone surrogates; core/storable.py) is refused with a 400 and a
message, answered like any other DeskError (views/responses.py), never a 500 from the driver.

Webhook deliveries never get here: they are stored in front of Flask and made storable where
they are stored (views/hooks.py, intake/events.py). API bodies are checked by their schema
(views/api/base.py parse_body: 422), so only their parameters are checked here.
"""
from flask import request
from flask_babel import gettext as _

from desk.channels.base import ParseError, load_json
from desk.core.errors import DeskError
from desk.core.storable import any_unstorable, unstorable


class UnstorableInput(DeskError):
    """A parameter, form field or JSON value the desk cannot store (400)."""


def register(app) -> None:
    app.before_request(refuse_unstorable)


def refuse_unstorable() -> None:
    """Raise UnstorableInput if any parameter or field (names included) cannot be stored."""
    if _any_field(request.args) or _any_field(request.form) or _json_unstorable():
        raise UnstorableInput(_("The request holds characters that cannot be stored (a NUL "
                                "character or a broken one); remove them and try again."))


def _any_field(fields) -> bool:
    return any(unstorable(name) or any(unstorable(value) for value in fields.getlist(name))
               for name in fields)


def _json_unstorable() -> bool:
    if not request.is_json or request.path.startswith("/api/"):
        return False
    try:
        return any_unstorable(load_json(request.get_data(cache=True)))
    except ParseError:  # unreadable JSON is the view's to refuse, as before
        return False
