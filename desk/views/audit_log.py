"""The audit log page for admins (/admin/audit): who did what to which object, when and from
where; filters by person, action, object and time; pages by cursor; CSV export."""
import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import or_, select

from desk.accounts.audit import OBJECT_TYPES, AuditEvent
from desk.accounts.users import User
from desk.core.extensions import db
from desk.core.types import MAX_ID
from desk.reports.export import safe_cell
from desk.views.access import role_required
from desk.views.audit_actions import ACTIONS
from desk.views.filters import localtime

bp = Blueprint("audit_log", __name__, url_prefix="/admin")
PAGE = 50
CSV_BATCH = 1000

# Whose events the page shows: people's changes (the default), the system's, or both.
WHO = ("people", "system", "all")
OBJECT_NAMES = {
    "ticket": _l("ticket"), "user": _l("user"), "api_token": _l("API token"),
    "channel": _l("channel"), "sla_policy": _l("SLA policy"), "sla_calendar": _l("calendar"),
    "escalation_rules": _l("escalation rules"), "canned_reply": _l("canned reply"),
    "incident": _l("incident"), "sign_in_policy": _l("sign-in rules"), "customer": _l("customer"),
}
SOURCE_NAMES = {"web": _l("web"), "api": _l("API"), "cli": _l("command line"),
                "system": _l("system")}


@bp.before_request
@role_required("admin")
def _admins_only():
    """The audit log is for admins."""


@dataclass
class Filters:
    user_id: int | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: int | None = None
    start: date | None = None
    end: date | None = None
    who: str = "people"
    errors: tuple = ()

    def args(self) -> dict:
        values = {"user": self.user_id, "who": None if self.who == "people" else self.who,
                  "action": self.action, "object": self.object_type,
                  "object_id": self.object_id, "from": self.start, "to": self.end}
        return {k: str(v) for k, v in values.items() if v is not None}


def _id(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() and int(value) <= MAX_ID \
        else None


def parse_filters(args) -> Filters:
    """The page's filters from the query string; what cannot be read is named in `errors`."""
    found, errors = Filters(), []
    found.user_id, found.object_id = _id(args.get("user")), _id(args.get("object_id"))
    found.who = args.get("who") if args.get("who") in WHO else "people"
    action, kind = args.get("action") or None, args.get("object") or None
    found.action = action if action in ACTIONS else None
    found.object_type = kind if kind in OBJECT_TYPES else None
    for key, attr in (("from", "start"), ("to", "end")):
        if args.get(key):
            try:
                setattr(found, attr, date.fromisoformat(args[key]))
            except ValueError:
                errors.append(_("Not a date: %(value)s", value=args[key]))
    found.errors = tuple(errors)
    return found


def _zone() -> ZoneInfo:
    try:
        return ZoneInfo(current_user.timezone or "UTC")
    except (ValueError, LookupError):
        return ZoneInfo("UTC")


def filtered(filters: Filters):
    """The audit rows the filters pick, newest first (by id, which only grows)."""
    query = select(AuditEvent)
    if filters.user_id:
        query = query.where(AuditEvent.user_id == filters.user_id)
    elif filters.who == "people":  # a person's change, on a page or with their token or command
        query = query.where(or_(AuditEvent.user_id.is_not(None), AuditEvent.source == "cli"))
    elif filters.who == "system":
        query = query.where(AuditEvent.user_id.is_(None), or_(AuditEvent.source.is_(None),
                                                              AuditEvent.source != "cli"))
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.object_type:
        query = query.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id:
        query = query.where(AuditEvent.object_id == filters.object_id)
    zone = _zone()  # days are the viewer's days
    if filters.start:
        query = query.where(AuditEvent.created_at >= datetime.combine(filters.start, time(), zone))
    if filters.end:
        query = query.where(AuditEvent.created_at < datetime.combine(
            filters.end + timedelta(days=1), time(), zone))
    return query.order_by(AuditEvent.id.desc())


def _names(events) -> dict[int, User]:
    ids = {e.user_id for e in events if e.user_id} | {
        e.object_id for e in events if e.object_type == "user" and e.object_id} | {
        e.data.get("user_id") for e in events
        if e.object_type == "api_token" and isinstance(e.data, dict) and e.data.get("user_id")}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}


def _list(value) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, (list, tuple, dict)) else str(value)


