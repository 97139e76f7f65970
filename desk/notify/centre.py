"""The notification centre's reads and writes: a user's notifications grouped by ticket,
filtered by kind and unread, a page at a time; the unread count; mark read."""
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select, update

from desk.core.extensions import db
from desk.notify.notifications import Notification

KINDS = ("escalation", "approval", "sla_warning", "sla_breach", "mention", "channel_failing",
         "token_expiring")
GROUPS_PER_PAGE = 20
ITEMS_PER_GROUP = 5  # the newest of a group; the rest are counted


@dataclass
class Group:
    """One ticket's notifications (or one notification about no ticket), newest first."""
    ticket_id: int | None
    latest_at: datetime
    total: int
    unread: int
    items: list[Notification] = field(default_factory=list)

    @property
    def first(self) -> Notification:
        return self.items[0]

    @property
    def hidden(self) -> int:
        return self.total - len(self.items)


@dataclass
class Page:
    groups: list[Group]
    number: int
    has_more: bool


def _filtered(user_id: int, kind: str | None, unread_only: bool):
    conditions = [Notification.user_id == user_id]
    if kind in KINDS:
        conditions.append(Notification.kind == kind)
    if unread_only:
        conditions.append(Notification.read_at.is_(None))
    return conditions


def grouped(user_id: int, *, kind: str | None = None, unread_only: bool = False,
            page: int = 1, per_page: int = GROUPS_PER_PAGE) -> Page:
    """A page of the user's notifications grouped by ticket, the latest group first."""
    conditions = _filtered(user_id, kind, unread_only)
    # A notification about no ticket is a group of its own (keyed by its negative id).
    key = func.coalesce(Notification.ticket_id, -Notification.id)
    unread = func.sum(case((Notification.read_at.is_(None), 1), else_=0))
    page = max(1, page)
    rows = db.session.execute(
        select(key.label("key"), func.max(Notification.created_at).label("latest"),
               func.count().label("total"), unread.label("unread"))
        .where(*conditions).group_by(key)
        .order_by(func.max(Notification.created_at).desc(), key.desc())
        .offset((page - 1) * per_page).limit(per_page + 1)).all()
    has_more = len(rows) > per_page
    rows = rows[:per_page]
    groups = {row.key: Group(row.key if row.key > 0 else None, row.latest, row.total,
                             int(row.unread or 0)) for row in rows}
    if groups:
        ticket_ids = [k for k in groups if k > 0]
        lone_ids = [-k for k in groups if k < 0]
        ranked = select(Notification.id, func.row_number().over(
            partition_by=key, order_by=(Notification.created_at.desc(), Notification.id.desc()))
            .label("rank")).where(*conditions, (Notification.ticket_id.in_(ticket_ids)
                                                | Notification.id.in_(lone_ids))).subquery()
        items = db.session.scalars(
            select(Notification).join(ranked, ranked.c.id == Notification.id)
            .where(ranked.c.rank <= ITEMS_PER_GROUP)
            .order_by(Notification.created_at.desc(), Notification.id.desc())).all()
        for item in items:
            groups[item.ticket_id or -item.id].items.append(item)
    return Page([g for g in groups.values() if g.items], page, has_more)


def recent(user_id: int, limit: int = 100) -> list[Notification]:
    """The user's notifications, newest first."""
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user_id)
                                   .order_by(Notification.created_at.desc(), Notification.id.desc())
                                   .limit(limit)))


def unread_count(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def mark_read(user_id: int, notification_id: int | None, now: datetime, *,
              ticket_id: int | None = None, kind: str | None = None) -> int:
    """Mark one notification, one ticket's, or (with neither) every unread notification of this
    user read, of one kind when given; commits."""
    query = update(Notification).where(*_filtered(user_id, kind, True))
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    if ticket_id is not None:
        query = query.where(Notification.ticket_id == ticket_id)
    changed = db.session.execute(query.values(read_at=now)
                                 .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return changed
