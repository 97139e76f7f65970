"""This process's suggestion engine (desk.replies.engine) for the active library and its
learning examples: rebuilt when the library's version stamp changes, fed new examples
incrementally. How each answer went weighs the example: a reply sent as it was counts
fully, one edited before sending less, and a suggestion ranked above the reply the agent
chose (or any, when the agent chose one not suggested) counts against its reply."""
import threading

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from desk.core.extensions import db
from desk.replies.engine import Engine, ReplyDoc
from desk.replies.models import CannedReply, ReplyExample, ReplyUsage

_lock = threading.Lock()
_state: dict = {"engine": None, "stamp": None, "last_example": 0}
HISTORY_LIMIT = 100_000  # newest examples an engine is built from (bounds the build time)
SENT, EDITED, PASSED_OVER = 1.0, 0.5, -0.5  # example weights by how the answer went


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
            for key, text, example_id, weight in _examples_after(_state["last_example"]):
                current.add_example(key, text, example_id, weight)
            _state["last_example"] = ex_top
        return current


def _examples_after(last_id: int, limit: int | None = None) -> list[tuple]:
    """(reply key, customer text, example id, weight) for examples after `last_id`, then the
    suggestions their agents passed over (negative weight, id ('passed', usage id))."""
    sent = aliased(ReplyUsage)
    query = (select(ReplyExample.id, CannedReply.key, ReplyExample.text, sent.uses, sent.edits)
             .join(CannedReply, CannedReply.id == ReplyExample.canned_reply_id)
             .outerjoin(sent, and_(sent.ticket_id == ReplyExample.ticket_id,
                                   sent.canned_reply_id == ReplyExample.canned_reply_id))
             .where(ReplyExample.id > last_id).order_by(ReplyExample.id))
    rows = db.session.execute(query.limit(limit) if limit else query).all()
    if not rows:
        return []
    found = [(key, text, example_id, _weight(uses, edits))
             for example_id, key, text, uses, edits in rows]
    passed, chosen = aliased(ReplyUsage), aliased(ReplyUsage)
    passed_over = (
        select(passed.id, CannedReply.key, ReplyExample.text)
        .join(passed, and_(passed.ticket_id == ReplyExample.ticket_id,
                           passed.canned_reply_id != ReplyExample.canned_reply_id,
                           passed.suggested_at.is_not(None), passed.uses == 0))
        .join(CannedReply, CannedReply.id == passed.canned_reply_id)
        .outerjoin(chosen, and_(chosen.ticket_id == ReplyExample.ticket_id,
                                chosen.canned_reply_id == ReplyExample.canned_reply_id))
        .where(ReplyExample.id > last_id, ReplyExample.id <= rows[-1][0],
               (chosen.rank.is_(None)) | (passed.rank < chosen.rank)))
    found += [(key, text, ("passed", usage_id), PASSED_OVER)
              for usage_id, key, text in db.session.execute(passed_over)]
    return found


def _weight(uses, edits) -> float:
    """SENT for a reply sent as written, EDITED when every use was edited, between if some."""
    if not uses:
        return SENT
    return SENT - (SENT - EDITED) * min(edits or 0, uses) / uses


def _build(stamp, examples) -> Engine:
    replies = db.session.scalars(select(CannedReply).where(CannedReply.active.is_(True))).all()
    docs = [ReplyDoc(r.key, r.language, r.title, r.body, tuple(r.triggers or ())) for r in replies]
    return Engine(docs, examples, version=stamp)
