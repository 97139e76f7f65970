"""schemathesis against /api/v1/openapi.json through the app's WSGI interface: with a valid
bearer token, every documented operation answers no 5xx and matches its documented schema
(status code, content type and body). Bounded: 25 examples per operation.
Every operation the blueprint routes is documented, so every one is walked."""
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from desk.accounts.tokens import create_api_token
from tests.factories import make_channel, make_ticket


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def bearer(app_ctx, make_user, monkeypatch):
    """A token, and a little data so that list and detail operations return real rows."""
    # Every operation but the admin-only webhook ones (a documented 403 here: their URL check
    # would resolve random host names) answers in full, the SMM-only report included.
    user = make_user("smm")
    from desk.accounts.users import User
    from desk.core.extensions import db
    _, secret = create_api_token("schemathesis", db.session.get(User, user.id))
    channel = make_channel("facebook", "schema-page")
    for text in ("¿Dónde está mi pedido? 😀", "<b>hola</b>", "order 1"):
        make_ticket(text, channel=channel)
    monkeypatch.setitem(app_ctx.config, "API_RATE_LIMIT", "100000 per minute")
    return {"Authorization": f"Bearer {secret}"}


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _openapi_path(rule: str) -> str:
    """/api/v1/tickets/<int:ticket_id> -> /api/v1/tickets/{ticket_id}"""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


@pytest.mark.security
def test_api_operations_never_fail_and_match_their_schema(app_ctx, api_schema, bearer):
    # One test walks every operation: schemathesis' pytest loader (from_fixture) does not
    # work on pytest 9, and the schema needs the session's app.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    documented = {(op.method.upper(), op.path) for op in operations}
    routed = {(method, _openapi_path(rule.rule)) for rule in app_ctx.url_map.iter_rules()
              if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi_json"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed == documented  # every operation is in the document, and walked below
    failures = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def run(case):
            case.call_and_validate(headers=bearer, checks=CHECKS)
        try:
            run()
        except Exception as exc:  # collect every operation's failure, not just the first
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def test_every_operation_has_examples_that_fit_its_schemas(app):
    """Each operation shows its answer, and each body it takes, by an example that validates."""
    from desk.views.api.spec import _models, openapi

    def model(content: dict):
        return _models[content["schema"]["$ref"].rsplit("/", 1)[1]]

    document = openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                media = operation["requestBody"]["content"]["application/json"]
                model(media).model_validate(media["example"])
            answers = [a for code, a in operation["responses"].items() if code.startswith("2")]
            media = answers[0]["content"]["application/json"]
            assert "example" in media, (method, path)
            model(media).model_validate(media["example"])
            if method == "post":
                assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
