"""Customer activity: the API (one or a batch, idempotent, 422s) and the CSV import."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from desk.accounts.tokens import create_api_token
from desk.core.extensions import db
from desk.feedback.activity import ActivityEvent
from tests.factories import make_customer


@pytest.fixture
def auth(app_ctx):
    _token, raw = create_api_token("shop")
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def lucia(app_ctx):
    customer = make_customer(name="Lucía Pérez", platform="instagram", email="Lucia@Example.com")
    return customer, customer.identities[0].platform_user_id


def count():
    return db.session.scalar(select(func.count(ActivityEvent.id)))


def test_one_event_matched_by_platform_identity(client, auth, lucia):
    customer, user_id = lucia
    response = client.post("/api/v1/activity", headers=auth, json={
        "kind": "purchase", "occurred_at": "2026-06-01T10:00:00Z", "platform": "instagram",
        "platform_user_id": user_id, "external_id": "order-1", "data": {"amount": 42.5, "nota": "añadido 👍"}})
    assert response.status_code == 200 and response.json["imported"] == 1
    event = db.session.scalar(select(ActivityEvent))
    assert event.customer_id == customer.id and event.kind == "purchase"
    assert event.occurred_at == datetime(2026, 6, 1, 10, tzinfo=timezone.utc)
    assert event.data == {"amount": 42.5, "nota": "añadido 👍"}


def test_batch_by_email_with_duplicates_and_unmatched(client, auth, lucia):
    customer, _ = lucia
    body = {"events": [
        {"kind": "visit", "occurred_at": "2026-06-02T09:00:00+02:00", "email": "lucia@example.COM", "external_id": "v-1"},
        {"kind": "visit", "occurred_at": "2026-06-02T09:00:00+02:00", "email": "lucia@example.com", "external_id": "v-1"},
        {"kind": "sign-up", "occurred_at": "2026-06-03T09:00:00", "email": "nobody@example.com"},
        {"kind": "purchase", "occurred_at": "2999-01-01T00:00:00Z", "email": "lucia@example.com"},
    ]}
    response = client.post("/api/v1/activity", headers=auth, json=body)
    assert response.status_code == 200
    assert {k: response.json[k] for k in ("imported", "duplicate", "unmatched", "rejected")} == \
        {"imported": 1, "duplicate": 1, "unmatched": 1, "rejected": 1}
    assert [r["status"] for r in response.json["results"]] == ["imported", "duplicate", "unmatched", "rejected"]
    again = client.post("/api/v1/activity", headers=auth, json=body["events"][0])
    assert again.json["duplicate"] == 1 and count() == 1
    event = db.session.scalar(select(ActivityEvent))
    assert event.customer_id == customer.id
    assert event.occurred_at == datetime(2026, 6, 2, 7, tzinfo=timezone.utc)


@pytest.mark.parametrize("body", [
    {"occurred_at": "2026-06-01T10:00:00Z", "email": "a@b.c"},  # no kind
    {"kind": "visit", "occurred_at": "yesterday", "email": "a@b.c"},
    {"kind": "visit", "occurred_at": "2026-06-01T10:00:00Z"},  # no identity
    {"kind": "visit", "occurred_at": "2026-06-01T10:00:00Z", "email": "a@b.c", "customer_id": 1},
    {"kind": "x" * 41, "occurred_at": "2026-06-01T10:00:00Z", "email": "a@b.c"},
    {"events": []},
    [1, 2],
])
def test_bad_bodies_are_422_and_write_nothing(client, auth, body):
    response = client.post("/api/v1/activity", headers=auth, json=body)
    assert response.status_code == 422 and response.json["error"]
    assert count() == 0


def test_needs_a_token_and_json(client, auth):
    assert client.post("/api/v1/activity", json={}).status_code == 401
    assert client.post("/api/v1/activity", headers=auth, data="kind=visit").status_code == 400


def test_documented_in_openapi(client):
    spec = client.get("/api/v1/openapi.json").json
    assert "post" in spec["paths"]["/api/v1/activity"]
    assert "get" in spec["paths"]["/api/v1/reports/service"]


# --- CSV import ----------------------------------------------------------------------------

@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def test_csv_import_summary_with_lines_and_reasons(cli, lucia, tmp_path):
    _customer, user_id = lucia
    path = tmp_path / "activity.csv"
    path.write_text(
        "kind,occurred_at,platform,platform_user_id,email,external_id,amount\n"
        f"purchase,2026-06-01T10:00:00Z,instagram,{user_id},,o-1,19.90\n"
        f"purchase,2026-06-01T10:00:00Z,instagram,{user_id},,o-1,19.90\n"
        "visit,2026-06-02 08:00,,,LUCIA@example.com,,\n"
        "visit,not a date,,,lucia@example.com,,\n"
        "visit,2026-06-02 08:00,,,ghost@example.com,,\n"
        "visit,2026-06-02\n", encoding="utf-8")
    result = cli("import-activity", str(path))
    assert result.exit_code == 0, result.output
    assert "2 imported, 1 duplicate, 1 unmatched, 2 rejected" in result.output
    assert "line 5: rejected: occurred_at is not a date/time" in result.output
    assert "line 6: unmatched" in result.output and "line 7: rejected" in result.output
    assert count() == 2
    purchase = db.session.scalar(select(ActivityEvent).where(ActivityEvent.kind == "purchase"))
    assert purchase.data == {"amount": "19.90"} and purchase.source == "import"
    again = cli("import-activity", str(path))
    assert "1 imported, 2 duplicate" in again.output and count() == 3  # no id: no idempotency


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b"kind,when\nvisit,2026-06-01\n", "the header needs"),
    (b"kind,occurred_at\nvisit,2026-06-01\n", "the header needs"),
    (b"kind,occurred_at,email\n\xff\xfe\x00bad", "not a UTF-8 CSV"),
])
def test_bad_file_fails_clearly_and_writes_nothing(cli, app_ctx, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = cli("import-activity", str(path))
    assert result.exit_code != 0 and message in result.output
    assert count() == 0


def test_missing_file(cli, app_ctx, tmp_path):
    result = cli("import-activity", str(tmp_path / "nope.csv"))
    assert result.exit_code != 0 and "no such file" in result.output
