"""WhatsApp message templates: the only messages WhatsApp accepts once the customer's 24-hour
window has closed (desk/inbox/window.py). Synced from the platform (the business account's
`message_templates`) or entered by an admin; only approved ones can be sent. A template's
body numbers its parameters {{1}}, {{2}}...; the agent fills them in the composer.
"""
import re
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from desk.accounts import audit
from desk.channels import senders
from desk.channels.accounts import Channel
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db
from desk.core.types import UTCDateTime

PLACEHOLDER = re.compile(r"\{\{\s*(\d{1,2})\s*\}\}")
NAME = re.compile(r"[a-z0-9_]{1,512}")
LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
CATEGORIES = ("UTILITY", "MARKETING", "AUTHENTICATION")
MAX_BODY = 1024  # WhatsApp's limit for a template body
MAX_PARAM = 1024


class WhatsAppTemplate(db.Model):
    __tablename__ = "whatsapp_template"
    __table_args__ = (UniqueConstraint("channel_id", "name", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(15))  # WhatsApp's code: es, en_US, pt_BR
    category: Mapped[str] = mapped_column(String(20), default="UTILITY")
    body: Mapped[str] = mapped_column(Text)
    params: Mapped[int] = mapped_column(default=0)  # how many {{n}} the body has
    status: Mapped[str] = mapped_column(String(20), default="APPROVED")  # as the platform says
    source: Mapped[str] = mapped_column(String(10), default="manual")  # "platform" or "manual"
    # The template surveys use once the window has closed ({{1}} name, {{2}} link; or {{1}} link).
    for_surveys: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def approved(self) -> bool:
        return self.status == "APPROVED"

    def render(self, values: list[str]) -> str:
        """The body with {{n}} replaced by the n-th value (as the customer will read it)."""
        return PLACEHOLDER.sub(lambda m: values[int(m.group(1)) - 1]
                               if 0 < int(m.group(1)) <= len(values) else m.group(0), self.body)


def count_params(body: str) -> int:
    """How many parameters a body has; DeskError unless they are {{1}}..{{n}} without gaps."""
    numbers = sorted({int(n) for n in PLACEHOLDER.findall(body)})
    if numbers != list(range(1, len(numbers) + 1)):
        raise DeskError("a template's parameters are numbered {{1}}, {{2}}... without gaps")
    return len(numbers)


def clean_values(template: WhatsAppTemplate, values) -> list[str]:
    """The parameter values WhatsApp will accept for `template`, or DeskError: one per
    parameter, not empty, no line breaks or tabs, no more than four spaces in a row."""
    values = [str(v or "").strip() for v in (values or [])]
    if len(values) != template.params or not all(values):
        raise DeskError(f"the template {template.name} needs {template.params} values, none empty")
    for value in values:
        if len(value) > MAX_PARAM or re.search(r"[\n\r\t]| {5,}", value):
            raise DeskError("a template value has no line breaks or tabs, at most four spaces "
                            f"in a row and at most {MAX_PARAM} characters")
    return values


def templates(channel_id: int, approved_only: bool = False) -> list[WhatsAppTemplate]:
    query = select(WhatsAppTemplate).where(WhatsAppTemplate.channel_id == channel_id)
    if approved_only:
        query = query.where(WhatsAppTemplate.status == "APPROVED")
    return list(db.session.scalars(query.order_by(WhatsAppTemplate.name, WhatsAppTemplate.language)))


def template_of(channel_id: int, template_id: int) -> WhatsAppTemplate:
    template = db.session.get(WhatsAppTemplate, template_id)
    if template is None or template.channel_id != channel_id:
        raise NotFound("no such template on this channel")
    return template


def survey_template(channel_id: int, language: str) -> WhatsAppTemplate | None:
    """The approved survey template in `language` (es matches es_ES, es_MX...), else any."""
    found = [t for t in templates(channel_id, approved_only=True) if t.for_surveys]
    return next((t for t in found if t.language.split("_")[0] == language), found[0] if found else None)


def _audit(action: str, channel_id: int, actor: audit.Actor, now: datetime, **data) -> None:
    channel = db.session.get(Channel, channel_id)
    audit.record(action, at=now, by=actor, object_type="channel", object_id=channel_id,
                 data={"name": channel.label, **data})


def _whatsapp_channel(channel_id: int) -> Channel:
    channel = db.session.get(Channel, channel_id)
    if channel is None or channel.platform != "whatsapp":
        raise NotFound("no such WhatsApp channel")
    return channel


def save_template(channel_id: int, actor: audit.Actor, now: datetime, *, name: str, language: str,
                  body: str, category: str = "UTILITY", for_surveys: bool = False) -> WhatsAppTemplate:
    """Add or update a template entered by hand (approved on the platform already); commits."""
    _whatsapp_channel(channel_id)
    name, language, body = (name or "").strip(), (language or "").strip(), (body or "").strip()
    if not NAME.fullmatch(name):
        raise DeskError("a template name is lower-case letters, digits and _, as on WhatsApp")
    if not LANGUAGE.fullmatch(language):
        raise DeskError("the language is WhatsApp's code, such as es, en_US or pt_BR")
    if category not in CATEGORIES:
        raise DeskError(f"the category is one of {', '.join(CATEGORIES)}")
    if not body or len(body) > MAX_BODY:
        raise DeskError(f"a template body has 1 to {MAX_BODY} characters")
    template = db.session.scalar(select(WhatsAppTemplate).where(
        WhatsAppTemplate.channel_id == channel_id, WhatsAppTemplate.name == name,
        WhatsAppTemplate.language == language)) or WhatsAppTemplate(
        channel_id=channel_id, name=name, language=language)
    template.body, template.params, template.category = body, count_params(body), category
    template.status, template.updated_at = "APPROVED", now
    if template.id is None:
        template.source = "manual"
        db.session.add(template)
    db.session.flush()
    _only_survey_template(template, for_surveys)
    _audit("channel.template_saved", channel_id, actor, now, template=name, language=language)
    db.session.commit()
    return template


def _only_survey_template(template: WhatsAppTemplate, for_surveys: bool) -> None:
    """At most one survey template per channel and language."""
    template.for_surveys = for_surveys
    if for_surveys:
        for other in templates(template.channel_id):
            if other.id != template.id and other.language == template.language:
                other.for_surveys = False


def set_survey_template(channel_id: int, template_id: int, on: bool, actor: audit.Actor,
                        now: datetime) -> None:
    template = template_of(channel_id, template_id)
    _only_survey_template(template, on)
    _audit("channel.template_saved", channel_id, actor, now, template=template.name,
           language=template.language, for_surveys=on)
    db.session.commit()


def delete_template(channel_id: int, template_id: int, actor: audit.Actor, now: datetime) -> None:
    template = template_of(channel_id, template_id)
    _audit("channel.template_deleted", channel_id, actor, now, template=template.name,
           language=template.language)
    db.session.delete(template)
    db.session.commit()


def sync_templates(channel_id: int, actor: audit.Actor, now: datetime, config) -> dict:
    """Take the business account's templates from the platform: new ones added, known ones
    updated (status, body), ones the platform no longer has and that came from it removed.
    Hand-entered ones are kept. Returns {"added", "updated", "removed"}; SendError when the
    platform refuses. Commits."""
    channel = _whatsapp_channel(channel_id)
    if not channel.business_account_id:
        raise DeskError("set the WhatsApp Business Account id first: templates belong to it")
    found = senders.whatsapp_templates(channel.business_account_id, channel.access_token, config)
    known = {(t.name, t.language): t for t in templates(channel_id)}
    counts = {"added": 0, "updated": 0, "removed": 0}
    seen = set()
    for item in found:
        components = item.get("components") if isinstance(item.get("components"), list) else []
        body = next((str(c.get("text") or "") for c in components
                     if isinstance(c, dict) and c.get("type") == "BODY"), "")
        name, language = str(item.get("name") or ""), str(item.get("language") or "")
        if not (NAME.fullmatch(name) and LANGUAGE.fullmatch(language) and body):
            continue  # not a template the desk can send (no body text)
        try:
            params = count_params(body)
        except DeskError:
            continue
        seen.add((name, language))
        template = known.get((name, language))
        if template is None:
            template = WhatsAppTemplate(channel_id=channel_id, name=name, language=language,
                                        source="platform")
            db.session.add(template)
            counts["added"] += 1
        elif (template.body, template.status) != (body[:MAX_BODY], str(item.get("status"))):
            counts["updated"] += 1
        template.body, template.params = body[:MAX_BODY], params
        template.status = str(item.get("status") or "PENDING")[:20]
        category = str(item.get("category") or "UTILITY")
        template.category = category if category in CATEGORIES else "UTILITY"
        template.source, template.updated_at = "platform", now
    for key, template in known.items():
        if key not in seen and template.source == "platform":
            db.session.delete(template)
            counts["removed"] += 1
    _audit("channel.templates_synced", channel_id, actor, now, **counts)
    db.session.commit()
    return counts
