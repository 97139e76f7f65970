"""Who wrote: the customer behind a platform user id, created on first sight, its profile
kept fresh from what each message says about its author."""
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from desk.channels.base import NormalizedMessage
from desk.core.extensions import db
from desk.customers.models import Customer, CustomerIdentity


def upsert_customer(message: NormalizedMessage, memo: dict | None = None, *,
                    seen_at: datetime) -> Customer:
    """The customer behind a platform user id; created on first sight (`seen_at`: when the
    message was written, so "customer since" is their first message), profile kept fresh."""
    author = message.author
    identity = find_identity(message.platform, author.id, memo)
    if identity is None:
        customer = Customer(display_name=(author.name or author.handle or author.id)[:200],
                            followers=author.followers, created_at=seen_at)
        identity = CustomerIdentity(customer=customer, platform=message.platform,
                                    platform_user_id=author.id[:100], handle=author.handle,
                                    name=author.name, followers=author.followers,
                                    created_at=seen_at)
        if memo is not None and memo.get("threads") is not None:
            db.session.add(identity)  # a batch's savepoint takes a concurrent first message
        else:
            with db.session.begin_nested():  # a concurrent first message raises IntegrityError
                db.session.add(identity)
        if memo is not None:
            memo[identity_key(message.platform, author.id)] = identity
        return customer
    for field in ("handle", "name", "followers"):
        value = getattr(author, field)
        if value is not None and getattr(identity, field) != value:
            setattr(identity, field, value)
    customer = identity.customer
    if author.followers is not None and (customer.followers or 0) < author.followers:
        customer.followers = author.followers
    return customer

def identity_key(platform: str, user_id: str) -> tuple:
    return ("identity", platform, user_id[:100])

def find_identity(platform: str, user_id: str, memo: dict | None = None) -> CustomerIdentity | None:
    """The identity (with its customer) of a platform user; from `memo` when prefetched."""
    key = identity_key(platform, user_id)
    if memo is not None and key in memo:
        return memo[key]
    identity = db.session.scalar(select(CustomerIdentity).options(joinedload(CustomerIdentity.customer))
                                 .where(CustomerIdentity.platform == platform,
                                        CustomerIdentity.platform_user_id == user_id[:100]))
    if memo is not None:
        memo[key] = identity
    return identity

def prefetch_identities(messages: list[NormalizedMessage]) -> dict:
    """A batch memo holding the identities of every author in `messages` (one query per
    platform; None for authors not seen before). A stale None costs one IntegrityError retry."""
    memo: dict = {}
    by_platform: dict[str, set] = {}
    for message in messages:
        if message.author and message.author.id:
            by_platform.setdefault(message.platform, set()).add(message.author.id[:100])
    for platform, user_ids in by_platform.items():
        for key in user_ids:
            memo[identity_key(platform, key)] = None
        found = db.session.scalars(select(CustomerIdentity)
                                   .options(joinedload(CustomerIdentity.customer))
                                   .where(CustomerIdentity.platform == platform,
                                          CustomerIdentity.platform_user_id.in_(user_ids)))
        for identity in found:
            memo[identity_key(platform, identity.platform_user_id)] = identity
    return memo
