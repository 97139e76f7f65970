"""Migration 9d4e6b1f2a70: plaintext channel tokens become encrypted, and back on downgrade."""
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from desk import create_app
from desk.core import crypto
from desk.core.extensions import db
from tests.conftest import app_config


def test_plaintext_tokens_are_encrypted_and_decrypted_back(empty_database_url, redis_server):
    app = create_app(app_config(empty_database_url, redis_server))
    with app.app_context():
        upgrade(revision="7a3c91d4e2f0")
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO channel (platform, account_id, name, access_token, active, created_at) "
                "VALUES ('facebook', 'page-1', 'Shop', 'EAAB-plain-token-9876', :t, :c), "
                "('x', 'x-1', 'Shop X', NULL, :t, :c)"), {"t": True, "c": "2026-11-02 10:00:00"})
        upgrade(revision="9d4e6b1f2a70")
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT account_id, access_token_encrypted, token_last4, state "
                                     "FROM channel ORDER BY account_id")).all()
        assert [(r[0], r[2], r[3]) for r in rows] == [("page-1", "9876", "connected"),
                                                      ("x-1", None, "connected")]
        assert "plain" not in rows[0][1] and crypto.decrypt(rows[0][1]) == "EAAB-plain-token-9876"
        assert rows[1][1] is None
        downgrade(revision="7a3c91d4e2f0")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT access_token FROM channel ORDER BY account_id")
                                ).scalars().all() == ["EAAB-plain-token-9876", None]
        db.engine.dispose()
