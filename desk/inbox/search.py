"""Inbox search: what a query means, and how each database engine answers it.

A query is split at white space into terms; a ticket matches when one of its messages, or
its customer's name, holds every term as a run of whole words. Case and accents are ignored
("envio" finds "envío", "PEDIDO" finds "pedido"). Punctuation only separates words, so %, _
and quotes are never syntax: "100%" finds the word 100, "O'Brien's" the words o brien s in a
row. A query with no letter or digit at all ("%", "?!") has no words to look up: it is
matched as a literal substring instead, which no index can help.

Where the words live: on PostgreSQL, GIN indexes over to_tsvector('desk_search', ...) declared
on the models ('desk_search' is 'simple' with unaccent in front); on SQLite, FTS5 tables over
message text and customer names (external content, unicode61 without diacritics) kept in
step by triggers (desk/inbox/search_schema.py).

Cost: a word with at most RARE_MATCHES hits is answered from its hits (cost grows with the
hits, not the table). A more common word, or a literal substring, gives a per-ticket test
that desk/inbox/query.py tries on tickets in list order until the page is full or it has
tried SCAN_LIMIT of them (cost grows with 1 / the word's share of tickets, up to that bound).
"""
import json
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    Integer,
    any_,
    bindparam,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY

from desk.core.extensions import db
from desk.customers.models import Customer
from desk.inbox.search_schema import CONFIG, TOKENIZER
from desk.inbox.tickets import Message, Ticket

RARE_MATCHES = 2_000  # a word with more hits than this is tested per ticket instead
_WORDY = re.compile(r"[^\W_]")  # a letter or a digit: what the tokenizers keep


def terms(q: str) -> list[str]:
    """The white-space separated terms of `q` that hold at least one letter or digit."""
    return [term for term in unicodedata.normalize("NFC", q).split() if _WORDY.search(term)]


def escape_like(text_: str) -> str:
    """`text_` with LIKE wildcards escaped (backslash is the escape character)."""
    return text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class Search:
    """Either a WHERE condition on Ticket naming the few tickets that match (`condition`),
    or, for a common word or a literal substring, `among(ticket_ids)`: the ones that match."""

    condition: object = None
    among: Callable[[list[int]], set[int]] | None = None


def condition(q: str) -> Search:
    """Tickets whose messages or customer name match `q` (see the module docstring)."""
    words = terms(q)
    if not words:
        pattern = f"%{escape_like(q)}%"
        return _tested_in_sql(or_(
            select(Message.id).where(Message.ticket_id == Ticket.id,
                                     Message.text.ilike(pattern, escape="\\")).exists(),
            select(Customer.id).where(Customer.id == Ticket.customer_id,
                                      Customer.display_name.ilike(pattern, escape="\\")).exists()))
    engine = _Postgresql(words) if db.engine.dialect.name == "postgresql" else _Sqlite(words)
    tickets, customers = engine.hits()
    if tickets is not None and customers is not None:
        return Search(condition=or_(in_ids(Ticket.id, tickets) if tickets else false(),
                                    in_ids(Ticket.customer_id, customers) if customers else false()))
    return engine.per_ticket(tickets, customers)


def in_ids(column, ids: list[int]):
    """`column` IN `ids` as one parameter (a JSON array on SQLite, an array on PostgreSQL):
    a few thousand ids then cost nothing to compile or bind."""
    if db.engine.dialect.name == "postgresql":
        return column == any_(bindparam(None, ids, type_=ARRAY(Integer)))
    return column.in_(select(literal_column("value")).select_from(func.json_each(json.dumps(ids))))


def _tested_in_sql(test) -> Search:
    """A Search that asks the database which tickets of a window pass `test`."""
    def passing(ticket_ids: list[int]) -> set[int]:
        return set(db.session.scalars(select(Ticket.id).where(in_ids(Ticket.id, ticket_ids), test)))
    return Search(among=passing)


class _Postgresql:
    """Full-text search through the GIN expression indexes of the models."""

    def __init__(self, words: list[str]):
        query = func.phraseto_tsquery(_CONFIG, words[0])
        for word in words[1:]:
            query = query.op("&&")(func.phraseto_tsquery(_CONFIG, word))
        self.in_text = _matches(Message.text, query)
        self.in_name = _matches(Customer.display_name, query)

    def hits(self) -> tuple[list[int] | None, list[int] | None]:
        """Tickets of the matching messages and the matching customers; None for a side
        where the word is too common to list. The planner's word statistics (constant cost,
        one round trip for both sides) rule out common words before an index is read. They
        cover the frequent words only, with one guess for all the others: a word guessed no
        higher than a word that occurs nowhere is not a frequent one, so its rows are read."""
        text_rows = select(Message.ticket_id).where(self.in_text)
        name_rows = select(Customer.id).where(self.in_name)
        no_text = select(Message.ticket_id).where(_matches(Message.text, _ABSENT))
        no_name = select(Customer.id).where(_matches(Customer.display_name, _ABSENT))
        guesses = _estimated_rows(text_rows, no_text, name_rows, no_name)
        return _few(text_rows, *guesses[:2]), _few(name_rows, *guesses[2:])

    def per_ticket(self, tickets: list[int] | None, customers: list[int] | None) -> Search:
        # Sets, not a test per ticket: the planner may then AND the word's index with the
        # window's (cheap for a middling word) or check each message (for a common one).
        def passing(ticket_ids: list[int]) -> set[int]:
            found = set(tickets or ()).intersection(ticket_ids) if tickets is not None else set(
                db.session.scalars(select(Message.ticket_id).distinct().where(
                    in_ids(Message.ticket_id, ticket_ids), self.in_text)))
            if customers is None:
                named = select(Ticket.id).join(Customer, Customer.id == Ticket.customer_id).where(
                    in_ids(Ticket.id, ticket_ids), self.in_name)
            elif customers:
                named = select(Ticket.id).where(in_ids(Ticket.id, ticket_ids),
                                                in_ids(Ticket.customer_id, customers))
            else:
                return found
            return found | set(db.session.scalars(named))
        return Search(among=passing)


_CONFIG = literal_column(f"'{CONFIG}'")
# A lexeme no parser makes (it holds a space): PostgreSQL guesses for it what it guesses for
# every word it keeps no statistics on.
_ABSENT = literal_column("$$'never seen'$$::tsquery")


def _matches(column, query):
    return func.to_tsvector(_CONFIG, column).op("@@")(query)


def _few(matching, guessed: float, unknown: float) -> list[int] | None:
    """The rows of `matching` when at most RARE_MATCHES, else None (see `hits`)."""
    if guessed > RARE_MATCHES and guessed > unknown:
        return None
    found = db.session.scalars(matching.limit(RARE_MATCHES + 1)).all()
    return None if len(found) > RARE_MATCHES else sorted(set(found))


def _estimated_rows(*statements) -> list[float]:
    """The planner's row estimate for each statement, from one EXPLAIN. Each branch gets a
    LIMIT that never binds: the Append's children are then Limit nodes carrying whole-branch
    estimates, never per-worker parts of a parallel plan."""
    union = union_all(*(statement.limit(2 ** 62) for statement in statements))
    compiled = union.compile(dialect=db.engine.dialect)
    plan = db.session.connection().exec_driver_sql(
        "EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params).scalar()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return [branch["Plan Rows"] for branch in plan[0]["Plan"]["Plans"]]


class _Sqlite:
    """FTS5 for the hits of a rare word (a common word's hits are only counted); a common
    word is checked on each ticket's text in Python, folded the way FTS5 folds it (an FTS5
    lookup per message costs ten times more, and more again while its index is unmerged)."""

    def __init__(self, words: list[str]):
        # Each term becomes an FTS5 string (a phrase of its words); quotes inside are doubled,
        # so nothing in a query is FTS5 syntax (AND, NEAR, *, ^, column filters).
        self.match = " AND ".join('"' + word.replace('"', '""') + '"' for word in words)
        self.words = words

    def hits(self) -> tuple[list[int] | None, list[int] | None]:
        """Tickets of the matching messages and the matching customers; None for a side
        with more than RARE_MATCHES hits."""
        tickets = None if self._hits("message_search") > RARE_MATCHES else sorted(set(
            db.session.scalars(text(
                "SELECT ticket_id FROM message WHERE id IN (SELECT rowid FROM message_search "
                "WHERE message_search MATCH :words)"), {"words": self.match})))
        customers = None if self._hits("customer_search") > RARE_MATCHES else list(
            db.session.scalars(text(
                "SELECT rowid FROM customer_search WHERE customer_search MATCH :words"),
                {"words": self.match}))
        return tickets, customers

    def _hits(self, index: str) -> int:
        """How many rows match, counted up to RARE_MATCHES + 1 (FTS5 reads no further)."""
        return db.session.scalar(text(
            f"SELECT count(*) FROM (SELECT 1 FROM {index} WHERE {index} MATCH :words "
            "LIMIT :limit)"),
            {"words": self.match, "limit": RARE_MATCHES + 1})

    def per_ticket(self, tickets, customers) -> Search:
        # Both sides are checked in Python, the rare one too: its list would save nothing.
        phrases = [folded(word) for word in self.words]

        def passing(ticket_ids: list[int]) -> set[int]:
            # One parameter for the whole window (json_each), and plain rows: this runs for
            # every window of a common word, so per-row overhead is what counts.
            rows = db.session.connection().exec_driver_sql(
                "SELECT ticket.id, customer.display_name, message.text FROM json_each(?) AS tried "
                "JOIN ticket ON ticket.id = tried.value "
                "JOIN customer ON customer.id = ticket.customer_id "
                "LEFT JOIN message ON message.ticket_id = ticket.id", (json.dumps(ticket_ids),))
            found, named = set(), {}
            for ticket_id, name, body in rows:
                if ticket_id not in named:
                    named[ticket_id] = holds(name, phrases)
                if named[ticket_id] or (body is not None and ticket_id not in found
                                        and holds(body, phrases)):
                    found.add(ticket_id)
            return found
        return Search(among=passing)


class _Folding(dict):
    """FTS5's tokenizer as a str.translate table: each character maps to what the tokenizer
    keeps of it (lower case, without accents; nothing for a combining mark) or to a space
    (a separator). Learnt from SQLite itself, one character at a time, so Python and FTS5
    always cut text the same way."""

    def __init__(self):
        super().__init__()
        self._probe = sqlite3.connect(":memory:", check_same_thread=False)
        self._probe.execute(f"CREATE VIRTUAL TABLE probe USING fts5(x, tokenize='{TOKENIZER}')")
        self._probe.execute("CREATE VIRTUAL TABLE probe_terms USING fts5vocab(probe, 'instance')")
        self._lock = threading.Lock()
        for codepoint in range(256):  # Latin-1 up front; the rest when first seen
            self.__missing__(codepoint)

    def __missing__(self, codepoint: int) -> str:
        if 0xD800 <= codepoint <= 0xDFFF:  # a lone surrogate cannot reach SQLite
            return " "
        with self._lock:
            self._probe.execute("DELETE FROM probe")
            self._probe.execute("INSERT INTO probe(x) VALUES (?)", (f"q{chr(codepoint)}q",))
            found = [term for (term,) in self._probe.execute("SELECT term FROM probe_terms")]
        self[codepoint] = kept = found[0][1:-1] if len(found) == 1 else " "
        return kept


_FOLDING: _Folding | None = None


def folded(text_: str) -> str:
    """`text_` as FTS5 sees it: its words, folded, each between single spaces."""
    global _FOLDING
    if _FOLDING is None:
        _FOLDING = _Folding()
    return " " + " ".join(text_.translate(_FOLDING).split()) + " "


def holds(text_: str, phrases: list[str]) -> bool:
    """Whether `text_` has every one of the `folded` phrases, as FTS5 MATCH would say (a
    phrase without a word matches nothing there either)."""
    words = folded(text_)
    return all(phrase.strip() and phrase in words for phrase in phrases)
