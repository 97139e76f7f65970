"""A ticket's conversation through the API: messages and notes (cursor pages), one message's
delivery state, replies (the interface's path: collision check, crisis hold, delivery), notes,
canned replies and the suggestions for a ticket."""
from datetime import datetime
from typing import Literal

from flask import g, jsonify, url_for
from pydantic import Base64Bytes, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from desk.core.clock import now as clock_now
from desk.core.errors import NotFound, problem
from desk.core.extensions import db
from desk.core.types import MAX_ID
from desk.inbox import actions as ticket_actions
from desk.inbox import files
from desk.inbox.outbound import MAX_REPLY_CHARS
from desk.inbox.tickets import Message, Note, Ticket
from desk.replies import library
from desk.replies.models import CannedReply
from desk.replies.usage import suggest_for_ticket
from desk.views.access import audit_actor, token_required, token_scope, token_user
from desk.views.api.base import PAGE_PARAMS, agent_post, bp, id_page, page_args, parse_body
from desk.views.api.spec import document

TICKET_ID = {"name": "ticket_id", "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 1}}


class FileOut(BaseModel):
    id: int
    name: str
    content_type: str = Field(description="read from the file's bytes")
    size: int


class MessageOut(BaseModel):
    id: int
    ticket_id: int
    direction: Literal["in", "out"]
    visibility: str
    text: str
    author_id: int | None = Field(description="the agent who wrote a reply")
    customer_id: int | None
    automatic: bool
    sent_at: datetime
    received_at: datetime
    platform_message_id: str | None
    delivery_state: str | None = Field(
        description="replies: pending, sending, retrying, delivered, failed, recorded (sandbox "
                    "or a network without an adapter), held (waiting for crisis approval), "
                    "rejected (not approved)")
    delivery_error: str | None
    delivered_at: datetime | None
    canned_reply_id: int | None
    deleted_at: datetime | None
    template: dict | None = Field(None, description=(
        "WhatsApp after the 24-hour window: the approved template the reply went as "
        "({name, language, params}); text is its body as the customer reads it"))
    files: list[FileOut] = Field(default_factory=list, description=(
        "files an agent sent with the reply (customers' attachments are not listed here)"))


MESSAGE_EXAMPLE = {
    "id": 42, "ticket_id": 7, "direction": "out", "visibility": "public",
    "text": "¡Hola Lucía! Ya lo revisamos.", "author_id": 3, "customer_id": None,
    "automatic": False, "sent_at": "2026-12-01T10:00:00Z", "received_at": "2026-12-01T10:00:00Z",
    "platform_message_id": None, "delivery_state": "pending", "delivery_error": None,
    "delivered_at": None, "canned_reply_id": None, "deleted_at": None, "template": None,
    "files": []}


class MessagePage(BaseModel):
    messages: list[MessageOut]
    next_cursor: str | None
    last_message_id: int = Field(description="send it as last_seen_message_id with a reply")


class NoteOut(BaseModel):
    id: int
    ticket_id: int
    author_id: int
    author_name: str
    body: str
    mentions: list[int]
    created_at: datetime


class NotePage(BaseModel):
    notes: list[NoteOut]
    next_cursor: str | None


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int = Field(ge=1, le=MAX_ID, description="an approved WhatsApp template of the channel")
    values: list[str] = Field(default_factory=list, max_length=20,
                              description="its parameters {{1}}, {{2}}... in order")


class FileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="the file's name, e.g. factura.pdf")
    content_base64: Base64Bytes = Field(description=(
        "the file, base64; its type is read from its bytes and checked against what the "
        "platform takes on this reply (422 otherwise); at most DESK_ATTACHMENT_MAX_BYTES"))


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field("", max_length=MAX_REPLY_CHARS,
                      description="the reply; left out when a template goes")
    template: TemplateIn | None = Field(None, description=(
        "WhatsApp once the customer's 24-hour window has closed (free text is then a 409): "
        "the template to send instead"))
    visibility: Literal["public", "private"] = Field(
        "public", description="private on a comment is the 'move to DM' reply, where allowed")
    last_seen_message_id: int = Field(ge=0, le=MAX_ID, description=(
        "the newest message the client saw (last_message_id); 409 if an agent replied since"))
    canned_reply_id: int | None = Field(None, ge=1, le=MAX_ID)
    file: FileIn | None = Field(None, description="one file sent with the reply")
    canned_file: bool = Field(False, description=(
        "send the file the canned reply carries (with canned_reply_id; not with `file`)"))

    @model_validator(mode="after")
    def _text_or_template(self):
        if not self.text.strip() and self.template is None and self.file is None \
                and not self.canned_file:
            raise ValueError("a reply needs text, a file or a template")
        if self.canned_file and (self.canned_reply_id is None or self.file is not None):
            raise ValueError("canned_file needs canned_reply_id and no file")
        return self


