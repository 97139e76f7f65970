"""Finding a customer by name, handle, e-mail or phone. Names match by word prefixes
("mar lop" finds "María López"; case and accents ignored) through the engine's text index;
handles and folded names by prefix on their keys; e-mail and phone exactly. Merged-away
customers never appear."""
import re

from sqlalchemy import func, literal_column, select, text

from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.customers.models import Customer, CustomerIdentity, match_key
from desk.inbox.search_schema import CONFIG
from desk.people.edit import clean_email, clean_phone

LIMIT = 25
_WORD = re.compile(r"[^\W_]+")


def starts_with(column, key: str) -> tuple:
    """WHERE conditions: `column` (a folded key, byte-ordered) starts with `key`, as a range
    an index answers (a LIKE with a parameter is not one on PostgreSQL)."""
    return column >= key, column < key + "\U0010ffff"


def _name_words(q: str) -> list[int]:
    """Ids of customers whose name holds a word starting with each word of `q`."""
    words = [w for w in _WORD.findall(q.casefold()) if w][:6]
    if not words:
        return []
    if db.engine.dialect.name == "postgresql":
        query = func.to_tsquery(literal_column(f"'{CONFIG}'"), " & ".join(f"{w}:*" for w in words))
        vector = func.to_tsvector(literal_column(f"'{CONFIG}'"), Customer.display_name)
        return list(db.session.scalars(select(Customer.id).where(vector.op("@@")(query))
                                       .order_by(Customer.id.desc()).limit(LIMIT * 4)))
    match = " AND ".join('"' + w + '"*' for w in words)  # FTS5 prefix phrases, no syntax
    return list(db.session.scalars(text(
        "SELECT rowid FROM customer_search WHERE customer_search MATCH :match "
        "ORDER BY rowid DESC LIMIT :limit"), {"match": match, "limit": LIMIT * 4}))


def _exact(q: str) -> list[int]:
    """Ids by e-mail, phone, or a platform user id written as digits (a WhatsApp number)."""
    ids = []
    if "@" in q.strip("@"):
        try:
            email = clean_email(q)
        except DeskError:
            email = None
        if email:
            ids += db.session.scalars(select(Customer.id).where(Customer.email == email).limit(LIMIT))
    digits = re.sub(r"\D", "", q)
    if len(digits) >= 6 and not re.search(r"[^\d\s+().\-]", q):
        try:
            phone = clean_phone(q)
        except DeskError:
            phone = None
        if phone:
            ids += db.session.scalars(select(Customer.id).where(Customer.phone == phone).limit(LIMIT))
        ids += db.session.scalars(select(CustomerIdentity.customer_id).where(
            CustomerIdentity.platform_user_id == digits).limit(LIMIT))
    return ids


def search_customers(q: str, limit: int = LIMIT) -> list[Customer]:
    """Live customers matching `q`: exact e-mail or phone first, then handles, then names."""
    q = (q or "").strip()[:100]
    if not q:
        return []
    ids = _exact(q)
    key = match_key(q.lstrip("@"))
    if key and len(key) >= 2:
        for owner, column in ((CustomerIdentity.customer_id, CustomerIdentity.handle_key),
                              (Customer.id, Customer.name_key)):
            ids += db.session.scalars(select(owner).where(*starts_with(column, key))
                                      .order_by(column).limit(limit))
    ids += _name_words(q)
    ordered = list(dict.fromkeys(ids))
    if not ordered:
        return []
    found = {c.id: c for c in db.session.scalars(select(Customer).where(
        Customer.id.in_(ordered[:limit * 4]), Customer.merged_into_id.is_(None)))}
    return [found[i] for i in ordered if i in found][:limit]



