"""The OpenAPI document for /api/v1/, built from the pydantic models the views validate with."""
from pydantic import BaseModel

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
             parameters: list[dict] | None = None, errors: tuple[int, ...] = (400, 401)) -> None:
    """Describe one operation; `path` is relative to /api/v1 and uses {name} parameters."""
    operation: dict = {"summary": summary, "security": [{"bearer": []}],
                       "parameters": parameters or [], "responses": {}}
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
        "info": {"title": "desk API", "version": "1"},
        "paths": _paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }
