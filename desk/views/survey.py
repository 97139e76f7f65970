"""The customer's survey page (/s/<token>, no sign-in) and the agents' view of past ratings."""
import re

from flask import Blueprint, current_app, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user

from desk.core.clock import now as clock_now
from desk.core.extensions import db, limiter
from desk.customers.models import Customer
from desk.feedback import surveys as feedback
from desk.views.access import role_required
from desk.views.api.base import json_body

bp = Blueprint("survey", __name__)


def _survey_limit() -> str:
    return current_app.config["SURVEY_RATE_LIMIT"]


@bp.after_request
def _private_page(response):
    """The survey URL carries a secret: never leak it in a Referer, never cache the page."""
    if request.endpoint == "survey.respond":
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
    return response


def _page(template: str, survey, status: int = 200, **context):
    with force_locale(survey.language if survey else "en"):
        return render_template(template, survey=survey, **context), status


@bp.route("/s/<token>", methods=["GET", "POST"])
@limiter.limit(_survey_limit)
def respond(token):
    now = clock_now()
    try:
        survey = feedback.survey_for_token(token, now)
    except feedback.SurveyExpired as exc:
        return _page("feedback/expired.html", exc.survey, 410)
    if survey.answered_at is not None:
        return _page("feedback/answered.html", survey, 200 if request.method == "GET" else 409)
    if request.method == "GET":
        return _page("feedback/form.html", survey)
    if current_user.is_authenticated:
        return _page("feedback/form.html", survey, 403, error=_("Sign out of the desk to answer."))
    rating, comment = _submitted()
    try:
        feedback.answer(token, rating, comment, now)
    except feedback.InvalidRating:
        return _page("feedback/form.html", survey, 422, error=_("Choose a rating from 1 to 5."))
    except feedback.AlreadyAnswered:
        return _page("feedback/answered.html", survey, 409)
    return _page("feedback/answered.html", survey, thanks=True)


def _submitted():
    """(rating, comment) from JSON (rating must be a JSON integer) or the HTML form."""
    if request.is_json:
        body = json_body()
        if not isinstance(body, dict) or set(body) - {"rating", "comment"}:
            return None, None
        comment = body.get("comment")
        return body.get("rating"), comment if isinstance(comment, str) else None
    raw = request.form.get("rating", "")
    rating = int(raw) if raw in ("1", "2", "3", "4", "5") else raw
    return rating, request.form.get("comment", "")


@bp.get("/customers/<int:customer_id>/satisfaction")
@role_required("cm")
def customer_satisfaction(customer_id):
    customer = db.get_or_404(Customer, customer_id)
    surveys = feedback.customer_ratings(customer.id)
    return render_template("feedback/_customer_satisfaction.html", customer=customer,
                           surveys=surveys, summary=feedback.rating_summary(surveys))


_SURVEY_LINK = re.compile(r"(/s/)[A-Za-z0-9_-]{16,}")


@bp.app_template_filter("mask_survey_links")
def mask_survey_links(text: str | None) -> str:
    """Message text for agents: survey links lose their token (the DM carried the real one)."""
    return _SURVEY_LINK.sub(r"\1…", text or "")
