"""The normalised shape every platform parser produces, and shared parsing helpers (no DB)."""
import hashlib
import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

# Platforms the desk can send replies to; other platforms' replies are recorded only.
SENDING_PLATFORMS = ("facebook", "instagram", "whatsapp", "x")
MAX_NESTING = 64


class ParseError(ValueError):
    """A delivery or event that cannot be understood (the view answers 400)."""


class SendError(Exception):
    """A platform refused or failed a send; `transient` errors are retried. `token_invalid`:
    the platform says the access token is expired or revoked (Meta code 190, X 401), so the
    channel needs a new one before anything else goes out."""

    def __init__(self, message: str, *, transient: bool, status: int | None = None,
                 token_invalid: bool = False):
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.token_invalid = token_invalid


@dataclass
class Author:
    id: str
    handle: str | None = None
    name: str | None = None
    followers: int | None = None


@dataclass
class NormalizedMessage:
    """One platform event as the desk understands it (comment, DM or mention; in or out)."""

    platform: str
    account_id: str  # the connected channel's platform id (page, IG account, phone number, X user)
    kind: str  # comment | dm | mention
    direction: str  # in (customer) | out (the brand, e.g. an echo)
    platform_message_id: str
    thread_key: str
    author: Author  # the customer (for outbound events: the customer the brand wrote to)
    text: str = ""
    parent_id: str | None = None
    attachments: list = field(default_factory=list)
    sent_at: datetime | None = None  # platform time; None when missing or implausible
    verb: str = "new"  # new | edit | delete | status
    post_url: str | None = None
    post_text: str | None = None
    dedupe_key: str = ""
    status: str | None = None  # for verb "status": delivered | read | failed
    error: str | None = None


# The longest value the desk keeps of each field a platform sends (its columns' lengths),
# so that an absurd value is cut the same way on SQLite (which never checks) and PostgreSQL
# (which refuses it): ids keep a hash of the whole so that distinct ids stay distinct.
ID_LENGTHS = {"platform_message_id": 200, "parent_id": 200, "thread_key": 200}
AUTHOR_ID_LENGTH = 100
TEXT_LENGTHS = {"handle": 120, "name": 200}
URL_LENGTH = 500


def fit(message: NormalizedMessage) -> NormalizedMessage:
    """`message` with every field within the length the desk stores (nothing else changes)."""
    author = message.author
    author = replace(author, id=fit_id(author.id, AUTHOR_ID_LENGTH), **{
        name: getattr(author, name)[:limit] for name, limit in TEXT_LENGTHS.items()
        if isinstance(getattr(author, name), str)})
    ids = {name: fit_id(getattr(message, name), limit) for name, limit in ID_LENGTHS.items()
           if isinstance(getattr(message, name), str)}
    # A URL cut short leads nowhere: one too long to keep is left out.
    url = message.post_url if message.post_url and len(message.post_url) <= URL_LENGTH else None
    return replace(message, author=author, post_url=url, **ids)


def fit_id(value: str, limit: int) -> str:
    """`value` if it fits in `limit` characters, else its head and a hash of the whole."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return value[:limit - len(digest) - 1] + ":" + digest


@dataclass
class RawEvent:
    """One platform event cut out of a delivery: its dedupe key and its own JSON."""

    dedupe_key: str
    payload: dict


@dataclass
class OutboundFile:
    """A file sent with a reply: `kind` image, video, audio or file; `url` a signed address
    the platform may fetch it from (Instagram takes no upload); `sent_id` the platform's id
    for it when a platform that sends the file apart from the text already took it."""

    kind: str
    name: str
    content_type: str
    data: bytes
    url: str
    sent_id: str | None = None


@dataclass
class OutboundReply:
    """What an adapter needs to send one reply."""

    platform: str
    account_id: str
    access_token: str | None
    kind: str
    visibility: str
    text: str
    recipient_id: str | None
    reply_to_id: str | None
    thread_key: str
    idempotency_key: str
    media_id: str | None = None  # Instagram mentions: the media the comment is on
    template: dict | None = None  # WhatsApp: {"name", "language", "params"} outside the window
    file: OutboundFile | None = None
    # Called with the platform's id of a file sent apart from the text, before the text goes,
    # so that a retry after a failed text part does not send the file twice.
    file_sent: Callable[[str], None] | None = None


def load_json(raw: bytes):
    """Parse a request body; ParseError on bad UTF-8, bad JSON or absurd nesting."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError("the body is not UTF-8") from exc
    if _depth_exceeds(text, MAX_NESTING):
        raise ParseError(f"the JSON is nested deeper than {MAX_NESTING} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"the body is not valid JSON: {exc}") from exc


def _depth_exceeds(text: str, limit: int) -> bool:
    """Bracket depth outside strings, checked before json.loads can recurse."""
    depth, in_string, escaped = 0, False, False
    if text.count("[") + text.count("{") <= limit:
        return False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def seconds(value) -> datetime | None:
    """A platform time in seconds, or None when missing or not a plausible seconds value."""
    return _epoch(value, 1)


def millis(value) -> datetime | None:
    """A platform time in milliseconds, or None when missing or unreadable."""
    return _epoch(value, 1000)


def _epoch(value, divisor: int) -> datetime | None:
    try:
        number = float(value) / divisor
    except (TypeError, ValueError):
        return _iso(value)
    # A milliseconds value read as seconds lands tens of thousands of years ahead: implausible,
    # so the caller falls back to the receipt time (docs/architecture.md, SLA: the start is clamped).
    if not 0 < number < 32503680000:
        return None
    return datetime.fromtimestamp(number, UTC)


def _iso(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("+0000", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def plain_text(value) -> str:
    """Text as a string (never None); strips NUL characters databases reject."""
    return str(value or "").replace("\x00", "")


def unescape_once(value) -> str:
    """X sends HTML-escaped text: decode exactly once for storage (escaped again at render)."""
    return html.unescape(plain_text(value))


def as_id(value) -> str | None:
    """Platform ids as strings (legacy numeric ids included); None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, float):
        return None  # a float id has lost precision (X ids above 2**53)
    return str(value)