class CollisionProblem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    error: str
    replies: list[MessageOut]
    last_message_id: int


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=5000, description="@handle mentions notify")


class CannedReplyOut(BaseModel):
    id: int
    key: str
    title: str
    language: str
    body: str = Field(description="may hold {{placeholders}}")
    tags: list[str]


class CannedReplyPage(BaseModel):
    canned_replies: list[CannedReplyOut]
    next_cursor: str | None


class SuggestionOut(BaseModel):
    canned_reply_id: int
    key: str
    title: str
    score: int = Field(ge=0, le=100)
    text: str = Field(description="the body with this ticket's placeholders filled")
    unfilled: list[str]


class Suggestions(BaseModel):
    customer_text: str
    suggestions: list[SuggestionOut]


def message_out(message: Message) -> dict:
    out = MessageOut.model_validate(message, from_attributes=True)
    out.files = [FileOut(id=a["file_id"], name=a.get("name") or "", size=a.get("size") or 0,
                         content_type=a.get("mime_type") or "")
                 for a in message.attachments or [] if isinstance(a, dict) and a.get("file_id")]
    return out.model_dump(mode="json")


def _ticket(ticket_id: int) -> Ticket:
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}")
    return ticket


document("/tickets/{ticket_id}/messages", "get",
         "A ticket's messages, customer's and agents', in the order they reached the desk",
         response=MessagePage, parameters=[TICKET_ID, *PAGE_PARAMS], errors=(400, 404, 422),
         scope="read", response_example={"messages": [MESSAGE_EXAMPLE], "next_cursor": None,
                                         "last_message_id": 42})


@bp.get("/tickets/<int:ticket_id>/messages")
@token_required
@token_scope("read")
def list_messages(ticket_id):
    limit, after = page_args("m")
    _ticket(ticket_id)
    rows, cursor = id_page(select(Message).where(Message.ticket_id == ticket_id), Message.id,
                           limit, after, "m")
    return jsonify(messages=[message_out(m) for m in rows], next_cursor=cursor,
                   last_message_id=ticket_actions.last_message_id(ticket_id))


