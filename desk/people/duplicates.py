"""Customers who may be the same person as another: the same e-mail or phone, or a name or
handle that reads nearly the same once folded (rapidfuzz), on any channel. Only offered: a
merge is always an agent's decision (desk/people/merge.py).

Candidates come from index range reads, never a scan: exact e-mail and phone, and the
lexicographic neighbours of each folded name and handle (customer.name_key,
customer_identity.handle_key), so the cost stays flat with a million customers."""
from dataclasses import dataclass

from rapidfuzz import fuzz
from sqlalchemy import select, union_all
from sqlalchemy.orm import selectinload

from desk.core.extensions import db
from desk.customers.models import Customer, CustomerIdentity, match_key

NEIGHBOURS = 25  # rows read on each side of a key, per column
MIN_KEY = 4  # shorter keys ("ana", "bob") say too little to suggest anything
MIN_SCORE = 85.0  # rapidfuzz ratio (0-100) of the folded names or handles
LIMIT = 10


@dataclass
class Suggestion:
    customer: Customer
    reason: str  # email, phone, name
    score: float  # 100 for the same e-mail or phone


def _keys(customer: Customer) -> set[str]:
    keys = {customer.name_key} | {i.handle_key for i in customer.identities} | {
        match_key(i.name) for i in customer.identities}
    return {k for k in keys if k and len(k) >= MIN_KEY and not k.isdigit()}


def _neighbours(keys: set[str]) -> set[int]:
    """Customer ids of the rows whose folded name or handle sorts next to one of `keys`, on
    either side: index range reads in whatever collation the database has (rapidfuzz judges
    them after), all sent as one statement, so one round trip whatever the number of keys."""
    reads = []
    for column, owner in ((Customer.name_key, Customer.id),
                          (CustomerIdentity.handle_key, CustomerIdentity.customer_id)):
        for key in sorted(keys):
            for where, order in ((column >= key, column.asc()), (column < key, column.desc())):
                rows = select(owner.label("id")).where(where).order_by(order).limit(NEIGHBOURS)
                reads.append(select(rows.subquery().c.id))
    return set(db.session.scalars(union_all(*reads))) if reads else set()


def suggestions(customer: Customer, limit: int = LIMIT) -> list[Suggestion]:
    """Customers who may be `customer`, best first; merged-away customers never appear."""
    found: dict[int, tuple[str, float]] = {}
    for reason, column, value in (("email", Customer.email, customer.email),
                                  ("phone", Customer.phone, customer.phone)):
        if value:
            for other in db.session.scalars(select(Customer.id).where(column == value)
                                            .limit(NEIGHBOURS)):
                found.setdefault(other, (reason, 100.0))
    mine = _keys(customer)
    candidates = _neighbours(mine) - set(found) - {customer.id}
    found.pop(customer.id, None)
    people = {c.id: c for c in db.session.scalars(
        select(Customer).where(Customer.id.in_(candidates | set(found)),
                               Customer.merged_into_id.is_(None))
        .options(selectinload(Customer.identities)))} if candidates or found else {}
    for other_id in candidates & set(people):
        best = max((fuzz.ratio(a, b) for a in mine for b in _keys(people[other_id])), default=0.0)
        if best >= MIN_SCORE:
            found[other_id] = ("name", best)
    ranked = sorted(((people[i], *found[i]) for i in found if i in people),
                    key=lambda s: (-s[2], s[0].id))
    return [Suggestion(c, reason, round(score, 1)) for c, reason, score in ranked[:limit]]
