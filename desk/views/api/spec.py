"""The OpenAPI document for /api/v1/, built from the pydantic models the views validate with."""
from pydantic import BaseModel

from desk.accounts.tokens import SCOPES

_paths: dict[str, dict] = {}
_models: dict[str, type[BaseModel]] = {}

ERROR_REF = {"$ref": "#/components/schemas/Error"}


class Error(BaseModel):
    error: str


def _schema_ref(model: type[BaseModel]) -> dict:
    _models[model.__name__] = model
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def document(path: str, method: str, summary: str, *, request: type[BaseModel] | None = None,
             response: type[BaseModel] | None = None, status: int = 200,
             parameters: list[dict] | None = None, errors: tuple[int, ...] = (400, 401),
             scope: str | None = None) -> None:
    """Describe one operation; `path` is relative to /api/v1 and uses {name} parameters;
    `scope` is the token scope it needs (a 403 otherwise)."""
    operation: dict = {"summary": summary, "security": [{"bearer": [scope] if scope else []}],
                       "parameters": parameters or [], "responses": {}}
    if scope:
        operation["description"] = (f"Needs a token with the scope `{scope}`, whose user (if any) "
                                    f"has the role {SCOPES[scope]} or above; 403 otherwise.")
        errors = tuple(sorted(set(errors) | {403}))
    if request is not None:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _schema_ref(request)}}}
    body = {"content": {"application/json": {"schema": _schema_ref(response)}}} if response else {}
    operation["responses"][str(status)] = {"description": "OK", **body}
    for code in errors:
        operation["responses"][str(code)] = {"description": "Error", "content": {
            "application/json": {"schema": ERROR_REF}}}
    _paths.setdefault("/api/v1" + path, {})[method.lower()] = operation


def openapi() -> dict:
    """The whole OpenAPI 3.1 document."""
    schemas = {"Error": Error.model_json_schema()}
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
              "outside the token's scopes or its user's role gets 403.")},
        "paths": _paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }
