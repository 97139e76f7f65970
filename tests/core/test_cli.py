"""The `desk` command: users, tokens, channels, schema; errors exit non-zero with a message."""
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from desk.accounts.tokens import ApiToken, token_for_secret
from desk.accounts.users import User
from desk.channels.accounts import Channel
from desk.core.extensions import db


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args, input=None, env=None):
        return runner.invoke(args=list(args), input=input, env=env, catch_exceptions=False)
    return invoke


STRONG = "tangerine ladder whistles"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_create_user_with_each_role(cli, app_ctx):
    for role in ("cm", "lead", "smm", "admin"):
        result = cli("create-user", f"{role}@desk.test", "--role", role, "--password", STRONG)
        assert result.exit_code == 0, result.output
        assert f"created {role} {role}@desk.test" in result.output
    assert {u.role for u in db.session.scalars(select(User))} == {"cm", "lead", "smm", "admin"}


def test_create_user_prompts_for_the_password(cli, app_ctx):
    result = cli("create-user", "ana@desk.test", "--role", "cm", input=f"{STRONG}\n{STRONG}\n")
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User).where(User.email == "ana@desk.test")) is not None


def test_create_user_unknown_role_fails_cleanly(cli, app_ctx):
    result = cli("create-user", "x@desk.test", "--role", "boss", "--password", STRONG)
    assert result.exit_code != 0
    assert "boss" in result.output and "cm" in result.output
    assert count(User) == 0


def test_create_user_duplicate_fails_cleanly(cli, app_ctx):
    assert cli("create-user", "ana@desk.test", "--role", "cm", "--password", STRONG).exit_code == 0
    result = cli("create-user", "ANA@desk.test", "--role", "lead", "--password", STRONG)
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert count(User) == 1 and db.session.scalar(select(User.role)) == "cm"


def test_set_password_applies_the_rules_and_ends_sessions(cli, app, client, make_user, login):
    user = make_user("admin")
    login(user)
    with app.app_context():
        assert cli("set-password", user.email, "--password", "password1234").exit_code == 1
        result = cli("set-password", user.email.upper(), "--password", STRONG)
        assert result.exit_code == 0, result.output
        assert cli("set-password", "nobody@desk.test", "--password", STRONG).exit_code == 1
    assert client.get("/preferences").status_code == 302
    assert login(user, password=STRONG, active_client=app.test_client()).status_code == 302


def test_create_user_short_password_and_bad_email(cli, app_ctx):
    assert "10 characters" in cli("create-user", "a@desk.test", "--role", "cm", "--password", "short").output
    assert "too easy to guess" in cli("create-user", "a@desk.test", "--role", "cm",
                                      "--password", "password1234").output
    assert "not an e-mail" in cli("create-user", "nobody", "--role", "cm", "--password", STRONG).output
    assert count(User) == 0


def test_create_token_prints_the_secret_once_and_stores_a_hash(cli, app_ctx):
    result = cli("create-token", "zapier")
    assert result.exit_code == 0
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("desk_") and len(secret) > 40
    token = db.session.scalar(select(ApiToken))
    assert token.name == "zapier" and secret not in token.token_hash
    assert token_for_secret(secret).id == token.id


def test_create_token_for_unknown_user_fails(cli, app_ctx):
    result = cli("create-token", "bot", "--user", "ghost@desk.test")
    assert result.exit_code == 1 and "no user" in result.output
    assert count(ApiToken) == 0


def test_revoke_token(cli, app_ctx):
    secret = cli("create-token", "bot").output.strip().splitlines()[-1]
    token_id = db.session.scalar(select(ApiToken.id))
    assert cli("revoke-token", str(token_id)).exit_code == 0
    db.session.expire_all()
    assert token_for_secret(secret) is None
    missing = cli("revoke-token", "999")
    assert missing.exit_code == 1 and "no API token 999" in missing.output


def test_channel_add_and_list(cli, app_ctx):
    result = cli("channel", "add", "instagram", "17841400000000", "Tienda IG", "--handle", "@tienda")
    assert result.exit_code == 0, result.output
    listing = cli("channel", "list").output
    assert "instagram\t17841400000000\tTienda IG" in listing


def test_channel_add_errors(cli, app_ctx):
    assert cli("channel", "add", "facebook", "123", "Page").exit_code == 0
    duplicate = cli("channel", "add", "facebook", "123", "Again")
    assert duplicate.exit_code == 1 and "already connected" in duplicate.output
    unknown = cli("channel", "add", "myspace", "1", "Old")
    assert unknown.exit_code == 2 and "myspace" in unknown.output
    blank = cli("channel", "add", "x", "  ", "X")
    assert blank.exit_code == 1 and "account id is required" in blank.output
    assert count(Channel) == 1


def test_help_needs_no_secret_and_a_missing_secret_is_said_plainly(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DESK_DEV", "DESK_SECRET_KEY")}
    env["DESK_INSTANCE_PATH"] = str(tmp_path)
    desk = [sys.executable, "-c", "from desk.cli import main; main()"]
    shown = subprocess.run(desk + ["--help"], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "init-db" in shown.stdout and "seed-demo" in shown.stdout
    refused = subprocess.run(desk + ["init-db"], env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "DESK_SECRET_KEY must be set" in refused.stderr
    assert not list(tmp_path.iterdir())  # nothing was created


def test_seed_demo_closes_retention_windows_and_says_how_it_went(cli, app, app_ctx, monkeypatch):
    from desk.commands.demo import demo_banner
    from desk.inbox.tickets import Ticket
    monkeypatch.setitem(app.config, "SANDBOX", True)
    result = cli("seed-demo", "--tickets", "12", "--days", "100")
    assert result.exit_code == 0 and "seeding 100 days of demo activity" in result.output
    assert "seeded in" in result.output
    oldest = db.session.scalar(select(func.min(Ticket.created_at)))
    newest = db.session.scalar(select(func.max(Ticket.created_at)))
    assert (newest - oldest).days > 90  # some customers' 90 days are over
    banner = demo_banner("http://127.0.0.1:5000/")
    assert "the demo desk is ready at http://127.0.0.1:5000/" in banner
    assert "smm   smm@desk.demo" in banner and "opens in Spanish" in banner and "opens in English" in banner
    assert "desk demo-message" in banner and "desk create-token demo --user smm@desk.demo" in banner


def test_no_banner_on_a_desk_that_is_not_the_demo(app_ctx):
    from desk.commands.demo import ready_banner
    assert ready_banner("http://desk.example/") == "\nthe desk is ready at http://desk.example/\n"


def test_demo_message_is_signed_and_becomes_a_ticket(cli, app, app_ctx, live_server, run_jobs):
    from desk.channels.accounts import add_channel
    from desk.demo.seed import CHANNELS
    from desk.inbox.tickets import Message
    platform, account_id, name, handle = CHANNELS[0]
    add_channel(platform, account_id, name, handle)
    result = cli("demo-message", "¿Dónde está mi pedido?", "--url", live_server)
    assert result.exit_code == 0 and "sent (200)" in result.output
    run_jobs()
    db.session.expire_all()
    assert db.session.scalar(select(Message.text).where(Message.direction == "in")) == "¿Dónde está mi pedido?"
    forged = cli("demo-message", "x", "--url", live_server.replace("127.0.0.1", "localhost") + "/nowhere")
    assert forged.exit_code != 0