document("/tickets/{ticket_id}/messages/{message_id}", "get",
         "One message of a ticket: a reply's delivery state",
         response=MessageOut, parameters=[TICKET_ID, {
             "name": "message_id", "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 1}}], errors=(404,), scope="read",
         response_example=MESSAGE_EXAMPLE)


@bp.get("/tickets/<int:ticket_id>/messages/<int:message_id>")
@token_required
@token_scope("read")
def get_message(ticket_id, message_id):
    message = db.session.get(Message, message_id)
    if message is None or message.ticket_id != ticket_id:
        raise NotFound(f"no message {message_id} on ticket {ticket_id}")
    return jsonify(message_out(message))


document("/tickets/{ticket_id}/replies", "post",
         "Reply to the customer, publicly or privately, as the token's user: the interface's "
         "path (claims a free ticket, holds it for approval during a crisis, then delivers)",
         request=ReplyIn, response=MessageOut, status=201, parameters=[TICKET_ID],
         errors=(404, 409), scope="write:tickets", as_user=True,
         description="409 (type urn:desk:problem:collision, with the newer `replies`) when an "
                     "agent replied after last_seen_message_id: read them, then send again with "
                     "the new last_message_id if the reply still fits. 409 too for free text to "
                     "a WhatsApp customer whose 24-hour window has closed: send a template.",
         example={"text": "¡Hola Lucía! Ya lo revisamos.", "visibility": "public",
                  "last_seen_message_id": 41},
         response_example=MESSAGE_EXAMPLE)


@bp.post("/tickets/<int:ticket_id>/replies")
@agent_post("write:tickets")
def post_reply(ticket_id):
    body = parse_body(ReplyIn)
    _ticket(ticket_id)
    canned = body.canned_reply_id
    if canned is not None and db.session.get(CannedReply, canned) is None:
        return problem(422, f"no canned reply {body.canned_reply_id}")
    file = None
    if body.file is not None:
        file = files.Attached(upload=(body.file.name, body.file.content_base64))
    elif body.canned_file:
        carried = library.file_of(canned)
        if carried is None:
            return problem(422, f"canned reply {canned} carries no file")
        file = files.Attached(library=carried)
    try:
        message = ticket_actions.send_reply(
            ticket_id, g.api_token.user, body.text, body.visibility, clock_now(),
            last_seen_id=body.last_seen_message_id, canned_reply_id=body.canned_reply_id,
            by=audit_actor(),
            template=(body.template.id, body.template.values) if body.template else None,
            file=file)
    except ticket_actions.Collision as collision:
        return problem(409, str(collision), type="urn:desk:problem:collision",
                       replies=[message_out(m) for m in collision.replies],
                       last_message_id=ticket_actions.last_message_id(ticket_id))
    response = jsonify(message_out(message))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_message", ticket_id=ticket_id,
                                           message_id=message.id)
    return response


def note_out(note: Note) -> dict:
    return NoteOut(id=note.id, ticket_id=note.ticket_id, author_id=note.author_id,
                   author_name=note.author.name, body=note.body, mentions=note.mentions or [],
                   created_at=note.created_at).model_dump(mode="json")


NOTE_EXAMPLE = {"id": 9, "ticket_id": 7, "author_id": 5, "author_name": "Ana García",
                "body": "@lead refund approved", "mentions": [2],
                "created_at": "2026-11-02T10:05:00Z"}
document("/tickets/{ticket_id}/notes", "get", "A ticket's internal notes, oldest first",
         response=NotePage, parameters=[TICKET_ID, *PAGE_PARAMS], errors=(400, 404, 422),
         scope="read", response_example={"notes": [NOTE_EXAMPLE], "next_cursor": None})


@bp.get("/tickets/<int:ticket_id>/notes")
@token_required
@token_scope("read")
def list_notes(ticket_id):
    limit, after = page_args("n")
    _ticket(ticket_id)
    rows, cursor = id_page(select(Note).where(Note.ticket_id == ticket_id), Note.id, limit,
                           after, "n")
    return jsonify(notes=[note_out(n) for n in rows], next_cursor=cursor)


document("/tickets/{ticket_id}/notes", "post",
         "Add an internal note as the token's user (never sent; @handles notify colleagues)",
         request=NoteIn, response=NoteOut, status=201, parameters=[TICKET_ID], errors=(404,),
         scope="write:tickets", as_user=True,
         example={"body": "@lead refund approved"}, response_example=NOTE_EXAMPLE)


@bp.post("/tickets/<int:ticket_id>/notes")
@agent_post("write:tickets")
def post_note(ticket_id):
    body = parse_body(NoteIn)
    note = ticket_actions.add_note(ticket_id, g.api_token.user, body.body, clock_now(),
                                   by=audit_actor())
    return jsonify(note_out(note)), 201


document("/canned-replies", "get", "The active canned replies, by id",
         response=CannedReplyPage, parameters=[*PAGE_PARAMS], errors=(400, 422), scope="read",
         response_example={"canned_replies": [{
             "id": 1, "key": "order-status-es", "title": "Estado del pedido", "language": "es",
             "body": "¡Hola {{customer.first_name}}! Tu pedido está en camino.",
             "tags": ["orders"]}], "next_cursor": None})


@bp.get("/canned-replies")
@token_required
@token_scope("read")
def list_canned_replies():
    limit, after = page_args("c")
    rows, cursor = id_page(select(CannedReply).where(CannedReply.active.is_(True)),
                           CannedReply.id, limit, after, "c")
    return jsonify(canned_replies=[CannedReplyOut(
        id=r.id, key=r.key, title=r.title, language=r.language, body=r.body,
        tags=list(r.tags or [])).model_dump() for r in rows], next_cursor=cursor)


document("/tickets/{ticket_id}/suggestions", "get",
         "The canned replies suggested for the customer's latest messages, filled for this "
         "ticket (counted as suggested, as on the ticket page)",
         response=Suggestions, parameters=[TICKET_ID], errors=(404,), scope="read",
         as_user=True, response_example={
             "customer_text": "¿Dónde está mi pedido?", "suggestions": [{
                 "canned_reply_id": 1, "key": "order-status-es", "title": "Estado del pedido",
                 "score": 87, "text": "¡Hola Lucía! Tu pedido está en camino.",
                 "unfilled": []}]})


@bp.get("/tickets/<int:ticket_id>/suggestions")
@token_required
@token_scope("read")
@token_user
def suggestions(ticket_id):
    text, items = suggest_for_ticket(_ticket(ticket_id), g.api_token.user, clock_now())
    return jsonify(Suggestions(customer_text=text, suggestions=[SuggestionOut(
        canned_reply_id=item.reply.id, key=item.reply.key, title=item.reply.title,
        score=item.suggestion.score, text=item.text, unfilled=item.unfilled)
        for item in items]).model_dump())
