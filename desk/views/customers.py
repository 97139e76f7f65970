"""The customer pages: search, one person's page (details, notes, tags, timeline, duplicate
suggestions), merge with its preview and undo, the VIP list import, and the person's data
export and erasure (SMM and admin)."""
import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from desk.core.clock import now as clock_now
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.core.types import parse_id
from desk.customers.models import Customer
from desk.people import duplicates, edit, merge, privacy, profile
from desk.people.search import search_customers
from desk.views.access import audit_actor, role_required

bp = Blueprint("customers", __name__, url_prefix="/customers")
RETENTION_LABELS = {"none": _l("Not served yet"), "open": _l("Window open"),
                    "retained": _l("Came back"), "lost": _l("Did not come back")}
REASON_LABELS = {"email": _l("Same e-mail"), "phone": _l("Same phone"),
                 "name": _l("Similar name or handle")}
FIELD_LABELS = {"display_name": _l("Name"), "email": _l("E-mail"), "phone": _l("Phone"),
                "language": _l("Language"), "timezone": _l("Time zone"), "vip": _l("VIP"),
                "avatar_url": _l("Picture"), "followers": _l("Followers")}
MOVED_LABELS = {"ticket": _l("Tickets"), "message": _l("Messages"), "survey": _l("Surveys"),
                "activity": _l("Activity events"), "identity": _l("Accounts"), "note": _l("Notes")}
ERASED_LABELS = {"identity": _l("Accounts removed"), "ticket": _l("Tickets kept, without subject or notes"),
                 "message": _l("Messages whose text is removed"), "note": _l("Notes removed"),
                 "survey": _l("Surveys kept, without comment")}


@bp.before_request
@role_required("cm")
def _agents_only():
    """Every customer route is for signed-in agents (cm and above)."""


