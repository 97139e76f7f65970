"""Restore drill (README, Backups): back up a running desk the way the README says, restore
the copy into a fresh database, and check the desk serves the same tickets from it.

PostgreSQL: `pg_dump -Fc` while the desk runs, `pg_restore` into a new database. SQLite:
`sqlite3 desk.sqlite3 ".backup copy.sqlite3"` while the desk runs."""
import subprocess
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from desk import create_app
from desk.core.extensions import db
from desk.inbox.tickets import Message
from tests.conftest import DB_BACKEND, app_config

pytestmark = pytest.mark.faults


def _backup(source_url: str, target_url: str, folder) -> None:
    if DB_BACKEND == "sqlite":
        source, target = make_url(source_url).database, make_url(target_url).database
        subprocess.run(["sqlite3", source, f".backup {target}"], check=True, timeout=60)
        return
    dump = folder / "desk.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), _libpq(source_url)], check=True, timeout=120)
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "-d", _libpq(target_url), str(dump)],
                   check=True, timeout=120)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _served(app, token: str) -> list[dict]:
    """Every ticket the API serves, in full with its clocks (less the live SLA state, which
    is computed at request time), and how many messages it holds."""
    client, rows, cursor = app.test_client(), [], None
    while True:
        query = "/api/v1/tickets?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(query, headers={"Authorization": f"Bearer {token}"})
        assert page.status_code == 200, page.get_data(as_text=True)
        body = page.get_json()
        for ticket in body["tickets"]:
            detail = client.get(f"/api/v1/tickets/{ticket['id']}",
                                headers={"Authorization": f"Bearer {token}"}).get_json()
            detail["sla"].pop("state")
            detail["messages"] = db.session.scalar(
                select(func.count()).select_from(Message).where(Message.ticket_id == ticket["id"]))
            rows.append(detail)
        cursor = body.get("next_cursor")
        if not cursor:
            return rows


def test_a_backup_of_a_running_desk_restores_and_serves_the_same_tickets(
        new_database_url, redis_server, tmp_path):
    live = create_app({**app_config(new_database_url(), redis_server), "SANDBOX": True})
    runner = live.test_cli_runner()
    assert runner.invoke(args=["init-db"], catch_exceptions=False).exit_code == 0
    seeded = runner.invoke(args=["seed-demo", "--tickets", "40"], catch_exceptions=False)
    assert seeded.exit_code == 0, seeded.output
    token = runner.invoke(args=["create-token", "drill", "--user", "admin@desk.demo"],
                          catch_exceptions=False)
    assert token.exit_code == 0, token.output
    secret = next(word for word in token.output.split() if word.startswith("desk_"))
    with live.app_context():
        before = _served(live, secret)
        restored_url = new_database_url()
        # The copy is taken while the live desk holds an open connection (it keeps running).
        with db.engine.connect():
            _backup(live.config["SQLALCHEMY_DATABASE_URI"], restored_url, tmp_path)
        db.engine.dispose()
    assert len(before) >= 40

    restored = create_app(app_config(restored_url, redis_server))
    again = restored.test_cli_runner().invoke(args=["init-db"], catch_exceptions=False)
    assert again.exit_code == 0  # already at the newest schema: nothing to do
    with restored.app_context():
        assert _served(restored, secret) == before
        db.engine.dispose()
