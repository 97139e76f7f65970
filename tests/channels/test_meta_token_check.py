"""The daily Meta token check: a dead token fails its channel before a reply does; one about
to expire warns the admins once. Against tests/fakeplatform.py."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from desk.channels.accounts import Channel
from desk.channels.tokens import check_meta_tokens
from desk.core.extensions import db
from desk.notify.notifications import Notification

UTC = timezone.utc
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def _connect(platform, account, token):
    channel = Channel(platform=platform, account_id=account, name=f"Tienda {account}",
                      created_at=T0)
    channel.access_token = token
    db.session.add(channel)
    db.session.commit()
    return channel.id


@pytest.fixture
def with_app_id(app_ctx, fake_platform):
    app_ctx.config["META_APP_ID"] = "meta-app-id"
    yield fake_platform
    app_ctx.config["META_APP_ID"] = ""


def test_debug_token_fails_dead_tokens_and_warns_of_expiring_ones(app_ctx, with_app_id,
                                                                   make_user):
    fake = with_app_id
    admin, lead = make_user("admin"), make_user("lead")
    soon = _connect("facebook", "page-1", "tok-soon")
    never = _connect("whatsapp", "1055", "tok-never")
    dead = _connect("instagram", "ig-9", "tok-dead")
    fake.token_info.update({
        "tok-soon": {"is_valid": True, "expires_at": int((T0 + timedelta(days=3)).timestamp())},
        "tok-never": {"is_valid": True, "expires_at": 0}})
    assert check_meta_tokens(T0, app_ctx.config) == {"expiring": 1, "ok": 1, "failing": 1}
    assert [(c["path"], c["query"], c["headers"]["Authorization"]) for c in fake.calls] == [
        ("/graph/debug_token", {"input_token": token}, "Bearer meta-app-id|meta-app-secret")
        for token in ("tok-soon", "tok-never", "tok-dead")]
    rows = {c.id: c for c in db.session.scalars(select(Channel))}
    assert rows[soon].token_expires_at == T0 + timedelta(days=3)
    assert rows[never].token_expires_at is None and rows[never].state == "connected"
    assert rows[dead].state == "failing"
    assert "no longer valid (Invalid OAuth access token.)" in rows[dead].failing_reason
    # Again the next day: the failing channel is left alone, the warning is not repeated.
    assert check_meta_tokens(T0 + timedelta(days=1), app_ctx.config) == {"expiring": 1, "ok": 1}
    warnings = db.session.execute(select(Notification.user_id, Notification.text).where(
        Notification.kind == "token_expiring")).all()
    assert [w[0] for w in warnings] == [admin.id]
    assert warnings[0][1].startswith("The access token of Tienda page-1 (facebook) expires on "
                                     "2026-11-05 (UTC)")
    assert lead.id not in {n.user_id for n in db.session.scalars(select(Notification))
                           if n.kind == "token_expiring"}


def test_without_an_app_id_the_identity_call_checks_the_token(app_ctx, fake_platform):
    good = _connect("facebook", "page-1", "tok-good")
    revoked = _connect("facebook", "page-2", "tok-revoked")
    fake_platform.accounts["tok-good"] = {"id": "page-1", "name": "Tienda"}
    fake_platform.revoked.add("tok-revoked")
    assert check_meta_tokens(T0, app_ctx.config) == {"ok": 1, "failing": 1}
    assert [(c["path"], c["headers"]["Authorization"]) for c in fake_platform.calls] == [
        ("/graph/me", "Bearer tok-good"), ("/graph/me", "Bearer tok-revoked")]
    assert db.session.get(Channel, good).state == "connected"
    assert db.session.get(Channel, revoked).state == "failing"
