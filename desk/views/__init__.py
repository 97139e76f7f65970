"""Blueprints, navigation, error pages and the headers every response carries."""
from flask import Request, current_app, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from desk.channels.accounts import failing_channels
from desk.core.types import MAX_ID
from desk.views import (
    account,
    admin,
    api,
    audit_log,
    auth,
    board,
    customers,
    escalations,
    filters,
    hooks,
    inbox,
    inputs,
    macros,
    main,
    media,
    notifications,
    replies,
    reports,
    responses,
    routing,
    sla,
    survey,
    tickets,
    tokens,
    whatsapp,
)

# (endpoint, label, lowest role that sees it)
NAVIGATION = [
    ("inbox.index", _l("Inbox"), "cm"),
    ("customers.index", _l("Customers"), "cm"),
    ("board.index", _l("SLA board"), "lead"),
    ("routing.settings", _l("Routing"), "lead"),
    ("escalations.index", _l("Escalations"), "lead"),
    ("replies.library", _l("Canned replies"), "cm"),
    ("macros.index", _l("Macros"), "cm"),
    ("reports.service", _l("Service report"), "smm"),
    ("sla.policies", _l("SLA policies"), "smm"),
    ("admin.users", _l("Admin"), "admin"),
]

BLUEPRINTS = (auth.bp, account.bp, main.bp, admin.bp, api.bp, hooks.bp, inbox.bp, tickets.bp,
              replies.bp, board.bp, sla.bp, escalations.bp, notifications.bp, reports.bp,
              survey.bp, tokens.bp, audit_log.bp, routing.bp, macros.bp, customers.bp, whatsapp.bp,
              media.bp)

def digits_at_most(limit: int) -> str:
    """A regular expression for the decimal numbers 0..limit (leading zeros up to its width)."""
    text = str(limit)
    parts = [rf"\d{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    for i, digit in enumerate(text):
        if digit != "0":
            parts.append(f"{text[:i]}[0-{int(digit) - 1}]" + (rf"\d{{{len(text) - i - 1}}}"
                                                              if i < len(text) - 1 else ""))
    parts.append(text)
    return "(?:" + "|".join(parts) + ")"


class IdConverter(IntegerConverter):
    """`<int:...>` ids past an id column (/tickets/99999999999999999999) are a 404, not an
    overflow error (500) in the database driver. The limit is in the pattern itself, so such
    a path matches no rule at all (a check after matching made a 405 where another method's
    rule shares the path)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
        if self.max == MAX_ID and not self.signed and self.min is None:
            self.regex = digits_at_most(MAX_ID)


# Forms that carry a file an agent sends: a larger body than the desk's default, known from
# the endpoint before anything (the CSRF check included) reads the form.
# (The API takes the file in base64: a third larger.)
UPLOAD_ENDPOINTS = ("tickets.reply", "replies.edit", "api.post_reply")


class DeskRequest(Request):
    @property
    def max_content_length(self) -> int | None:
        if self.endpoint in UPLOAD_ENDPOINTS and current_app:
            return int(current_app.config["ATTACHMENT_MAX_BYTES"]) * 4 // 3 + 256 * 1024
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value) -> None:
        Request.max_content_length.fset(self, value)


def register_views(app) -> None:
    app.request_class = DeskRequest
    app.url_map.converters["int"] = IdConverter
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.context_processor(_navigation)
    app.before_request(account.require_two_factor)
    app.jinja_env.globals["get_locale"] = get_locale
    app.wsgi_app = hooks.WebhookIngress(app, app.wsgi_app)
    inputs.register(app)
    responses.register(app)
    filters.register(app)


def _navigation():
    if not current_user.is_authenticated:
        return {"navigation": []}
    items = [(endpoint, label) for endpoint, label, role in NAVIGATION
             if current_user.has_role(role)]
    return {"navigation": [(endpoint, label, url_for(endpoint)) for endpoint, label in items],
            "failing_channels": _failing_channels}


def _failing_channels() -> list:
    """Channels whose token the platform refuses, for leads and above (the banner in
    base.html; called only when a whole page is drawn, not for fragments)."""
    return failing_channels() if current_user.has_role("lead") else []
