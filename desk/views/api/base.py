"""The blueprint, body parsing and the token's own endpoints of the JSON API (/api/v1/):
bearer tokens only (so no CSRF), pydantic-validated bodies."""
from datetime import datetime

from flask import Blueprint, g, jsonify, request
from pydantic import BaseModel, ValidationError

from desk.channels.base import ParseError, load_json
from desk.core.errors import api_error
from desk.core.extensions import csrf
from desk.core.storable import any_unstorable
from desk.views.access import token_required
from desk.views.api.spec import document, openapi

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def json_body():
    """The request's JSON, or None if absent or unreadable (absurd nesting included: plain
    get_json would recurse into a RecursionError, a 500)."""
    try:
        return load_json(request.get_data(cache=True)) if request.is_json else None
    except ParseError:
        return None


def parse_body(model: type[BaseModel]):
    """The request's JSON validated by `model`; raises BadBody with a 400/422 response."""
    data = json_body()
    if data is None:
        raise BadBody(api_error(400, "the body must be valid JSON (Content-Type: application/json)"))
    if any_unstorable(data):  # no database stores it: refuse it here, not with a 500 later
        raise BadBody(api_error(422, "text must not contain NUL (\\u0000) characters "
                                     "or lone surrogates"))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                   for e in exc.errors(include_url=False, include_input=False)]
        raise BadBody(api_error(422, "the body does not match the schema", details=details))


class BadBody(Exception):
    def __init__(self, response):
        super().__init__("bad request body")
        self.response = response


@bp.errorhandler(BadBody)
def _bad_body(error: BadBody):
    return error.response


class TokenInfo(BaseModel):
    token_id: int
    name: str
    user: str | None
    scopes: list[str]
    expires_at: datetime | None


document("/me", "get", "The token making the call", response=TokenInfo)


@bp.get("/me")
@token_required
def me():
    token = g.api_token
    return jsonify(TokenInfo(token_id=token.id, name=token.name,
                             user=token.user.email if token.user else None,
                             scopes=token.scope_list, expires_at=token.expires_at).model_dump(mode="json"))


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(openapi())