def _customer(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        abort(404)
    return customer


def _kept(customer: Customer):
    """A redirect to the customer this one was merged into, or None for a live one."""
    if customer.merged_into_id is None:
        return None
    return redirect(url_for("customers.show", customer_id=edit.kept_id(customer.id)))


@bp.route("")
def index():
    q = request.args.get("q", "")
    found = search_customers(q) if q.strip() else []
    template = "customers/_results.html" if request.headers.get("HX-Request") else "customers/index.html"
    return render_template(template, q=q, found=found)


def _page(customer: Customer, error: str | None = None, status: int = 200):
    page = parse_id(request.args.get("page", "")) or 1
    data = profile.customer_file(customer, clock_now(), tickets_page=page)
    return render_template("customers/show.html", file=data, c=customer, error=error, page=page,
                           retention_labels=RETENTION_LABELS, languages=edit.LANGUAGES,
                           field_labels=FIELD_LABELS, moved_labels=MOVED_LABELS), status


@bp.route("/<int:customer_id>")
def show(customer_id):
    customer = _customer(customer_id)
    return _kept(customer) or _page(customer)


@bp.route("/<int:customer_id>/timeline")
def timeline(customer_id):
    customer = _customer(customer_id)
    messages, more = profile.timeline(customer.id, profile.parse_cursor(request.args.get("before")))
    return render_template("customers/_timeline.html", c=customer, messages=messages, more=more)


@bp.route("/<int:customer_id>", methods=["POST"])
def update(customer_id):
    customer = _customer(customer_id)
    form = request.form
    changes = {name: form.get(name, "") for name in edit.EDITABLE if name != "vip"}
    changes["vip"] = form.get("vip") == "on"
    try:
        changed = edit.update_customer(customer.id, changes, by=audit_actor(), now=clock_now())
    except DeskError as exc:
        db.session.rollback()
        return _page(customer, error=str(exc), status=exc.status if exc.status < 500 else 400)
    flash(_("Customer saved.") if changed else _("Nothing changed."), "info")
    return redirect(url_for("customers.show", customer_id=customer.id))


@bp.route("/<int:customer_id>/notes", methods=["POST"])
def add_note(customer_id):
    customer = _customer(customer_id)
    edit.add_note(customer.id, request.form.get("body", ""), by=audit_actor(), now=clock_now())
    flash(_("Note added."), "info")
    return redirect(url_for("customers.show", customer_id=customer.id) + "#customer-notes")


@bp.route("/<int:customer_id>/tags", methods=["POST"])
def set_tags(customer_id):
    customer = _customer(customer_id)
    edit.set_tags(customer.id, request.form.get("tags", "").split(","), by=audit_actor(),
                  now=clock_now())
    flash(_("Tags saved."), "info")
    return redirect(url_for("customers.show", customer_id=customer.id))


@bp.route("/<int:customer_id>/duplicates")
def suggested(customer_id):
    customer = _customer(customer_id)
    return render_template("customers/_duplicates.html", c=customer,
                           suggestions=duplicates.suggestions(customer), reasons=REASON_LABELS)


@bp.route("/<int:customer_id>/merge")
def merge_preview(customer_id):
    other = parse_id(request.args.get("other", ""))
    if other is None:
        q = request.args.get("q", "")
        found = [c for c in search_customers(q) if c.id != customer_id] if q.strip() else []
        return render_template("customers/merge_pick.html", c=_customer(customer_id), q=q,
                               found=found)
    seen = merge.preview(customer_id, other)
    return render_template("customers/merge.html", preview=seen, field_labels=FIELD_LABELS,
                           moved_labels=MOVED_LABELS)


@bp.route("/<int:customer_id>/merge", methods=["POST"])
def do_merge(customer_id):
    other = parse_id(request.form.get("other", ""))
    if other is None:
        raise DeskError(_("Choose the customer to merge."))
    record = merge.merge(customer_id, other, by=audit_actor(), now=clock_now())
    flash(_("Customers merged. Every ticket, message and survey is now on this page."), "info")
    return redirect(url_for("customers.show", customer_id=record.kept_id) + "#customer-merges")


@bp.route("/merges/<int:merge_id>/undo", methods=["POST"])
def undo_merge(merge_id):
    record = merge.undo(merge_id, by=audit_actor(), now=clock_now())
    flash(_("Merge undone: the two customers are apart again."), "info")
    return redirect(url_for("customers.show", customer_id=record.kept_id))


@bp.route("/import", methods=["GET", "POST"])
@role_required("lead")
def import_vip():
    result, error = None, None
    if request.method == "POST":
        upload = request.files.get("file")
        raw = upload.read(2_000_001) if upload else b""
        try:
            if not raw or len(raw) > 2_000_000:
                raise DeskError(_("Choose a CSV file of at most 2 MB."))
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise DeskError(_("The file is not UTF-8 text.")) from None
            result = edit.import_vip_list(text, by=audit_actor(), now=clock_now())
        except DeskError as exc:
            db.session.rollback()
            error = str(exc)
    return render_template("customers/import.html", result=result, error=error), 400 if error else 200


@bp.route("/<int:customer_id>/export", methods=["POST"])
@role_required("smm")
def export(customer_id):
    customer = _customer(customer_id)
    kept = _kept(customer)
    if kept:
        return kept
    document = privacy.export_customer(customer.id, by=audit_actor(), now=clock_now())
    body = json.dumps(document, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="customer-{customer.id}.json"',
        "Cache-Control": "no-store"})


@bp.route("/<int:customer_id>/erase")
@role_required("smm")
def erase_confirm(customer_id):
    customer = _customer(customer_id)
    return _kept(customer) or render_template(
        "customers/erase.html", c=customer, counts=privacy.erasure_counts(customer.id),
        labels=ERASED_LABELS)


@bp.route("/<int:customer_id>/erase", methods=["POST"])
@role_required("smm")
def erase(customer_id):
    customer = _customer(customer_id)
    if request.form.get("confirm") != "erase":
        return render_template("customers/erase.html", c=customer, labels=ERASED_LABELS,
                               counts=privacy.erasure_counts(customer.id),
                               error=_("Tick the box to confirm the erasure.")), 400
    privacy.erase_customer(customer.id, by=audit_actor(), now=clock_now())
    flash(_("The customer's data is erased. Their tickets stay in the figures without it."), "info")
    return redirect(url_for("customers.show", customer_id=customer.id))