def describe(event: AuditEvent, people: dict[int, User]) -> str:
    """The event as a sentence in the viewer's language (plain text: the page escapes it)."""
    data = event.data if isinstance(event.data, dict) else {}
    person = people.get(event.user_id)
    if person is not None:
        actor = person.name
    elif event.actor.startswith("rule:"):
        actor = _("the rule %(name)s", name=event.actor[5:])
    elif event.user_id is None:
        actor = _("the system") if event.source != "cli" else _("the command line")
    else:
        actor = _("user #%(id)s", id=event.user_id)
    if event.object_type == "user" and event.object_id in people:
        target = people[event.object_id].name
    elif data.get("name"):
        target = str(data["name"])
    elif event.object_type == "ticket":
        target = _("ticket #%(id)s", id=event.object_id)
    elif event.object_type:
        target = f"{OBJECT_NAMES.get(event.object_type, event.object_type)} #{event.object_id or ''}"
    else:
        target = ""
    changed = (data.get("changed", data.get("changes", data))
               if event.action.endswith((".updated", ".edited", "rules.changed")) else {})
    values = {**{k: _list(v) for k, v in data.items()}, "actor": actor, "object": target,
              "fields": ", ".join(changed) if isinstance(changed, (dict, list)) and changed else "—",
              "scopes": _list(data.get("scopes") or [])}
    if event.object_type == "api_token":
        owner = people.get(data.get("user_id"))
        values["owner"] = owner.name if owner else _("an integration (no user)")
    known = ACTIONS.get(event.action)
    if known is None:
        return _("%(actor)s: %(action)s %(object)s", actor=actor, action=event.action, object=target)
    try:
        return str(known[1]) % values
    except (KeyError, TypeError, ValueError):
        return f"{actor}: {known[0]} {target}"


@dataclass
class Row:
    event: AuditEvent
    sentence: str
    action_name: str


def rows_of(events) -> list[Row]:
    people = _names(events)
    return [Row(e, describe(e, people), str(ACTIONS[e.action][0]) if e.action in ACTIONS else e.action)
            for e in events]


@bp.get("/audit")
def index():
    filters = parse_filters(request.args)
    before = _id(request.args.get("before"))
    query = filtered(filters)
    if before:
        query = query.where(AuditEvent.id < before)
    events = db.session.scalars(query.limit(PAGE + 1)).all()
    more = len(events) > PAGE
    events = events[:PAGE]
    next_url = url_for("audit_log.index", **filters.args(), before=events[-1].id) if more else None
    people = db.session.scalars(select(User).order_by(User.name)).all()
    return render_template(
        "accounts/audit.html", rows=rows_of(events), filters=filters, next_url=next_url,
        first_url=url_for("audit_log.index", **filters.args()) if before else None,
        csv_url=url_for("audit_log.export", **filters.args()), people=people,
        actions=[(code, str(names[0])) for code, names in ACTIONS.items()],
        object_types=[(kind, str(OBJECT_NAMES[kind])) for kind in OBJECT_TYPES],
        sources=SOURCE_NAMES), 200 if not filters.errors else 400


CSV_HEADER = ("id", "time_utc", "time_local", "who", "who_email", "action", "object_type",
              "object_id", "description", "ip", "source", "data")


def _nobody(event: AuditEvent) -> str:
    """Who made a change no user is named for: the command line, a rule or the system."""
    return "cli" if event.source == "cli" else event.actor if event.actor != "user" else "system"


@bp.get("/audit.csv")
def export():
    """Every row the filters pick, in batches (the log grows), formula-safe cells."""
    filters = parse_filters(request.args)
    if filters.errors:
        return Response("; ".join(filters.errors) + "\n", 400, mimetype="text/plain")

    def generate():
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_HEADER)
        before = None
        while True:
            query = filtered(filters)
            if before is not None:
                query = query.where(AuditEvent.id < before)
            events = db.session.scalars(query.limit(CSV_BATCH)).all()
            people = _names(events)
            for e in events:
                who = people.get(e.user_id)
                writer.writerow([safe_cell(v) for v in (
                    e.id, e.created_at.isoformat(), localtime(e.created_at, "yyyy-MM-dd HH:mm:ss"),
                    who.name if who else _nobody(e), who.email if who else "", e.action,
                    e.object_type or "", e.object_id if e.object_id is not None else "",
                    describe(e, people), e.ip or "", e.source or "",
                    json.dumps(e.data, ensure_ascii=False, sort_keys=True, default=str))])
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if len(events) < CSV_BATCH:
                return
            before = events[-1].id

    return Response(stream_with_context(generate()), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=audit-log.csv"})
