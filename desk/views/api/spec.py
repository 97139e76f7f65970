"""The OpenAPI document for /api/v1/, built from the pydantic models the views validate with."""
from pydantic import BaseModel, ConfigDict, Field

from desk.accounts.idempotency import MAX_KEY_LENGTH
from desk.accounts.tokens import SCOPES
from desk.core.errors import PROBLEM_TYPE

_paths: dict[str, dict] = {}
_models: dict[str, type[BaseModel]] = {}

ERROR_REF = {"$ref": "#/components/schemas/Problem"}
RATE_HEADERS = {name: {"description": text, "schema": {"type": "integer"}} for name, text in (
    ("RateLimit-Limit", "calls allowed per window for this token"),
    ("RateLimit-Remaining", "calls left in this window"),
    ("RateLimit-Reset", "seconds until the window ends"))}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": ("Any unique string (a UUID) per intended request. A retry with the same key "
                    "gets the first answer again (`Idempotent-Replayed: true`) and acts once; the "
                    "same key with another body is 422; a retry while the first is still being "
                    "answered is 409. Keys are kept 24 hours per token."),
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH,
               "pattern": "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$"},
    "example": "5f0c6c1e-8d1b-4c55-a4f4-2b1e6f1f0a77"}


class Problem(BaseModel):
    """Problem details (RFC 9457); some problems add members (`details`, `replies`)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "type": "about:blank", "title": "Not Found", "status": 404, "detail": "no ticket 7",
        "error": "no ticket 7"}]})
    type: str = Field("about:blank", description="a URI naming the kind of problem")
    title: str
    status: int
    detail: str
    error: str = Field(description="the detail again, for clients older than problem details")


def _schema_ref(model: type[BaseModel]) -> dict:
    _models[model.__name__] = model
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def document(path: str, method: str, summary: str, *, request: type[BaseModel] | None = None,
             response: type[BaseModel] | None = None, status: int = 200,
             parameters: list[dict] | None = None, errors: tuple[int, ...] = (400, 401),
             scope: str | None = None, example: dict | None = None,
             response_example: dict | None = None, description: str = "",
             as_user: bool = False) -> None:
    """Describe one operation; `path` is relative to /api/v1 and uses {name} parameters;
    `scope` is the token scope it needs (a 403 otherwise); `as_user` if it acts as a person
    (a token for no user gets 403). `example` is a request body, `response_example` an answer.
    Every POST takes an Idempotency-Key; every call may be rate-limited (429)."""
    method = method.lower()
    operation: dict = {"summary": summary, "security": [{"bearer": [scope] if scope else []}],
                       "parameters": list(parameters or []), "responses": {}}
    notes = [description] if description else []
    errors = set(errors) | {401, 429}
    if scope:
        notes.append(f"Needs a token with the scope `{scope}`, whose user (if any) has the role "
                     f"{SCOPES[scope]} or above; 403 otherwise.")
        errors.add(403)
    if as_user:
        notes.append("Acts as the token's user, with the same rules as in the interface; a "
                     "token made for no user gets 403.")
        errors.add(403)
    if method == "post":
        operation["parameters"].append(IDEMPOTENCY_KEY)
        errors |= {400, 409, 422}
    if notes:
        operation["description"] = " ".join(notes)
    if request is not None:
        media = {"schema": _schema_ref(request)}
        if example is not None:
            media["example"] = example
        operation["requestBody"] = {"required": True, "content": {"application/json": media}}
    body = {"schema": _schema_ref(response)} if response else {}
    if response and response_example is not None:
        body["example"] = response_example
    operation["responses"][str(status)] = {
        "description": "OK", "headers": RATE_HEADERS,
        **({"content": {"application/json": body}} if body else {})}
    for code in sorted(errors):
        operation["responses"][str(code)] = {"description": "Error", "content": {
            PROBLEM_TYPE: {"schema": ERROR_REF}}}
    _paths.setdefault("/api/v1" + path, {})[method] = operation


def openapi() -> dict:
    """The whole OpenAPI 3.1 document."""
    schemas = {"Problem": Problem.model_json_schema()}
    for name, model in _models.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    return {
        "openapi": "3.1.0",
        "info": {"title": "desk API", "version": "1", "description": (
            "Bearer tokens (`Authorization: Bearer desk_...`). A token holds scopes, each capped "
            "by the role its user needs for the same thing in the interface: "
            + "; ".join(f"`{s}` ({role} or above)" for s, role in SCOPES.items())
            + ". A revoked or expired token, or one whose user is deactivated, gets 401; a call "
              "outside the token's scopes or its user's role gets 403. Errors are problem details "
              "(`application/problem+json`, RFC 9457). Every POST takes an `Idempotency-Key`. "
              "Lists page by cursor: pass `next_cursor` back as `cursor`. Each token has a rate "
              "limit over all operations, told in the `RateLimit-*` headers (429 past it).")},
        "paths": _paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }
