"""`desk import-messages FILE.csv`: imported, skipped as duplicate, rejected with line and reason."""
import pytest
from sqlalchemy import select

from desk.core.extensions import db
from desk.inbox.tickets import Ticket
from tests.factories import make_channel
from tests.webhook_helpers import counts, message_by

HEADER = "platform,account_id,kind,message_id,thread_id,author_id,author_handle,author_name,author_followers,text,sent_at\n"


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args):
        return runner.invoke(args=list(args), catch_exceptions=False)
    return invoke


@pytest.fixture
def channels(app_ctx):
    make_channel("youtube", "UC123")
    make_channel("linkedin", "acme")


def write(tmp_path, text, name="export.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_import_with_summary_and_rejections(cli, channels, tmp_path):
    rows = (HEADER
            + 'youtube,UC123,comment,yt-1,video-1,u1,@pepe,Pepe Ruiz,120,"¿Cuándo sale la parte 2? 😍",2026-11-02T10:00:00Z\n'
            + 'youtube,UC123,comment,yt-2,video-1,u2,@ana,Ana,,"Same question, when?",2026-11-02T10:05:00Z\n'
            + 'linkedin,acme,dm,li-1,,u3,,Marta Núñez,,"Hola, ¿tenéis vacantes?",\n'
            + 'youtube,UC123,tweet,yt-3,video-1,u4,,,,bad kind,\n'
            + 'youtube,UC999,comment,yt-4,video-1,u5,,,,unknown channel,\n'
            + 'youtube,UC123,comment,yt-5,video-1,,,,,no author,\n'
            + 'youtube,UC123,comment,yt-6,video-1,u6,,,many,"followers not a number",\n')
    result = cli("import-messages", write(tmp_path, rows))
    assert result.exit_code == 0, result.output
    assert "imported: 3, skipped as duplicate: 0, rejected: 4" in result.output
    assert "line 5: kind:" in result.output
    assert "line 6: no connected channel" in result.output
    assert "line 7: author.id:" in result.output
    assert "line 8: author.followers:" in result.output
    tickets = db.session.scalars(select(Ticket).order_by(Ticket.thread_key)).all()
    assert [(t.kind, t.thread_key, len(t.messages)) for t in tickets] == [
        ("dm", "u3", 1), ("comment", "video-1", 2)]
    message = message_by("yt-1")
    assert message.text == "¿Cuándo sale la parte 2? 😍" and message.sent_at.isoformat() == "2026-11-02T10:00:00+00:00"
    assert message.ticket.customer.identities[0].handle == "@pepe"
    assert message.ticket.customer.followers == 120


def test_reimport_skips_duplicates(cli, channels, tmp_path):
    rows = HEADER + 'youtube,UC123,comment,yt-1,video-1,u1,,,,"hola",\n'
    path = write(tmp_path, rows)
    assert "imported: 1, skipped as duplicate: 0" in cli("import-messages", path).output
    result = cli("import-messages", path)
    assert "imported: 0, skipped as duplicate: 1, rejected: 0" in result.output
    assert result.exit_code == 0 and counts()[1:] == (1, 1)


def test_same_message_already_received_by_the_api_is_a_duplicate(cli, channels, tmp_path):
    from desk.channels.generic import MessageIn
    from desk.core.clock import now
    from desk.intake.events import accept_messages
    from desk.intake.ingest import process_events
    api = MessageIn.model_validate({"channel": {"platform": "youtube", "account_id": "UC123"},
                                    "kind": "comment", "message_id": "yt-1", "author": {"id": "u1"}})
    process_events(accept_messages([api], now(), enqueue=False), now())
    result = cli("import-messages", write(tmp_path, HEADER + "youtube,UC123,comment,yt-1,,u1,,,,hola,\n"))
    assert "imported: 0, skipped as duplicate: 1" in result.output and counts()[2] == 1


@pytest.mark.parametrize("content, message", [
    ("text,author\nhola,u1\n", "lacks required columns: platform, account_id, kind, message_id, author_id"),
    ("", "lacks required columns"),
])
def test_bad_file_fails_cleanly_and_writes_nothing(cli, channels, tmp_path, content, message):
    result = cli("import-messages", write(tmp_path, content))
    assert result.exit_code != 0 and message in result.output
    assert counts() == (0, 0, 0)


def test_not_utf8_fails_cleanly(cli, channels, tmp_path):
    path = write(tmp_path, HEADER + "youtube,UC123,comment,yt-1,,u1,,,,canción,\n", encoding="utf-16")
    result = cli("import-messages", path)
    assert result.exit_code != 0 and "not UTF-8" in result.output and counts() == (0, 0, 0)


def test_missing_file_fails_cleanly(cli, channels, tmp_path):
    result = cli("import-messages", str(tmp_path / "nope.csv"))
    assert result.exit_code != 0 and "does not exist" in result.output


def test_all_rows_rejected_exits_non_zero(cli, channels, tmp_path):
    result = cli("import-messages", write(tmp_path, HEADER + "youtube,UC123,post,yt-1,,u1,,,,x,\n"))
    assert result.exit_code == 1 and "rejected: 1" in result.output and counts() == (0, 0, 0)
