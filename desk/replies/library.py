"""Canned replies: the library, placeholders, import/export (`desk-canned-replies/1`).

The tables are in desk.replies.models; suggestions, usage recording and figures in
desk.replies.usage.
"""
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select

from desk.accounts import audit
from desk.accounts.users import User
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db
from desk.customers.names import without_name
from desk.inbox import files
from desk.replies import index
from desk.replies.models import CannedReply

FORMAT = "desk-canned-replies/1"
LANGUAGES = ("es", "en")
PLACEHOLDERS = ("customer.first_name", "customer.name", "customer.handle", "agent.first_name",
                "agent.name", "ticket.reference", "ticket.subject", "channel.name",
                "channel.handle", "channel.platform")
# Anything between double braces counts: a reply is never sent with "{{...}}" left in it.
_PLACEHOLDER = re.compile(r"\{\{(.{0,80}?)\}\}", re.S)
_KEY = r"^[a-z0-9][a-z0-9._-]{0,99}$"


# --- placeholders ------------------------------------------------------------------------

# The value of a name placeholder when no name is known (a Messenger or Instagram customer
# before the profile lookup): its place is dropped with its lead-in ("¡Hola {{...}}!" reads
# "¡Hola!"), never filled with a platform id.
NO_NAME = "\ue000no-name\ue000"


@dataclass
class Rendered:
    text: str
    unfilled: list[str] = field(default_factory=list)  # placeholders left as {{name}}
    neutral: list[str] = field(default_factory=list)  # name placeholders dropped: no name known


def unfilled_placeholders(text: str) -> list[str]:
    """Names of the `{{...}}` placeholders still in `text` (a reply must not be sent with any)."""
    return list(dict.fromkeys(m.group(1).strip() for m in _PLACEHOLDER.finditer(text or "")))


def placeholder_values(ticket=None, agent=None) -> dict[str, str]:
    """Values for the placeholders, from a ticket (customer, channel) and the agent."""
    values = {}
    if ticket is not None:
        customer, channel = ticket.customer, ticket.channel
        identity = customer.identities[0] if customer and customer.identities else None
        named = customer is not None and customer.name_known
        values.update({
            "customer.first_name": customer.first_name if named else NO_NAME if customer else "",
            "customer.name": customer.display_name if named else NO_NAME if customer else "",
            "customer.handle": ("@" + identity.handle) if identity and identity.handle else "",
            "ticket.reference": ticket.reference if ticket.id else "",
            "ticket.subject": ticket.subject or "",
            "channel.name": channel.name if channel else "",
            "channel.handle": (channel.handle or "") if channel else "",
            "channel.platform": channel.platform if channel else ""})
    if agent is not None:
        values.update({"agent.first_name": agent.first_name, "agent.name": agent.name})
    return values


def render(body: str, values: dict[str, str]) -> Rendered:
    """Fill placeholders in one pass (values are never re-read as templates); unknown or
    empty ones stay as `{{name}}` and are listed in `unfilled`; a customer's name that is not
    known is left out tidily (`without_name`) and listed in `neutral`."""
    unfilled: list[str] = []
    neutral: list[str] = []

    def fill(match):
        name = match.group(1).strip()
        if values.get(name) == NO_NAME:
            if name not in neutral:
                neutral.append(name)
            return NO_NAME
        # Braces in a customer's name must not turn into a placeholder (or hide one).
        value = (values.get(name) or "").replace("{", "").replace("}", "").strip()
        if value:
            return value
        if name not in unfilled:
            unfilled.append(name)
        return "{{" + name + "}}"

    text = _PLACEHOLDER.sub(fill, (body or "").replace(NO_NAME, ""))
    return Rendered(without_name(text, NO_NAME), unfilled, neutral)


# --- import / export ---------------------------------------------------------------------

class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    key: str = Field(pattern=_KEY)
    language: str
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=5000)
    triggers: list[str] = Field(default_factory=list, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=30)
    active: bool = True

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("body")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        unknown = [name for name in unfilled_placeholders(value) if name not in PLACEHOLDERS]
        if unknown:
            raise ValueError(f"unknown placeholder {{{{{unknown[0]}}}}}; known: "
                             + ", ".join(PLACEHOLDERS))
        return value

    @field_validator("triggers", "tags")
    @classmethod
    def _phrases(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value if v and v.strip()]
        if any(len(v) > 200 for v in cleaned):
            raise ValueError("each entry must be at most 200 characters")
        return list(dict.fromkeys(cleaned))


class LibraryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str
    replies: list[dict]


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "entry"
    return f"{where}: {first['msg']}"


