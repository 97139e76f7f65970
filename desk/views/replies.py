"""Canned replies: the library (usage figures, edit, import/export), ticket suggestions, `/` search."""
import json
import re

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from desk.core.clock import now as clock_now
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.inbox.tickets import Ticket
from desk.replies import library as replies
from desk.replies.index import engine
from desk.replies.library import placeholder_values, render
from desk.replies.models import CannedReply
from desk.replies.text import SLANG, fold, squeeze
from desk.replies.usage import suggest_for_ticket, usage_figures
from desk.views.access import audit_actor, role_required

bp = Blueprint("replies", __name__)


class ReplyForm(FlaskForm):
    key = StringField(_l("Key"), validators=[DataRequired(), Length(max=100)])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    language = SelectField(_l("Language"), choices=[(code, code) for code in replies.LANGUAGES])
    body = TextAreaField(_l("Body"), validators=[DataRequired(), Length(max=5000)],
                         render_kw={"rows": 6})
    triggers = TextAreaField(_l("Trigger phrases (one a line)"), render_kw={"rows": 5})
    tags = StringField(_l("Tags (comma separated)"))
    active = BooleanField(_l("Active"), default=True)
    file = FileField(_l("File sent with the reply (a return label, an invoice)"))
    remove_file = BooleanField(_l("Remove the file"))


class ImportForm(FlaskForm):
    file = FileField(_l("Library file (JSON)"), validators=[FileRequired()])


def _lines(text: str | None, sep: str = "\n") -> list[str]:
    return [part.strip() for part in (text or "").split(sep) if part.strip()]


@bp.route("/replies")
@role_required("cm")
def library():
    rows = db.session.scalars(select(CannedReply).order_by(
        CannedReply.active.desc(), CannedReply.title)).all()
    return render_template("replies/library.html", replies=rows, figures=usage_figures(),
                           import_form=ImportForm(), placeholders=replies.PLACEHOLDERS)


@bp.route("/replies/new", methods=["GET", "POST"])
@bp.route("/replies/<int:reply_id>/edit", methods=["GET", "POST"])
@role_required("lead")
def edit(reply_id=None):
    reply = replies.get_reply(reply_id) if reply_id else None
    form = ReplyForm(obj=reply)
    if request.method == "GET" and reply:
        form.triggers.data, form.tags.data = "\n".join(reply.triggers), ", ".join(reply.tags)
    if form.validate_on_submit():
        values = {"key": form.key.data, "title": form.title.data, "language": form.language.data,
                  "body": form.body.data, "triggers": _lines(form.triggers.data),
                  "tags": _lines(form.tags.data, ","), "active": form.active.data}
        try:
            upload = form.file.data
            saved = replies.save_reply(
                values, clock_now(), current_user, reply_id, audit_actor(),
                file=(upload.filename, upload.read()) if upload and upload.filename else None,
                remove_file=form.remove_file.data)
        except replies.FileRefused as exc:
            form.file.errors = [*form.file.errors, str(exc)]
        except DeskError as exc:
            form.key.errors = [*form.key.errors, str(exc)]
        else:
            flash(_("Canned reply “%(title)s” saved.", title=saved.title), "info")
            return redirect(url_for("replies.library"))
    return render_template("replies/edit.html", form=form, reply=reply,
                           placeholders=replies.PLACEHOLDERS), 200 if not form.errors else 400


@bp.route("/replies/<int:reply_id>/active", methods=["POST"])
@role_required("lead")
def toggle_active(reply_id):
    reply = replies.get_reply(reply_id)
    replies.set_active(reply.id, not reply.active, clock_now(), audit_actor())
    return redirect(url_for("replies.library"))


@bp.route("/replies/import", methods=["POST"])
@role_required("lead")
def import_file():
    form = ImportForm()
    if not form.validate_on_submit():
        raise DeskError(_("Choose a library file to import."))
    result = replies.import_library(form.file.data.read(), clock_now(), current_user,
                                    audit_actor())
    flash(_("Imported: %(created)d created, %(updated)d updated, %(unchanged)d unchanged.",
            created=len(result.created), updated=len(result.updated),
            unchanged=len(result.unchanged)), "info")
    return redirect(url_for("replies.library"))


@bp.route("/replies/export")
@role_required("lead")
def export():
    body = json.dumps(replies.export_library(), ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": "attachment; filename=canned-replies.json"})


@bp.route("/tickets/<int:ticket_id>/suggestions")
@role_required("cm")
def suggestions(ticket_id):
    ticket = db.session.get(Ticket, ticket_id) or abort(404)
    text, items = suggest_for_ticket(ticket, current_user, clock_now())
    return render_template("replies/_suggestions.html", ticket=ticket, items=items,
                           customer_text=text, highlight=highlight,
                           mark_placeholders=mark_placeholders)


@bp.route("/replies/search")
@role_required("cm")
def search():
    query = request.args.get("q", "")[:100]
    ticket_id = request.args.get("ticket_id", type=int)
    ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    keys = [key for key, _score in engine().search_titles(query, limit=8)]
    rows = {r.key: r for r in db.session.scalars(select(CannedReply).where(CannedReply.key.in_(keys)))}
    values = placeholder_values(ticket, current_user)
    found = [(rows[k], render(rows[k].body, values)) for k in keys if k in rows]
    return render_template("replies/_search.html", found=found, query=query,
                           mark_placeholders=mark_placeholders)


_WORD = re.compile(r"(\w+)")


def highlight(text: str, words) -> Markup:
    """`text` escaped, with the words that matched wrapped in <mark> (compared accent-free)."""
    wanted = set(words)
    parts = []
    for piece in _WORD.split(text or ""):
        folded = squeeze(fold(piece))
        if piece and (folded in wanted or SLANG.get(folded) in wanted):
            parts.append(Markup("<mark>%s</mark>") % piece)
        else:
            parts.append(escape(piece))
    return Markup("").join(parts)


_PLACEHOLDER_TEXT = re.compile(r"\{\{.{0,80}?\}\}", re.S)


def mark_placeholders(text: str) -> Markup:
    """`text` escaped, each unfilled {{placeholder}} wrapped for the agent's eye."""
    escaped = str(escape(text or ""))
    return Markup(_PLACEHOLDER_TEXT.sub(lambda m: f'<mark class="placeholder">{m.group(0)}</mark>',
                                        escaped))
