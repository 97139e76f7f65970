"""The notification centre: the user's notifications grouped by ticket (and by crisis
incident), filtered by kind and unread, paged; mark read; and the live unread badge."""
from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.types import parse_id
from desk.escalation.crisis import Incident, incident_tickets
from desk.notify import centre

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


def _filters(source) -> dict:
    kind = source.get("kind", "")
    page = min(parse_id(source.get("page", "")) or 1, 10_000)
    return {"kind": kind if kind in centre.KINDS else "", "unread": source.get("unread") == "1",
            "page": page}


def _sections(groups: list[centre.Group]) -> list[tuple[Incident | None, list[centre.Group]]]:
    """Groups in order, those whose tickets share a crisis incident gathered under it."""
    ticket_ids = [g.ticket_id for g in groups if g.ticket_id]
    incident_of = dict(db.session.execute(select(incident_tickets.c.ticket_id, incident_tickets.c.incident_id)
                                          .where(incident_tickets.c.ticket_id.in_(ticket_ids))
                                          .order_by(incident_tickets.c.incident_id)).all()) if ticket_ids else {}
    incidents = {i.id: i for i in db.session.scalars(
        select(Incident).where(Incident.id.in_(set(incident_of.values()))))} if incident_of else {}
    sections, by_incident = [], {}
    for group in groups:
        incident_id = incident_of.get(group.ticket_id)
        if incident_id is None:
            sections.append((None, [group]))
        elif incident_id in by_incident:
            by_incident[incident_id].append(group)
        else:
            by_incident[incident_id] = [group]
            sections.append((incidents[incident_id], by_incident[incident_id]))
    return sections


def _list(template: str):
    filters = _filters(request.values)
    page = centre.grouped(current_user.id, kind=filters["kind"] or None,
                          unread_only=filters["unread"], page=filters["page"])
    return render_template(template, page=page, sections=_sections(page.groups), filters=filters,
                           kinds=centre.KINDS, unread=centre.unread_count(current_user.id))


@bp.route("")
@login_required
def index():
    return _list("notify/index.html")


@bp.route("/badge")
@login_required
def badge():
    """The bell's contents (polled every 15 s by base.html); never 286: counts change."""
    response = render_template("notify/_badge.html", unread=centre.unread_count(current_user.id))
    return response, 200, {"Cache-Control": "no-store"}


@bp.route("/<int:notification_id>/read", methods=["POST"])
@login_required
def read(notification_id):
    """Mark one of the user's notifications read (someone else's is silently left alone)."""
    centre.mark_read(current_user.id, notification_id, clock_now())
    return _back()


@bp.route("/tickets/<int:ticket_id>/read", methods=["POST"])
@login_required
def read_ticket(ticket_id):
    """Mark one ticket's notifications read (of the kind shown, when filtered)."""
    centre.mark_read(current_user.id, None, clock_now(), ticket_id=ticket_id,
                     kind=_filters(request.form)["kind"] or None)
    return _back()


@bp.route("/read-all", methods=["POST"])
@login_required
def read_all():
    """Mark every notification read (of the kind shown, when filtered)."""
    centre.mark_read(current_user.id, None, clock_now(), kind=_filters(request.form)["kind"] or None)
    return _back()


def _back():
    if request.headers.get("HX-Request"):
        return _list("notify/_list.html")
    filters = _filters(request.form)
    return redirect(url_for("notifications.index", kind=filters["kind"] or None,
                            unread="1" if filters["unread"] else None))
