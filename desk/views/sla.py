"""SLA policies and business-hours calendars (SMM and up), and a ticket's SLA timeline (CM and up)."""
from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import format_datetime, format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from desk.channels.accounts import KINDS, PLATFORMS
from desk.core.clock import now as clock_now
from desk.core.errors import DeskError
from desk.core.extensions import db
from desk.inbox.tickets import PRIORITIES, Ticket
from desk.sla import policies
from desk.sla.clocks import clocks_of
from desk.sla.policies import BusinessCalendar, SlaPolicy
from desk.views.access import audit_actor, role_required

bp = Blueprint("sla", __name__)
ANY = [("", _l("Any"))]
WEEKDAYS = [_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"),
            _l("Saturday"), _l("Sunday")]


class PolicyForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    position = IntegerField(_l("Order (lowest matches first)"), default=10,
                            validators=[InputRequired(), NumberRange(0, 99999)])
    platform = SelectField(_l("Platform"), choices=ANY + [(p, p) for p in PLATFORMS])
    kind = SelectField(_l("Kind"), choices=ANY + [(k, k) for k in KINDS])
    priority = SelectField(_l("Priority"), choices=ANY + [(p, p) for p in PRIORITIES])
    vip = SelectField(_l("VIP customer"), choices=ANY + [("yes", _l("VIP only")), ("no", _l("Not VIP"))])
    first_response_minutes = IntegerField(_l("First response target (minutes)"), default=60,
                                          validators=[InputRequired(), NumberRange(1, 43200)])
    next_response_minutes = IntegerField(_l("Next response target (minutes)"), default=60,
                                         validators=[InputRequired(), NumberRange(1, 43200)])
    warning_value = IntegerField(_l("Warn before the due time"), default=15,
                                 validators=[InputRequired(), NumberRange(0, 43200)])
    warning_unit = SelectField(_l("Warning unit"), choices=[("minutes", _l("minutes")),
                                                            ("percent", _l("percent of target"))])
    calendar_id = SelectField(_l("Hours"), choices=[], validate_choice=False)
    active = BooleanField(_l("Active"), default=True)

    def values(self) -> dict:
        percent = self.warning_unit.data == "percent"
        return {"name": self.name.data, "position": self.position.data,
                "platform": self.platform.data or None, "kind": self.kind.data or None,
                "priority": self.priority.data or None,
                "vip": {"yes": True, "no": False}.get(self.vip.data),
                "first_response_minutes": self.first_response_minutes.data,
                "next_response_minutes": self.next_response_minutes.data,
                "warning_minutes": None if percent else self.warning_value.data,
                "warning_percent": self.warning_value.data if percent else None,
                "calendar_id": int(self.calendar_id.data) if (self.calendar_id.data or "").isdigit() else None,
                "active": self.active.data}


class CalendarForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    timezone = SelectField(_l("Timezone"), validators=[DataRequired()])
    day0 = StringField(WEEKDAYS[0], validators=[Length(max=200)])
    day1 = StringField(WEEKDAYS[1], validators=[Length(max=200)])
    day2 = StringField(WEEKDAYS[2], validators=[Length(max=200)])
    day3 = StringField(WEEKDAYS[3], validators=[Length(max=200)])
    day4 = StringField(WEEKDAYS[4], validators=[Length(max=200)])
    day5 = StringField(WEEKDAYS[5], validators=[Length(max=200)])
    day6 = StringField(WEEKDAYS[6], validators=[Length(max=200)])
    holidays = TextAreaField(_l("Holidays (one per line: YYYY-MM-DD name)"), validators=[Optional()])


class HolidayForm(FlaskForm):
    country = StringField(_l("Country code (ES, MX, CL...)"), validators=[DataRequired(), Length(min=2, max=3)])
    year = IntegerField(_l("Year"), validators=[InputRequired(), NumberRange(2000, 2100)])


def parse_windows(text: str) -> list[list[str]]:
    """"09:00-14:00, 15:00-19:00" -> [["09:00", "14:00"], ["15:00", "19:00"]]."""
    spans = []
    for part in (text or "").replace(";", ",").split(","):
        if part.strip():
            opens, sep, closes = part.strip().partition("-")
            if not sep:
                raise DeskError(_("Write opening hours as 09:00-14:00, 15:00-19:00 (got %(text)s).", text=part.strip()))
            spans.append([opens.strip(), closes.strip()])
    return spans


def _calendar_choices():
    rows = db.session.scalars(select(BusinessCalendar).order_by(BusinessCalendar.name))
    return [("", _("24/7 (every hour counts)"))] + [(str(c.id), c.name) for c in rows]


def _policy_page(form, editing=None, error=None, status=200):
    rows = policies.listed_policies()
    return render_template("sla/policies.html", policies=rows, form=form, editing=editing,
                           error=error, delete_form=FlaskForm()), status


@bp.route("/sla/policies", endpoint="policies", methods=["GET", "POST"])
@bp.route("/sla/policies/<int:policy_id>", endpoint="policy", methods=["GET", "POST"])
@role_required("smm")
def policies_page(policy_id=None):
    editing = db.get_or_404(SlaPolicy, policy_id) if policy_id else None
    form = PolicyForm(obj=editing) if request.method == "GET" and editing else PolicyForm()
    form.calendar_id.choices = _calendar_choices()
    if request.method == "GET" and editing:
        _fill_policy_form(form, editing)
    if not form.validate_on_submit():
        return _policy_page(form, editing, status=422 if request.method == "POST" else 200)
    try:
        policy = policies.save_policy(form.values(), policy_id, audit_actor(), clock_now())
    except DeskError as exc:
        db.session.rollback()
        return _policy_page(form, editing, error=str(exc), status=422)
    flash(_("Policy %(name)s saved.", name=policy.name), "info")
    return redirect(url_for("sla.policies"))



