"""The media proxy: inbound images shown inline from the platform's own hosts, WhatsApp media
fetched with the channel's token, and nothing else reachable through it (no server-side
request forgery), with the agent's cookies never handed to the platform."""
from datetime import datetime, timezone

import pytest

from desk.channels.accounts import Channel
from desk.core.extensions import db
from desk.customers.models import Customer
from desk.inbox.tickets import Message, Ticket

UTC = timezone.utc
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def media_fake(app, fake_platform):
    """The fake platform as a content host the proxy may reach over http on loopback."""
    saved = app.config["MEDIA_INSECURE_HOSTS"]
    app.config["MEDIA_INSECURE_HOSTS"] = "127.0.0.1"
    yield fake_platform
    app.config["MEDIA_INSECURE_HOSTS"] = saved


def message_with(attachments, platform="instagram", token="tok-media-1"):
    channel = Channel(platform=platform, account_id=f"acct-{platform}", name=platform)
    channel.access_token = token
    customer = Customer(display_name="Lucía")
    ticket = Ticket(channel=channel, customer=customer, kind="dm", thread_key="t1",
                    created_at=T0, updated_at=T0)
    db.session.add_all([channel, ticket])
    db.session.flush()
    message = Message(ticket=ticket, channel_id=channel.id, direction="in", visibility="private",
                      customer=customer, platform_message_id="m1", text="mira la foto",
                      sent_at=T0, received_at=T0, attachments=attachments)
    db.session.add(message)
    db.session.commit()
    return message


def test_an_inbound_image_shows_inline_through_the_proxy(app_ctx, client, login, make_user, media_fake):
    media_fake.files["foto.png"] = ("image/png", PNG)
    message = message_with([{"type": "image", "url": f"{media_fake.url}/cdn/foto.png"},
                            {"type": "file", "url": f"{media_fake.url}/cdn/foto.png"},
                            {"type": "unsupported"}])
    assert client.get(f"/media/{message.id}/0").status_code in (302, 401)  # signed in only
    login(make_user("cm"))
    page = client.get(f"/tickets/{message.ticket_id}").text
    assert f'<img src="/media/{message.id}/0" loading="lazy"' in page
    assert f'href="/media/{message.id}/1" download' in page
    assert "the platform does not pass on" in page and media_fake.url not in page
    response = client.get(f"/media/{message.id}/0")
    assert response.status_code == 200 and response.data == PNG
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith("inline")
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    fetched = [c for c in media_fake.calls if c["path"] == "/cdn/foto.png"][-1]["headers"]
    assert not any(h.lower() in ("cookie", "authorization", "x-forwarded-for", "referer") for h in fetched)
    assert client.get(f"/media/{message.id}/2").status_code == 404
    assert client.get(f"/media/{message.id}/9").status_code == 404


def test_whatsapp_media_is_fetched_with_the_token_and_the_token_goes_nowhere_else(
        app_ctx, client, login, make_user, media_fake):
    media_fake.files["nota.ogg"] = ("audio/ogg", b"OggS" + b"\x00" * 32)
    media_fake.wa_media["1037543291543636"] = "nota.ogg"
    media_fake.wa_media_token = "wa-token-7"
    message = message_with([{"type": "audio", "media_id": "1037543291543636", "mime_type": "audio/ogg"}],
                           platform="whatsapp", token="wa-token-7")
    login(make_user("cm"))
    assert f'<audio class="attachment attachment-audio" controls preload="none" src="/media/{message.id}/0">' \
        in client.get(f"/tickets/{message.ticket_id}").text
    response = client.get(f"/media/{message.id}/0")
    assert response.status_code == 200 and response.data.startswith(b"OggS")
    lookup, download = [c for c in media_fake.calls if c["path"] in ("/wa/1037543291543636", "/cdn/nota.ogg")]
    assert lookup["headers"]["Authorization"] == "Bearer wa-token-7"
    assert download["headers"]["Authorization"] == "Bearer wa-token-7"  # WhatsApp requires it
    media_fake.wa_media_token = "another"  # the token was revoked: nothing to show
    assert client.get(f"/media/{message.id}/0").status_code == 502


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",    # cloud metadata
    "https://10.0.0.8/admin",                      # a private address, not a platform host
    "https://example.com/cat.png",                 # not a platform host
    "https://scontent.fbcdn.net.evil.example/x.png",  # a platform's name inside another host
    "file:///etc/passwd",
    "ftp://fbcdn.net/x.png",
    "javascript:alert(1)",
])
def test_addresses_off_the_platforms_hosts_are_never_fetched(app_ctx, client, login, make_user,
                                                             media_fake, url):
    message = message_with([{"type": "image", "url": url}])
    login(make_user("cm"))
    before = len(media_fake.calls)
    assert client.get(f"/media/{message.id}/0").status_code == 404
    assert len(media_fake.calls) == before


def test_a_platform_host_that_resolves_to_a_private_address_is_refused(app_ctx, client, login,
                                                                       make_user, monkeypatch):
    import socket
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("10.0.0.7", 443))])
    message = message_with([{"type": "image", "url": "https://scontent.xx.fbcdn.net/v/t1.png"}])
    login(make_user("cm"))
    assert client.get(f"/media/{message.id}/0").status_code == 404


def test_redirects_follow_the_same_rules_and_types_and_sizes_are_checked(app_ctx, client, login,
                                                                         make_user, media_fake):
    media_fake.files["foto.png"] = ("image/png", PNG)
    media_fake.files["to-metadata"] = "http://169.254.169.254/latest/meta-data/"
    media_fake.files["to-photo"] = f"{media_fake.url}/cdn/foto.png"
    media_fake.files["page.html"] = ("text/html", b"<script>alert(1)</script>")
    media_fake.files["big.jpg"] = ("image/jpeg", b"\xff" * 4096)
    message = message_with([{"type": "image", "url": f"{media_fake.url}/cdn/{name}"}
                            for name in ("to-metadata", "to-photo", "page.html", "big.jpg")])
    login(make_user("cm"))
    assert client.get(f"/media/{message.id}/0").status_code == 404
    assert client.get(f"/media/{message.id}/1").data == PNG
    assert client.get(f"/media/{message.id}/2").status_code == 502  # never passed on as a page
    app_ctx.config["MEDIA_MAX_BYTES"] = 1024
    try:
        assert client.get(f"/media/{message.id}/3").status_code == 502
    finally:
        app_ctx.config["MEDIA_MAX_BYTES"] = 25 * 1024 * 1024
