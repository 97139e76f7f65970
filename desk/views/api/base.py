"""The blueprint, body parsing, idempotent POSTs and the token's own endpoints of the JSON API
(/api/v1/): bearer tokens only (so no CSRF), pydantic-validated bodies, problem details."""
import base64
from datetime import datetime
from functools import wraps

from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from werkzeug.exceptions import HTTPException

from desk.accounts import idempotency
from desk.channels.base import ParseError, load_json
from desk.core.clock import now as clock_now
from desk.core.errors import DeskError, problem
from desk.core.extensions import csrf, db
from desk.core.storable import any_unstorable
from desk.core.types import MAX_ID
from desk.views.access import token_required, token_scope, token_user
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
        raise BadBody(problem(400, "the body must be valid JSON (Content-Type: application/json)"))
    if any_unstorable(data):  # no database stores it: refuse it here, not with a 500 later
        raise BadBody(problem(422, "text must not contain NUL (\\u0000) characters "
                                     "or lone surrogates"))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadBody(problem(422, "the body does not match the schema", details=_details(exc)))
    except OverflowError:  # a validator's date arithmetic past year 1 or 9999
        raise BadBody(problem(422, "the body does not match the schema: a date is out of range"))


def optional_body(model: type[BaseModel]):
    """Like parse_body, but an empty body means the model's defaults."""
    if not request.get_data(cache=True).strip():
        return model()
    return parse_body(model)


def _details(exc: ValidationError) -> list[dict]:
    return [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)]


class PageArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt parameter is an error
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=100)


PAGE_PARAMS = [
    {"name": "limit", "in": "query", "required": False, "description": "1-200, default 50",
     "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    {"name": "cursor", "in": "query", "required": False,
     "description": "next_cursor from the previous page", "schema": {"type": "string"}}]


def encode_cursor(prefix: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{prefix}:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(prefix: str, raw: str | None) -> int | None:
    """The id a cursor of ours carries, or None without one; ValueError for anything else."""
    if not raw:
        return None
    try:
        value = base64.urlsafe_b64decode(raw.encode() + b"==").decode()
    except (ValueError, UnicodeDecodeError):
        value = ""
    head, _, number = value.partition(":")
    if head != prefix or not (number.isascii() and number.isdigit() and int(number) <= MAX_ID):
        raise ValueError("the cursor is not one this API gave out")
    return int(number)


def page_args(prefix: str) -> tuple[int, int | None]:
    """(limit, the id after which the page starts) from the query string; BadBody if wrong."""
    try:
        args = PageArgs.model_validate(request.args.to_dict())
        return args.limit, decode_cursor(prefix, args.cursor)
    except ValidationError as exc:
        raise BadBody(problem(422, "invalid query parameters", details=_details(exc)))
    except ValueError as exc:
        raise BadBody(problem(400, str(exc)))


def id_page(query, column, limit: int, after: int | None, prefix: str,
            newest_first: bool = False) -> tuple[list, str | None]:
    """One page of `query` in the order of its id `column`, starting after the cursor's id:
    (the rows, the next page's cursor or None)."""
    if after is not None:
        query = query.where(column < after if newest_first else column > after)
    order = column.desc() if newest_first else column
    rows = db.session.scalars(query.order_by(order).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(prefix, rows[-1].id) if more else None


class BadBody(Exception):
    def __init__(self, response):
        super().__init__("bad request body")
        self.response = response


@bp.errorhandler(BadBody)
def _bad_body(error: BadBody):
    return error.response


KEPT_HEADERS = ("Content-Type", "Location")  # what a replayed answer repeats


def idempotent(view):
    """POST decorator, under the token checks: with an `Idempotency-Key` header the first
    answer is stored per token and key with the request's fingerprint (method, path, body);
    a retry gets that answer again (`Idempotent-Replayed: true`) without acting twice, the
    same key with another request is 422, one still being answered is 409. A server error
    frees the key. Without the header the view just runs."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        key = key.strip()
        if not idempotency.valid_key(key):
            return problem(400, f"the Idempotency-Key must be 1-{idempotency.MAX_KEY_LENGTH} "
                                "printable ASCII characters")
        print_ = idempotency.fingerprint(request.method, request.path,
                                         request.get_data(cache=True))
        claim = idempotency.begin(g.api_token.id, key, print_, clock_now())
        if claim.outcome == "mismatch":
            return problem(422, "this Idempotency-Key was used for a different request; use a "
                                "new key for a new request",
                           type="urn:desk:problem:idempotency-key-reused")
        if claim.outcome == "busy":
            response = problem(409, "a request with this Idempotency-Key is still being "
                                    "answered; retry in a moment",
                               type="urn:desk:problem:idempotency-key-in-use")
            response.headers["Retry-After"] = "1"
            return response
        if claim.outcome == "replay":
            response = Response(claim.row.body, status=claim.row.status,
                                headers=claim.row.headers or {})
            response.headers["Idempotent-Replayed"] = "true"
            return response
        row_id = claim.row.id
        try:
            response = current_app.make_response(_answer(view, args, kwargs))
        except Exception:
            db.session.rollback()
            idempotency.abandon(row_id)
            raise
        db.session.rollback()  # whatever an error left half-done is not kept with the key
        if response.status_code >= 500:
            idempotency.abandon(row_id)
        else:
            kept = {h: response.headers[h] for h in KEPT_HEADERS if h in response.headers}
            idempotency.finish(row_id, response.status_code, response.get_data(as_text=True), kept)
        return response
    return wrapped


def agent_post(scope: str):
    """The checks of a POST that acts as the token's user: a live token within its rate limit,
    the scope (capped by the user's role), a user to act as, and the Idempotency-Key."""
    def decorator(view):
        return token_required(token_scope(scope)(token_user(idempotent(view))))
    return decorator


def _answer(view, args, kwargs):
    """The view's answer, its errors turned into responses here so that they are kept too."""
    try:
        return view(*args, **kwargs)
    except BadBody as error:
        return error.response
    except DeskError as error:
        return problem(error.status, str(error))
    except HTTPException as error:
        if (error.code or 500) >= 500:
            raise
        return problem(error.code, error.description or error.name)


class TokenInfo(BaseModel):
    token_id: int
    name: str
    user: str | None
    scopes: list[str]
    expires_at: datetime | None


document("/me", "get", "The token making the call", response=TokenInfo, response_example={
    "token_id": 4, "name": "crm bridge", "user": "ana@desk.example",
    "scopes": ["read", "write:tickets"], "expires_at": None})


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
