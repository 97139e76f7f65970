"""Inbox search: literal queries, words with accents and case ignored, customer names, the
index kept in step with edits and deletes, both plans (rare and common words), pages."""
import re
import sqlite3
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select
from werkzeug.datastructures import MultiDict

from desk import create_app
from desk.core.extensions import db
from desk.inbox import query as inbox_query
from desk.inbox import search as inbox_search
from desk.inbox import search_schema as inbox_search_schema
from desk.inbox.query import parse_params
from desk.inbox.tickets import Message
from tests.conftest import app_config
from tests.factories import (
    add_agent_reply,
    add_customer_message,
    make_channel,
    make_customer,
    make_ticket,
    minutes,
)

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)


def found(q, **filters):
    p = parse_params(MultiDict({"q": q, **filters}))
    return {t.id for t in inbox_query.page(p, 0, T0 + minutes(30), 50).tickets}


@pytest.fixture(params=["rare", "common"])
def word_kind(request, monkeypatch):
    """Both plans: tickets looked up from the word's hits, or tested one by one in list order."""
    if request.param == "common":
        monkeypatch.setattr(inbox_search, "RARE_MATCHES", 0)
    return request.param


def test_like_wildcards_and_quotes_are_taken_literally(app_ctx, word_kind):
    percent = make_ticket("Me cobraron 100% más")
    underscore = make_ticket("my user is snake_case ok")
    quote = make_ticket("it's O'Brien's order")
    fifty = make_ticket("pagué 50 euros por la caro")
    assert found("%") == {percent.id}
    assert found("_") == {underscore.id}
    assert found("'") == {quote.id}
    assert found("\\") == set()
    assert found("O'Brien's") == {quote.id}
    assert found("snake_case") == {underscore.id}
    assert found("5%") == set() and found("c_ro") == set()  # neither is a wildcard
    assert found("100%") == {percent.id}
    assert fifty.id in found("50")


@pytest.mark.parametrize("q", ['"', '""', "pedido OR roto", "NEAR(pedido roto)", "pedi*", "-pedido",
                               "^pedido", "text:pedido", "display_name:Lucía", "(pedido", "AND"])
def test_search_syntax_is_not_syntax(app_ctx, word_kind, q):
    """Nothing in a query is FTS5 or tsquery syntax: operators are words, the rest punctuation."""
    pedido = make_ticket("¿Dónde está mi pedido roto?")
    expected = {"pedido OR roto": set(), "NEAR(pedido roto)": set(), "pedi*": set(),
                "text:pedido": set(), "display_name:Lucía": set(), "AND": set(),
                "-pedido": {pedido.id}, "^pedido": {pedido.id}, "(pedido": {pedido.id}}
    assert found(q) == expected.get(q, set())


def test_words_ignore_case_and_accents_in_spanish_and_english(app_ctx, word_kind):
    envio = make_ticket("¿Hacéis envío a Canarias?", customer=make_customer("Tom Baker"))
    pedido = make_ticket("ÉL PÉDIDO NO LLEGA", customer=make_customer("Tom Baker"))
    order = make_ticket("Where is my ORDER?", customer=make_customer("Tom Baker"))
    assert found("envio") == found("ENVÍO") == {envio.id}
    assert found("pedido") == found("pédido") == {pedido.id}
    assert found("order") == {order.id}
    assert found("envíos") == set()  # whole words: a longer word is another word
    assert found("canarias envio") == {envio.id}  # every term, in any order
    assert found("canarias pedido") == set()


def test_customer_names_match_without_accents(app_ctx, word_kind):
    lucia = make_ticket("hola", customer=make_customer("Lucía Pérez"))
    other = make_ticket("¿Dónde está mi pedido? 📦", customer=make_customer("Tom Baker"))
    assert found("Lucía") == found("lucia perez") == found("PEREZ") == {lucia.id}
    assert found("pedido") == {other.id}
    assert found("Lucía pedido") == set()  # the words must meet in one message or the name


def test_message_edit_and_delete_update_the_index(app_ctx, word_kind):
    ticket = make_ticket("quiero devolver las botas")
    second = add_customer_message(ticket, "y también las sandalias")
    assert found("sandalias") == {ticket.id}
    second.text = "y también los mocasines"
    db.session.commit()
    assert found("sandalias") == set() and found("mocasines") == {ticket.id}
    db.session.execute(delete(Message).where(Message.id == second.id))
    db.session.commit()
    assert found("mocasines") == set() and found("botas") == {ticket.id}


