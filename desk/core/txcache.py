"""Values read once per database transaction: settings and policies that hot paths consult.

A worker batch turns hundreds of messages into tickets in one transaction; each message
asks for the escalation settings and the SLA policies. Reading them once per transaction
keeps them consistent within it and cheap, and any flush that writes one of the models a
value depends on forgets the value, so a change in the same transaction is seen.
"""
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

from desk.core.extensions import db

_KEY = "per_transaction"


def per_transaction(name: str, depends_on: tuple[type, ...], load: Callable):
    """`load()` computed once per transaction of the current session (see the module doc)."""
    cache = db.session.info.setdefault(_KEY, {})
    if name not in cache:
        value = load()
        cache[name] = (value, depends_on)
        return value
    return cache[name][0]


def _forget_all(session, *_) -> None:
    session.info.pop(_KEY, None)


def _forget_at_commit(session) -> None:
    if not session.in_nested_transaction():  # a released savepoint is not the end
        session.info.pop(_KEY, None)


def _forget_written(session, _flush_context) -> None:
    cache = session.info.get(_KEY)
    if not cache:
        return
    written = {type(obj) for obj in (*session.new, *session.dirty, *session.deleted)}
    for name, (_value, depends_on) in list(cache.items()):
        if any(issubclass(kind, depends_on) for kind in written):
            del cache[name]


def install_session_hooks() -> None:
    """Forget cached values at commit, at any rollback and when their models are written."""
    for name, hook in (("after_commit", _forget_at_commit), ("after_soft_rollback", _forget_all),
                       ("after_flush", _forget_written)):
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)
