"""In Chromium: an agent attaches an image to a Messenger reply and sees it inline in the
thread; a canned reply with a file shows it as a chip in the composer and sends it along."""
import os
import struct
import zlib

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.inbox.files import save_file
from desk.inbox.tickets import Message
from desk.replies.library import save_reply
from tests.factories import make_channel, make_customer, make_ticket
from tests.browser.helpers import sign_in

pytestmark = pytest.mark.browser


def one_pixel_png() -> bytes:
    """A valid 1x1 PNG (so the browser really draws it)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x80\x00")) + chunk(b"IEND", b""))


def test_an_agent_attaches_an_image_and_a_canned_reply_brings_its_file(
        page, live_server, app, make_user, artifacts_dir, tmp_path):
    with app.app_context():
        channel = make_channel("facebook", "PAGE1", name="Tienda")
        ticket = make_ticket("¿Me mandáis la etiqueta?", channel=channel,
                             customer=make_customer(platform="facebook"))
        label = save_file("etiqueta-devolucion.pdf", b"%PDF-1.4\n%%EOF\n", None, clock_now())
        canned = save_reply({"key": "etiqueta", "title": "Etiqueta de devolución", "language": "es",
                             "body": "Te envío la etiqueta.", "triggers": ["etiqueta"], "tags": [],
                             "active": True}, clock_now())
        canned.file_id = label_id = label.id
        db.session.commit()
        ticket_id = ticket.id
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_server, make_user("cm", name="Ana Ruiz"))
    page.goto(f"{live_server}/tickets/{ticket_id}")
    picture = tmp_path / "foto.png"
    picture.write_bytes(one_pixel_png())
    page.fill("#composer-text", "Así llegó el paquete")
    page.set_input_files("#composer-file", str(picture))
    page.screenshot(path=os.path.join(artifacts_dir, "reply-file-composer.png"), full_page=True)
    page.click("#send-reply")
    image = page.locator("#thread .attachment-image img").last
    expect(image).to_be_visible()
    page.wait_for_function("() => [...document.querySelectorAll('#thread .attachment-image img')]"
                           ".some(img => img.complete && img.naturalWidth === 1)")

    page.fill("#composer-text", "/Etiqueta")
    page.locator(".reply-search-item").first.click()
    expect(page.locator("#composer-canned-file")).to_be_visible()
    expect(page.locator("#composer-canned-file")).to_contain_text("etiqueta-devolucion.pdf")
    page.click("#send-reply")
    expect(page.locator("#thread")).to_contain_text("etiqueta-devolucion.pdf")
    page.screenshot(path=os.path.join(artifacts_dir, "reply-file-thread.png"), full_page=True)
    with app.app_context():
        sent = db.session.scalars(select(Message).where(
            Message.ticket_id == ticket_id, Message.direction == "out").order_by(Message.id)).all()
        assert [m.attachments[0]["name"] for m in sent] == ["foto.png", "etiqueta-devolucion.pdf"]
        assert sent[1].attachments[0]["file_id"] == label_id
    assert errors == []