def test_customer_rename_updates_the_index(app_ctx, word_kind):
    customer = make_customer("Ana Gómez")
    ticket = make_ticket("hola", customer=customer)
    customer.display_name = "Ana Navarro"
    db.session.commit()
    assert found("navarro") == {ticket.id} and found("gomez") == set()


def test_search_combines_with_filters_and_pages_by_cursor(app_ctx, word_kind):
    instagram, x = make_channel("instagram"), make_channel("x")
    on_instagram = [make_ticket(f"pedido número {i}", channel=instagram, sent_at=T0 - minutes(i * 20),
                                now=T0) for i in range(7)]
    make_ticket("pedido por X", channel=x)
    make_ticket("otra cosa", channel=instagram)
    assert found("pedido", platform="instagram") == {t.id for t in on_instagram}
    seen, cursor = [], None
    while True:
        args = {"q": "pedido", "platform": "instagram"} | ({"cursor": cursor} if cursor else {})
        result = inbox_query.page(parse_params(MultiDict(args)), 0, T0 + minutes(30), limit=3)
        seen += [t.id for t in result.tickets]
        cursor = result.next_cursor
        if not cursor:
            break
    assert sorted(seen) == sorted(t.id for t in on_instagram) and len(seen) == len(set(seen))


TRICKY = ["e\u0301nvio decompuesto", "ØRESUND Straße", "ΑΘΗΝΑ", "東京 タワー", "pedido😡roto", "ǅemal",
          "ﬁnal", "İstanbul", "naïve café", "x² y₂", "Ⅻ", "a\u200bb"]


@pytest.mark.parametrize("q", ["envio", "oresund", "strasse", "straße", "αθηνα", "東京", "pedido roto",
                               "dzemal", "final", "istanbul", "naive cafe", "x2", "xii", "a b", "ab"])
def test_both_plans_fold_text_alike(app_ctx, monkeypatch, q):
    """The common-word plan (Python) agrees with the rare-word plan (the index) on odd text."""
    made = {make_ticket(text, customer=make_customer("Tom Baker")).id: text for text in TRICKY}
    by_index = found(q)
    monkeypatch.setattr(inbox_search, "RARE_MATCHES", 0)
    assert found(q) == by_index, [made[i] for i in by_index]
    if q in ("envio", "pedido roto", "naive cafe", "αθηνα"):
        assert len(by_index) == 1


_CHARACTERS = st.one_of(st.sampled_from("aeiouAEIOU áéíóúÁÉÑñüÜçÇøØßİı'_%-.,!?¿😡\u0301\u200b\t"),
                        st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"))


@settings(max_examples=400, deadline=None)
@given(text=st.text(_CHARACTERS, max_size=40), start=st.integers(0, 40), length=st.integers(1, 12))
def test_python_folding_matches_fts5_on_any_text(text, start, length):
    """The common-word check cuts and folds text exactly as the FTS5 tokenizer does."""
    query = text[start:start + length]
    connection = sqlite3.connect(":memory:")
    connection.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize='{inbox_search_schema.TOKENIZER}')")
    connection.execute("INSERT INTO t(x) VALUES (?)", (text,))
    phrase = '"' + query.replace('"', '""') + '"'
    by_fts5 = connection.execute("SELECT count(*) FROM t WHERE t MATCH ?", (phrase,)).fetchone()[0] == 1
    by_python = inbox_search.holds(text, [inbox_search.folded(query)])
    assert by_python == by_fts5


def test_terms_keep_only_words():
    assert inbox_search.terms("  100%  %  O'Brien's _ 😡 envío ") == ["100%", "O'Brien's", "envío"]


def test_escape_like():
    assert inbox_search.escape_like("50%_a\\b") == "50\\%\\_a\\\\b"


@pytest.fixture
def small_scans(monkeypatch):
    """Per-ticket tests, and pages that may try only four tickets each."""
    monkeypatch.setattr(inbox_search, "RARE_MATCHES", 0)
    monkeypatch.setattr(inbox_query, "SCAN_LIMIT", 4)
    monkeypatch.setattr(inbox_query, "FIRST_WINDOW", 2)


