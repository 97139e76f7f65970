"""What each platform lets an agent attach to a reply: kinds, types and sizes, checked before
anything is stored or sent; and a file's type read from its bytes, never from the name or
what the browser says.

Limits as the platforms document them (Messenger Send API, Instagram messaging, WhatsApp
Cloud API media, Graph comments, X media upload); anything else is refused with the reason.
X video needs the chunked upload, not built here, so X takes images only. An Instagram
comment reply and a private reply to a comment take text only.
"""
from dataclasses import dataclass

import filetype
from flask_babel import lazy_gettext as _l

MB = 1024 * 1024
JPEG, PNG, GIF, WEBP = "image/jpeg", "image/png", "image/gif", "image/webp"
PDF = "application/pdf"
OFFICE = ("application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
          "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
          "application/vnd.openxmlformats-officedocument.presentationml.presentation")


@dataclass(frozen=True)
class Rule:
    types: frozenset
    max_bytes: int


def _rules(**kinds) -> dict[str, Rule]:
    return {kind: Rule(frozenset(types), size * MB) for kind, (types, size) in kinds.items()}


# (platform, visibility) -> kind -> rule. A private reply to a comment is a DM only on the
# DM kinds; see `rules_for`.
_DM = {
    "facebook": _rules(image=((JPEG, PNG, GIF), 25), video=(("video/mp4", "video/quicktime"), 25),
                       audio=(("audio/mpeg", "audio/mp4", "audio/aac", "audio/x-wav"), 25),
                       file=((PDF, *OFFICE, "text/plain"), 25)),
    "instagram": _rules(image=((JPEG, PNG), 8),
                        video=(("video/mp4", "video/quicktime", "video/webm", "video/x-msvideo"), 25),
                        audio=(("audio/aac", "audio/mp4", "audio/x-wav"), 25), file=((PDF,), 25)),
    "whatsapp": _rules(image=((JPEG, PNG), 5), video=(("video/mp4", "video/3gpp"), 16),
                       audio=(("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"), 16),
                       file=((PDF, *OFFICE, "text/plain"), 100)),
    "x": _rules(image=((JPEG, PNG, WEBP), 5)),
}
_PUBLIC = {
    "facebook": _rules(image=((JPEG, PNG, GIF), 4)),  # a photo comment
    "x": _rules(image=((JPEG, PNG, WEBP), 5)),
}
X_GIF = Rule(frozenset((GIF,)), 15 * MB)

PLATFORM_NAMES = {"facebook": "Facebook", "instagram": "Instagram", "whatsapp": "WhatsApp",
                  "x": "X"}
KIND_LABELS = {"image": _l("images"), "video": _l("videos"), "audio": _l("audio"),
               "file": _l("documents")}


class AttachmentRefused(ValueError):
    """The platform would not take this file on this reply; the message says why."""


def rules_for(platform: str, kind: str, visibility: str) -> dict[str, Rule]:
    """What a reply of `visibility` on a ticket of `kind` may carry on `platform` (may be {})."""
    if visibility == "public":
        rules = dict(_PUBLIC.get(platform, {}))
    elif kind == "dm":
        rules = dict(_DM.get(platform, {}))
    else:
        rules = {}  # a private reply to a comment: text only
    if platform == "x" and "image" in rules:
        rules["gif"] = X_GIF
    return rules


def sniff(data: bytes, filename: str) -> str:
    """The file's media type from its first bytes; plain text only for a .txt that is UTF-8."""
    found = filetype.guess_mime(data[:8192]) if data else None
    if found:
        return found
    if filename.lower().endswith(".txt"):
        try:
            data.decode("utf-8")
            return "text/plain"
        except UnicodeDecodeError:
            pass
    return "application/octet-stream"


def kind_of(content_type: str) -> str:
    """image, video, audio or file: how a platform names what it sends."""
    top = content_type.split("/", 1)[0]
    return top if top in ("image", "video", "audio") else "file"


def check(platform: str, ticket_kind: str, visibility: str, content_type: str, size: int) -> str:
    """The attachment's kind when the platform takes it on this reply, else AttachmentRefused."""
    rules = rules_for(platform, ticket_kind, visibility)
    platform = PLATFORM_NAMES.get(platform, platform)
    if not rules:
        raise AttachmentRefused(_l("This reply cannot carry a file on %(platform)s: send the "
                                   "text alone, or a private message.", platform=platform))
    kind = kind_of(content_type)
    rule = rules.get("gif") if content_type == GIF and platform == "x" else rules.get(kind)
    if rule is None or content_type not in rule.types:
        allowed = ", ".join(sorted({str(KIND_LABELS[k]) for k in rules if k in KIND_LABELS}))
        raise AttachmentRefused(_l("%(platform)s does not take this type of file (%(type)s) on "
                                   "this reply; it takes: %(allowed)s.", platform=platform,
                                   type=content_type, allowed=allowed))
    if size > rule.max_bytes:
        raise AttachmentRefused(_l("The file is %(size)s MB; %(platform)s takes at most %(max)s "
                                   "MB for %(kind)s.", size=f"{size / MB:.1f}", platform=platform,
                                   max=rule.max_bytes // MB, kind=KIND_LABELS[kind]))
    return kind


def accept(platform: str, ticket_kind: str, visibility: str) -> str:
    """The file input's accept attribute for a reply (the browser's first filter)."""
    return ",".join(sorted({t for rule in rules_for(platform, ticket_kind, visibility).values()
                            for t in rule.types}))