def _fill_policy_form(form, policy):
    form.platform.data, form.kind.data = policy.platform or "", policy.kind or ""
    form.priority.data = policy.priority or ""
    form.vip.data = {True: "yes", False: "no"}.get(policy.vip, "")
    percent = policy.warning_percent is not None
    form.warning_unit.data = "percent" if percent else "minutes"
    form.warning_value.data = policy.warning_percent if percent else policy.warning_minutes
    form.calendar_id.data = str(policy.calendar_id or "")


@bp.route("/sla/policies/<int:policy_id>/delete", methods=["POST"])
@role_required("smm")
def delete_policy(policy_id):
    if FlaskForm().validate_on_submit():
        policies.delete_policy(policy_id, audit_actor(), clock_now())
        flash(_("Policy deleted."), "info")
    return redirect(url_for("sla.policies"))


@bp.route("/sla/calendars", endpoint="calendars", methods=["GET", "POST"])
@bp.route("/sla/calendars/<int:calendar_id>", endpoint="calendar", methods=["GET", "POST"])
@role_required("smm")
def calendars(calendar_id=None):
    from zoneinfo import available_timezones
    editing = db.get_or_404(BusinessCalendar, calendar_id) if calendar_id else None
    form = CalendarForm()
    form.timezone.choices = sorted(available_timezones())
    if request.method == "GET":
        _fill_calendar_form(form, editing)
    error, status = None, 200
    if form.validate_on_submit():
        try:
            windows = {str(d): parse_windows(getattr(form, f"day{d}").data) for d in range(7)}
            days = policies.parse_holiday_lines(form.holidays.data)
            row = policies.save_calendar(form.name.data, form.timezone.data, windows, days,
                                         calendar_id, audit_actor(), clock_now())
            flash(_("Calendar %(name)s saved.", name=row.name), "info")
            return redirect(url_for("sla.calendar", calendar_id=row.id))
        except DeskError as exc:
            db.session.rollback()
            error = str(exc)
    if request.method == "POST":
        status = 422
    rows = db.session.scalars(select(BusinessCalendar).order_by(BusinessCalendar.name)).all()
    return render_template("sla/calendars.html", calendars=rows, form=form, editing=editing,
                           error=error, holiday_form=HolidayForm(formdata=None, year=clock_now().year), weekdays=WEEKDAYS), status


def _fill_calendar_form(form, row):
    form.timezone.data = row.timezone if row else "Europe/Madrid"
    if row is None:
        for d in range(5):
            getattr(form, f"day{d}").data = "09:00-18:00"
        return
    form.name.data = row.name
    for d in range(7):
        getattr(form, f"day{d}").data = ", ".join(f"{a}-{b}" for a, b in row.windows.get(str(d), []))
    form.holidays.data = "\n".join(f"{h['date']} {h.get('name', '')}".strip() for h in row.holidays)


@bp.route("/sla/calendars/<int:calendar_id>/holidays", methods=["POST"])
@role_required("smm")
def load_holidays(calendar_id):
    form = HolidayForm()
    if form.validate_on_submit():
        try:
            row = policies.load_country_holidays(calendar_id, form.country.data.strip(),
                                                 [form.year.data], audit_actor(), clock_now())
            flash(_("Public holidays of %(country)s loaded.", country=row.holiday_country), "info")
        except DeskError as exc:
            flash(str(exc), "error")
    else:
        flash(_("Give a country code and a year."), "error")
    return redirect(url_for("sla.calendar", calendar_id=calendar_id))


@bp.route("/tickets/<int:ticket_id>/sla")
@role_required("cm")
def timeline(ticket_id):
    ticket = db.get_or_404(Ticket, ticket_id)
    now = clock_now()
    stories = [(clock, story(clock, now)) for clock in clocks_of(ticket.id)]
    response = make_response(render_template("sla/_timeline.html", ticket=ticket, stories=stories, now=now))
    response.vary.add("HX-Request")
    return response


def _at(value, start):
    same_day = format_datetime(value, "yyyyMMdd") == format_datetime(start, "yyyyMMdd")
    return format_datetime(value, "HH:mm" if same_day else "d MMM HH:mm")


def story(clock, now) -> str:
    """The clock's outcome in words, in the viewer's timezone and language."""
    start = clock.started_at
    parts = [_("arrived %(time)s", time=format_datetime(start, "d MMM HH:mm")),
             _("due %(time)s", time=_at(clock.due_at, start))]
    if clock.warned_at:
        parts.append(_("warned %(time)s", time=_at(clock.warned_at, start)))
    if clock.breached_at:
        parts.append(_("breached %(time)s", time=_at(clock.breached_at, start)))
    if clock.replied_at:
        who = clock.replied_by.name if clock.replied_by else _("an agent")
        parts.append(_("answered %(time)s by %(name)s", time=_at(clock.replied_at, start), name=who))
        if clock.state == "met":
            spare = format_timedelta(clock.due_at - clock.replied_at, granularity="minute", threshold=1.1)
            parts.append(_("within target (%(spare)s to spare)", spare=spare))
        else:
            late = format_timedelta(clock.replied_at - clock.due_at, granularity="minute", threshold=1.1)
            parts.append(_("late by %(late)s", late=late))
    elif clock.waived_at:
        parts.append(_("waived %(time)s: no reply needed", time=_at(clock.waived_at, start)))
    elif now < clock.due_at:
        parts.append(_("waiting, %(left)s left", left=format_timedelta(clock.due_at - now, granularity="minute", threshold=1.1)))
    else:
        parts.append(_("still waiting, %(late)s overdue", late=format_timedelta(now - clock.due_at, granularity="minute", threshold=1.1)))
    return ", ".join(parts)
