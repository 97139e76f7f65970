"""Macros: a named set of actions (a reply, tags, priority, owner, status) run on a ticket in one
transaction, after a preview. Personal (their owner's) or shared with a team (its members;
leads make them and see every macro)."""
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, or_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.accounts import audit
from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db
from desk.core.texts import gettext_or_plain as _
from desk.core.types import UTCDateTime
from desk.inbox import actions
from desk.inbox.tickets import PRIORITIES, Ticket
from desk.replies.library import placeholder_values, render
from desk.routing.models import Team, TeamMember

ASSIGN = ("me", "unassign")  # besides a user id; NULL leaves the owner as it is
MACRO_STATUSES = ("pending", "resolved")




class Macro(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    reply: Mapped[str] = mapped_column(Text, default="")  # may hold {{placeholders}}
    tags: Mapped[list] = mapped_column(JSON, default=list)
    priority: Mapped[str | None] = mapped_column(String(10))
    assign: Mapped[str | None] = mapped_column(String(12))  # "me", "unassign" or a user id
    status: Mapped[str | None] = mapped_column(String(10))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)

    team: Mapped[Team | None] = relationship()


@dataclass
class Preview:
    """What running a macro on a ticket would do: the reply as it would go, and the steps."""

    reply: str
    steps: list[tuple[str, str]] = field(default_factory=list)  # (what, value)
    problems: list[str] = field(default_factory=list)  # nothing runs while any is left


def visible(user: User) -> list[Macro]:
    """The macros `user` may run: their own, their teams' (every team's for leads)."""
    query = select(Macro).order_by(Macro.name, Macro.id)
    if not user.has_role("lead"):
        teams = select(TeamMember.team_id).where(TeamMember.user_id == user.id)
        query = query.where(or_(Macro.owner_id == user.id, Macro.team_id.in_(teams)))
    else:
        query = query.where(or_(Macro.owner_id == user.id, Macro.team_id.is_not(None)))
    return list(db.session.scalars(query))


def _macro_for(macro_id: int, user: User) -> Macro:
    macro = next((m for m in visible(user) if m.id == macro_id), None)
    if macro is None:
        raise NotFound(_("No such macro."))
    return macro


def save(actor: User, now: datetime, *, macro_id: int | None, name: str, team_id: int | None,
         reply: str, tags: list[str], priority: str | None, assign: str | None,
         status: str | None) -> Macro:
    """Create or change a macro (a team's: leads only; a personal one: its owner); commits."""
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= 120:
        raise DeskError(_("A macro needs a name of 1-120 characters."))
    if team_id is not None and not actor.has_role("lead"):
        raise actions.Forbidden(_("Only a team lead can share macros with a team."))
    if team_id is not None and db.session.get(Team, team_id) is None:
        raise DeskError(_("No such team."))
    if priority not in (None, *PRIORITIES) or status not in (None, *MACRO_STATUSES):
        raise DeskError(_("Unknown priority or status."))
    if assign is not None and assign not in ASSIGN and not (assign.isdigit() and db.session.get(
            User, int(assign))):
        raise DeskError(_("Choose someone from the list."))
    reply = (reply or "").strip()
    if len(reply) > 5000:
        raise DeskError(_("A reply has at most 5000 characters."))
    tags = sorted({actions.normalize_tag(tag) for tag in tags})
    if not (reply or tags or priority or assign or status):
        raise DeskError(_("A macro needs at least one action."))
    macro = Macro(created_by_id=actor.id, created_at=now) if macro_id is None else _macro_for(macro_id, actor)
    if macro.team_id is not None and not actor.has_role("lead"):
        raise actions.Forbidden(_("Only a team lead can share macros with a team."))
    macro.name, macro.reply, macro.tags, macro.priority = name, reply, tags, priority
    macro.assign, macro.status = assign, status
    macro.team_id, macro.owner_id = team_id, None if team_id is not None else actor.id
    db.session.add(macro)
    db.session.flush()
    audit.record("macro.saved", user_id=actor.id, at=now, data={"macro": macro.id, "name": name})
    db.session.commit()
    return macro


def delete(actor: User, macro_id: int, now: datetime) -> None:
    macro = _macro_for(macro_id, actor)
    if macro.team_id is not None and not actor.has_role("lead"):
        raise actions.Forbidden(_("Only a team lead can share macros with a team."))
    audit.record("macro.deleted", user_id=actor.id, at=now, data={"macro": macro.id, "name": macro.name})
    db.session.delete(macro)
    db.session.commit()


def _assignee(macro: Macro, actor: User):
    if macro.assign is None:
        return actions.KEEP
    return {"me": actor.id, "unassign": None}.get(macro.assign) or int(macro.assign)


def preview(macro_id: int, ticket_id: int, actor: User) -> Preview:
    """What the macro would do to the ticket, with its reply filled in for this customer."""
    macro, ticket = _macro_for(macro_id, actor), db.session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(_("No ticket %(id)s", id=ticket_id))
    rendered = render(macro.reply, placeholder_values(ticket, actor)) if macro.reply else None
    found = Preview(rendered.text if rendered else "")
    if rendered and rendered.unfilled:
        found.problems.append(_("The reply still has placeholders nobody can fill: %(names)s",
                                names=", ".join(rendered.unfilled)))
    if macro.assign is not None:
        target = _assignee(macro, actor)
        user = db.session.get(User, target) if target else None
        found.steps.append(("assign", user.name if user else ""))
    found.steps += [("tag", tag) for tag in macro.tags]
    if macro.priority:
        found.steps.append(("priority", macro.priority))
    if macro.reply:
        found.steps.append(("reply", found.reply))
    if macro.status:
        found.steps.append(("status", macro.status))
    if ticket.status == "resolved":
        found.problems.append(_("The ticket is resolved."))
    return found


def run(macro_id: int, ticket_id: int, actor: User, now: datetime) -> Ticket:
    """Run the macro on the ticket in one transaction (nothing runs if its preview has problems)."""
    seen = preview(macro_id, ticket_id, actor)
    if seen.problems:
        raise DeskError(" ".join(seen.problems))
    macro = _macro_for(macro_id, actor)
    audit.record("macro.run", ticket_id=ticket_id, user_id=actor.id, at=now,
                 data={"macro": macro.id, "name": macro.name})
    return actions.apply_actions(ticket_id, actor, now, reply=seen.reply, tags=macro.tags,
                                 priority=macro.priority, assignee=_assignee(macro, actor),
                                 status=macro.status)

