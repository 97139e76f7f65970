"""The interface speaks Spanish: every string in the catalogue is translated, and pages show it."""
from pathlib import Path

from babel.messages.pofile import read_po

CATALOGUE = Path(__file__).parents[2] / "desk" / "translations" / "es" / "LC_MESSAGES" / "messages.po"


def _messages():
    with open(CATALOGUE, "rb") as f:
        return [m for m in read_po(f) if m.id]


def test_every_interface_string_has_a_spanish_translation():
    untranslated = [m.id for m in _messages() if not (all(m.string) if isinstance(m.string, tuple) else m.string)]
    assert untranslated == []


def test_translations_keep_their_placeholders():
    import re
    placeholder = re.compile(r"%\((\w+)\)s")
    for m in _messages():
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = set(placeholder.findall(ids[0]))
        for translated in strings:
            assert set(placeholder.findall(translated)) <= wanted | set(placeholder.findall(ids[-1])), m.id


def test_pages_follow_the_users_language(client, make_user, login):
    login(make_user("smm", locale="es"))
    for url, words in [("/inbox", "Bandeja"), ("/board", "Panel de SLA"), ("/escalations", "Escalados"),
                       ("/replies", "Respuestas predefinidas"), ("/reports", "Informe de servicio")]:
        page = client.get(url)
        assert page.status_code == 200, url
        assert words in page.get_data(as_text=True), url
