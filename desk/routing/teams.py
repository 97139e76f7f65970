"""Leads' routing settings: teams (channels, languages, members, mode), each agent's capacity
and skills, the idle time. Each function checks the actor is a lead or above, audits, commits;
changes take effect at once (dispatch reads them on every run, no restart)."""
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from desk.accounts import audit
from desk.accounts.users import User
from desk.channels.accounts import Channel
from desk.core.errors import Conflict, DeskError, NotFound
from desk.core.extensions import db
from desk.core.texts import gettext_or_plain as _
from desk.routing.assignment import dispatch_after_commit, teams_of
from desk.routing.availability import agent_row, routing_settings
from desk.routing.models import MODES, Agent, Team, TeamMember

_LANGUAGE = re.compile(r"^[a-z]{2}$")
MAX_CAPACITY = 100




class Forbidden(DeskError):
    status = 403


def _require_lead(actor: User) -> None:
    if not actor.has_role("lead"):
        raise Forbidden(_("Only a team lead can change routing."))


def parse_languages(raw: str) -> list[str]:
    """"es, en" -> ["en", "es"]; DeskError on anything that is not a two-letter code."""
    codes = sorted({code.strip().lower() for code in (raw or "").replace(";", ",").split(",")
                    if code.strip()})
    if any(not _LANGUAGE.match(code) for code in codes):
        raise DeskError(_("Languages are two-letter codes separated by commas, like es, en."))
    return codes


def _channel_ids(ids) -> list[int]:
    ids = sorted(set(ids))
    known = set(db.session.scalars(select(Channel.id).where(Channel.id.in_(ids))))
    if known != set(ids):
        raise DeskError(_("Unknown channel."))
    return ids


def _agent_ids(ids) -> list[int]:
    ids = sorted(set(ids))
    known = set(db.session.scalars(select(User.id).where(User.id.in_(ids), User.active.is_(True))))
    if known != set(ids):
        raise DeskError(_("Unknown or inactive user."))
    return ids


def save_team(actor: User, now: datetime, *, team_id: int | None, name: str, channel_ids,
              languages: list[str], mode: str, return_on_offline: bool, member_ids) -> Team:
    """Create (team_id None) or change a team and its members; commits."""
    _require_lead(actor)
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= 120:
        raise DeskError(_("A team needs a name of 1-120 characters."))
    if mode not in MODES:
        raise DeskError(_("Unknown assignment mode."))
    team = Team() if team_id is None else db.session.get(Team, team_id)
    if team is None:
        raise NotFound(_("No such team."))
    members = _agent_ids(member_ids)
    team.name, team.mode, team.return_on_offline = name, mode, bool(return_on_offline)
    team.channel_ids, team.languages = _channel_ids(channel_ids), list(languages)
    team.members = [m for m in team.members if m.user_id in members] + [
        TeamMember(user_id=uid) for uid in members
        if uid not in {m.user_id for m in team.members}]
    db.session.add(team)
    for user_id in members:
        agent_row(user_id)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("A team named %(name)s already exists.", name=name)) from None
    audit.record("team.saved", user_id=actor.id, at=now, data={
        "team": team.id, "name": name, "mode": mode, "channels": team.channel_ids,
        "languages": team.languages, "members": members, "return_on_offline": team.return_on_offline})
    if mode != "off":
        dispatch_after_commit([team.id])
    db.session.commit()
    return team


def delete_team(actor: User, team_id: int, now: datetime) -> None:
    _require_lead(actor)
    team = db.session.get(Team, team_id)
    if team is None:
        raise NotFound(_("No such team."))
    audit.record("team.deleted", user_id=actor.id, at=now, data={"team": team.id, "name": team.name})
    db.session.delete(team)
    db.session.commit()


def save_agent(actor: User, now: datetime, user_id: int, *, capacity: int,
               languages: list[str], channel_ids) -> None:
    """Set an agent's capacity and skills; commits (their teams dispatch: capacity may have grown)."""
    _require_lead(actor)
    if not 0 <= capacity <= MAX_CAPACITY:
        raise DeskError(_("Capacity is between 0 and %(n)s open tickets.", n=MAX_CAPACITY))
    _agent_ids([user_id])
    agent = agent_row(user_id, lock=True)
    agent.capacity, agent.languages = capacity, list(languages)
    agent.channel_ids = _channel_ids(channel_ids)
    audit.record("agent.saved", user_id=actor.id, at=now, data={
        "agent": user_id, "capacity": capacity, "languages": agent.languages,
        "channels": agent.channel_ids})
    dispatch_after_commit(teams_of(user_id))
    db.session.commit()


def save_settings(actor: User, now: datetime, away_after_minutes: int) -> None:
    _require_lead(actor)
    if not 1 <= away_after_minutes <= 24 * 60:
        raise DeskError(_("The idle time is between 1 and 1440 minutes."))
    routing_settings().away_after_minutes = away_after_minutes
    audit.record("routing.settings", user_id=actor.id, at=now,
                 data={"away_after_minutes": away_after_minutes})
    db.session.commit()


def teams() -> list[Team]:
    return list(db.session.scalars(select(Team).order_by(Team.name)))


@dataclass
class TeamLoad:
    """One team on the board: its members' availability and the waiting work it serves."""

    team: Team
    members: int
    online: int
    free: int  # open-ticket places left among online members (capacity minus their open)
    unassigned: int  # open tickets in the team's channels and languages that nobody owns
    on_track: int
    at_risk: int
    breached: int


def team_loads(keyed: dict[tuple, dict[str, int]]) -> list[TeamLoad]:
    """Every team with its load, from the board's per-(channel, language, assignee) states
    (desk/sla/board.py keyed_states): one query for the members, none per team."""
    open_by_agent: dict[int, int] = {}
    for (_channel, _language, assignee_id), s in keyed.items():
        if assignee_id is not None:
            open_by_agent[assignee_id] = open_by_agent.get(assignee_id, 0) + s["open"]
    members: dict[int, list] = {}
    for row in db.session.execute(
            select(TeamMember.team_id, TeamMember.user_id, Agent.status, Agent.capacity)
            .join(User, User.id == TeamMember.user_id)
            .outerjoin(Agent, Agent.user_id == TeamMember.user_id).where(User.active.is_(True))):
        members.setdefault(row.team_id, []).append(row)
    loads = []
    for team in teams():
        mine = members.get(team.id, [])
        online = [a for a in mine if a.status == "online"]
        load = TeamLoad(team, len(mine), len(online), sum(
            max(0, (a.capacity or 0) - open_by_agent.get(a.user_id, 0)) for a in online), 0, 0, 0, 0)
        for (channel_id, language, assignee_id), s in keyed.items():
            if team.serves(channel_id, language):
                load.unassigned += s["open"] if assignee_id is None else 0
                load.on_track += s["on_track"]
                load.at_risk += s["at_risk"]
                load.breached += s["breached"]
        loads.append(load)
    return loads