def parse_library(raw) -> list[ReplyIn]:
    """Validate a library (bytes, str or dict); DeskError names the entry and field."""
    try:
        data = json.loads(raw) if isinstance(raw, (bytes, str)) else raw
    except (ValueError, UnicodeDecodeError) as exc:
        raise DeskError(f"not a JSON file: {exc}") from None
    try:
        library = LibraryFile.model_validate(data)
    except ValidationError as exc:
        raise DeskError(f"not a canned-reply library: {_describe(exc)}") from None
    if library.format != FORMAT:
        raise DeskError(f"unknown format {library.format!r}; expected {FORMAT!r}")
    replies, seen = [], set()
    for n, entry in enumerate(library.replies, start=1):
        label = f"entry {n}" + (f" ({entry.get('key')!r})" if isinstance(entry, dict)
                                and isinstance(entry.get("key"), str) else "")
        try:
            reply = ReplyIn.model_validate(entry)
        except ValidationError as exc:
            raise DeskError(f"{label}: {_describe(exc)}") from None
        if reply.key in seen:
            raise DeskError(f"{label}: key: {reply.key!r} appears twice in the file")
        seen.add(reply.key)
        replies.append(reply)
    return replies


def import_library(raw, now: datetime, user: User | None = None,
                   by: audit.Actor | None = None) -> ImportResult:
    """Create or update replies by key, all or nothing, and commit."""
    entries = parse_library(raw)
    existing = {r.key: r for r in db.session.scalars(
        select(CannedReply).where(CannedReply.key.in_([e.key for e in entries])))}
    result = ImportResult()
    for entry in entries:
        values = entry.model_dump()
        reply = existing.get(entry.key)
        if reply is None:
            db.session.add(CannedReply(**values, created_at=now, updated_at=now,
                                       created_by_id=user.id if user else None))
            result.created.append(entry.key)
        elif any(getattr(reply, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(reply, k, v)
            reply.updated_at = now
            result.updated.append(entry.key)
        else:
            result.unchanged.append(entry.key)
    if by is not None and (result.created or result.updated):
        audit.record("canned_reply.imported", at=now, by=by, object_type="canned_reply",
                     data={"created": len(result.created), "updated": len(result.updated)})
    db.session.commit()
    library_changed()
    return result


def export_library(include_inactive: bool = True) -> dict:
    """The library as a `desk-canned-replies/1` document."""
    query = select(CannedReply).order_by(CannedReply.key)
    if not include_inactive:
        query = query.where(CannedReply.active.is_(True))
    return {"format": FORMAT, "replies": [
        {"key": r.key, "language": r.language, "title": r.title, "triggers": list(r.triggers or []),
         "tags": list(r.tags or []), "active": r.active, "body": r.body}
        for r in db.session.scalars(query)]}


# --- editing -----------------------------------------------------------------------------

class FileRefused(DeskError):
    """The file a canned reply was to carry was refused (empty or too large)."""


def save_reply(values: dict, now: datetime, user: User | None = None,
               reply_id: int | None = None, by: audit.Actor | None = None,
               file: tuple[str, bytes] | None = None, remove_file: bool = False) -> CannedReply:
    """Create (reply_id None) or update one reply from form values, and commit. `file`
    (name, bytes) replaces the file it carries; `remove_file` drops it."""
    try:
        entry = ReplyIn.model_validate(values)
    except ValidationError as exc:
        raise DeskError(_describe(exc)) from None
    clash = db.session.scalar(select(CannedReply).where(CannedReply.key == entry.key))
    if clash is not None and clash.id != reply_id:
        raise DeskError(f"key: {entry.key!r} is already used by another reply")
    if reply_id is None:
        reply = CannedReply(created_at=now, created_by_id=user.id if user else None)
        db.session.add(reply)
    else:
        reply = get_reply(reply_id)
    for k, v in entry.model_dump().items():
        setattr(reply, k, v)
    if file is not None or remove_file:
        # The previous file stays stored: replies already sent with it still show it.
        try:
            reply.file = files.save_file(*file, user.id if user else None, now) if file else None
        except DeskError as exc:
            db.session.rollback()
            raise FileRefused(str(exc)) from None
    reply.updated_at = now
    db.session.flush()
    audit.record("canned_reply.created" if reply_id is None else "canned_reply.updated", at=now,
                 by=by, object_type="canned_reply", object_id=reply.id,
                 data={"name": reply.title or reply.key, "key": reply.key})
    db.session.commit()
    library_changed()
    return reply


def set_active(reply_id: int, active: bool, now: datetime,
               by: audit.Actor | None = None) -> CannedReply:
    reply = get_reply(reply_id)
    if reply.active != active:
        audit.record("canned_reply.activated" if active else "canned_reply.deactivated", at=now,
                     by=by, object_type="canned_reply", object_id=reply.id,
                     data={"name": reply.title or reply.key, "key": reply.key})
    reply.active, reply.updated_at = active, now
    db.session.commit()
    library_changed()
    return reply


def file_of(reply_id: int):
    """The file an active canned reply carries (a ReplyFile), or None."""
    reply = db.session.get(CannedReply, reply_id)
    return reply.file if reply is not None and reply.active else None


def get_reply(reply_id: int) -> CannedReply:
    reply = db.session.get(CannedReply, reply_id)
    if reply is None:
        raise NotFound("no such canned reply")
    return reply


def library_changed() -> None:
    """Drop this process's suggestion index; other processes see the new version stamp."""
    index.invalidate()
