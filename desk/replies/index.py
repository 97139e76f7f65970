"""This process's suggestion engine (desk.replies.engine) for the active library and its
learning examples: rebuilt when the library's version stamp changes, fed new examples
incrementally."""
import threading

from sqlalchemy import func, select

from desk.core.extensions import db
from desk.replies.engine import Engine, ReplyDoc
from desk.replies.models import CannedReply, ReplyExample

_lock = threading.Lock()
_state: dict = {"engine": None, "stamp": None, "last_example": 0}
HISTORY_LIMIT = 100_000  # newest examples an engine is built from (bounds the build time)


def invalidate() -> None:
    with _lock:
        _state["engine"] = None


def _stamp():
    count, newest, top = db.session.execute(select(
        func.count(CannedReply.id), func.max(CannedReply.updated_at), func.max(CannedReply.id))).one()
    return (str(db.engine.url), count, newest, top)


def engine() -> Engine:
    """This process's engine for the active library and its learning examples, kept current."""
    stamp = _stamp()
    # max(id) is an index lookup; a smaller value than last time means the table was emptied.
    ex_top = db.session.scalar(select(func.max(ReplyExample.id))) or 0
    with _lock:
        current = _state["engine"]
        if current is None or _state["stamp"] != stamp or ex_top < _state["last_example"]:
            current = _build(stamp, _examples_after(ex_top - HISTORY_LIMIT, HISTORY_LIMIT))
            _state.update(engine=current, stamp=stamp, last_example=ex_top)
        elif ex_top > _state["last_example"]:
            for example_id, key, text in _examples_after(_state["last_example"]):
                current.add_example(key, text, example_id)
            _state["last_example"] = ex_top
        return current


def _examples_after(last_id: int, limit: int | None = None):
    query = (select(ReplyExample.id, CannedReply.key, ReplyExample.text)
             .join(CannedReply, CannedReply.id == ReplyExample.canned_reply_id)
             .where(ReplyExample.id > last_id).order_by(ReplyExample.id))
    return db.session.execute(query.limit(limit) if limit else query).all()


def _build(stamp, examples) -> Engine:
    replies = db.session.scalars(select(CannedReply).where(CannedReply.active.is_(True))).all()
    docs = [ReplyDoc(r.key, r.language, r.title, r.body, tuple(r.triggers or ())) for r in replies]
    return Engine(docs, [(key, text, example_id) for example_id, key, text in examples],
                  version=stamp)