@pytest.mark.parametrize("q", ["botas", "%"])
def test_a_page_tries_a_bounded_number_of_tickets_then_offers_to_go_on(app_ctx, make_user, small_scans, q):
    agent = make_user("cm")
    made = []
    for i in range(10):  # list order: t0 (most overdue) .. t7, then t8, t9 answered (2nd segment)
        text = "quiero devolver las botas al 100%" if i in (1, 6, 9) else f"consulta número {i}"
        ticket = make_ticket(text, sent_at=T0 - minutes(200 - i * 10), now=T0)
        if i >= 8:
            add_agent_reply(ticket, agent, sent_at=T0, now=T0)
        made.append(ticket.id)
    pages, cursor = [], None
    while True:
        args = {"q": q} | ({"cursor": cursor} if cursor else {})
        result = inbox_query.page(parse_params(MultiDict(args)), agent.id, T0 + minutes(30))
        pages.append(([made.index(t.id) for t in result.tickets], result.partial))
        cursor = result.next_cursor
        if not cursor:
            break
    # Four tickets tried per page; the last page ends with the list, so it is not partial.
    assert pages == [([1], True), ([6], True), ([9], False)]


def test_partial_page_over_http_says_so_and_searches_further(client, app, make_user, login, small_scans):
    login(make_user("cm"))
    with app.app_context():
        for i in range(6):
            make_ticket("botas rotas" if i == 5 else f"otra consulta {i}", sent_at=T0 - minutes(60 - i),
                        now=T0)
    first = client.get("/inbox/list?q=botas").text
    assert 'id="search-partial"' in first and "Search further" in first
    assert 'data-ticket-id=' not in first and 'id="inbox-empty"' not in first
    url = re.search(r'hx-get="(/inbox/list\?[^"]+)"', first).group(1).replace("&amp;", "&")
    more = client.get(url).text
    assert "botas rotas" in more and 'id="load-more"' not in more


def test_migration_installs_search_and_downgrade_removes_it(empty_database_url, redis_server):
    """init-db (the migrations) gives the same search as create_all; down and up again works."""
    from flask_migrate import downgrade, upgrade

    app = create_app(app_config(empty_database_url, redis_server))
    assert app.test_cli_runner().invoke(args=["init-db"], catch_exceptions=False).exit_code == 0
    with app.app_context():
        ticket_id = make_ticket("¿Hacéis envío a Canarias?").id
        assert found("envio") == {ticket_id}
        db.session.remove()  # the migrations need the locks this session's reads hold
        downgrade(revision="b2f1a7c3d401")
        # Stored as a plain row: the models (and the receivers of a customer message) now
        # describe columns and tables the old schema does not have yet.
        first = db.session.execute(select(
            Message.channel_id, Message.customer_id, Message.sent_at, Message.received_at)
            .where(Message.ticket_id == ticket_id)).first()
        db.session.execute(insert(Message).values(
            ticket_id=ticket_id, channel_id=first.channel_id, direction="in",
            customer_id=first.customer_id, text="mensaje sin búsqueda",
            platform_message_id="m-old-schema", sent_at=first.sent_at,
            received_at=first.received_at))
        db.session.commit()
        db.session.remove()
        upgrade()
        assert found("ENVÍO") == found("busqueda") == {ticket_id}  # re-indexed what was there
        db.session.remove()
        db.engine.dispose()


def test_repair_puts_back_triggers_a_table_copy_dropped(app_ctx):
    """SQLite: a migration that copies `message` loses its triggers; repair restores and
    re-indexes. PostgreSQL indexes an expression, so there is nothing to lose or repair."""
    sqlite = db.engine.dialect.name == "sqlite"
    ticket = make_ticket("primer mensaje")
    if sqlite:
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TRIGGER message_search_insert")
    add_customer_message(ticket, "llegó sin índice")
    assert found("indice") == (set() if sqlite else {ticket.id})
    with db.engine.begin() as connection:
        inbox_search_schema.repair(connection)
    assert found("indice") == {ticket.id}
    add_customer_message(ticket, "y este también zapatos")
    assert found("zapatos") == {ticket.id}
