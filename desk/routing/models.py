"""Teams, their members, each agent's availability, capacity and skills, and the idle time."""
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.types import UTCDateTime

STATUSES = ("online", "away", "offline")
MODES = ("off", "round_robin", "least_loaded")
DEFAULT_CAPACITY = 5
DEFAULT_AWAY_AFTER_MINUTES = 15


class Team(db.Model):
    """A group of agents serving some channels and languages (an empty list serves all)."""

    __table_args__ = (CheckConstraint("mode IN ('off', 'round_robin', 'least_loaded')",
                                      name="ck_team_mode"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    channel_ids: Mapped[list] = mapped_column(JSON, default=list)
    languages: Mapped[list] = mapped_column(JSON, default=list)
    mode: Mapped[str] = mapped_column(String(15), default="off")
    # When a member goes offline, their tickets with no reply yet go back to the team.
    return_on_offline: Mapped[bool] = mapped_column(default=True)
    # Round robin's pointer: the member who received the last ticket.
    last_assigned_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)

    members: Mapped[list["TeamMember"]] = relationship(
        back_populates="team", cascade="all, delete-orphan", order_by="TeamMember.user_id")

    def serves(self, channel_id: int, language: str | None) -> bool:
        """True when a ticket on `channel_id` in `language` is this team's work."""
        return ((not self.channel_ids or channel_id in self.channel_ids)
                and (not self.languages or language in self.languages))


class TeamMember(db.Model):
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"),
                                         primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)

    team: Mapped[Team] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class Agent(db.Model):
    """One user's availability, capacity (open tickets at most) and skills (empty = any).

    Automatic assignment locks these rows, so no agent passes capacity under concurrency."""

    __table_args__ = (
        CheckConstraint("status IN ('online', 'away', 'offline')", name="ck_agent_status"),
        CheckConstraint("capacity >= 0", name="ck_agent_capacity"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"),
                                         primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default="offline")
    # True when the status is "away" because the agent was idle (activity brings them back).
    idle: Mapped[bool] = mapped_column(default=False)
    status_since: Mapped[datetime] = mapped_column(UTCDateTime, default=clock_now)
    capacity: Mapped[int] = mapped_column(default=DEFAULT_CAPACITY)
    languages: Mapped[list] = mapped_column(JSON, default=list)
    channel_ids: Mapped[list] = mapped_column(JSON, default=list)

    user: Mapped[User] = relationship()


class RoutingSettings(db.Model):
    """The desk-wide routing settings: one row (id 1), edited by leads."""

    id: Mapped[int] = mapped_column(primary_key=True)
    away_after_minutes: Mapped[int] = mapped_column(default=DEFAULT_AWAY_AFTER_MINUTES)
