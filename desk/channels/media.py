"""The media proxy's fetch: an inbound attachment read server-side from the platform's own
hosts, so the agent's browser never calls the platform (no cookies, no address handed over)
and the desk never becomes a way into other hosts (server-side request forgery).

Only https URLs on DESK_MEDIA_HOSTS (Meta's and X's content hosts) are fetched, never an
address inside a private, loopback or link-local network, redirects are followed by hand
under the same rules, at most MEDIA_MAX_BYTES are passed on, and only media types are
(images, video, audio, PDF, plain text). WhatsApp media arrive as an id: Graph is asked for
the short-lived URL first, then the file is fetched with the channel's token, as WhatsApp
requires. DESK_MEDIA_INSECURE_HOSTS (tests and local fakes only) lifts the https and address
rules for the hosts it names.
"""
import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

from desk.channels import senders
from desk.channels.base import SendError

MAX_REDIRECTS = 3
CHUNK = 64 * 1024
TYPES = ("image/", "video/", "audio/", "application/pdf", "text/plain")
INLINE = ("image/", "video/", "audio/")


class MediaRefused(Exception):
    """The attachment cannot be passed on: `status` is what the proxy answers (404 or 502)."""

    def __init__(self, reason: str, status: int = 502):
        super().__init__(reason)
        self.status = status


@dataclass
class Media:
    content_type: str
    length: int | None
    chunks: Iterator[bytes]

    @property
    def inline(self) -> bool:
        return self.content_type.startswith(INLINE)


def _hosts(value) -> list[str]:
    return [h.strip().lower().lstrip(".") for h in str(value or "").split(",") if h.strip()]


def _allowed(url: str, config) -> None:
    """MediaRefused unless `url` is https on a platform host and resolves outside private nets."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    insecure = host in _hosts(config.get("MEDIA_INSECURE_HOSTS"))
    if parts.scheme != "https" and not (insecure and parts.scheme == "http"):
        raise MediaRefused("only https media addresses are fetched", 404)
    if not insecure and not any(host == h or host.endswith("." + h)
                                for h in _hosts(config["MEDIA_HOSTS"])):
        raise MediaRefused(f"{host or 'no host'} is not one of the platforms' media hosts", 404)
    if insecure:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, parts.port or 443,
                                                                type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError) as exc:
        raise MediaRefused(f"{host} cannot be resolved") from exc
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global:
            raise MediaRefused(f"{host} resolves to a private address", 404)


def _source(platform: str, attachment: dict, access_token: str | None, config) -> tuple[str, dict]:
    """(URL, request headers) of the attachment's bytes."""
    if platform == "whatsapp" and attachment.get("media_id"):
        graph = config["WHATSAPP_GRAPH_URL"].rstrip("/")
        try:
            info = senders.get_json("whatsapp", "the media address",
                                    f"{graph}/{attachment['media_id']}", None, access_token, config)
        except SendError as exc:
            raise MediaRefused(str(exc)) from exc
        if not isinstance(info.get("url"), str):
            raise MediaRefused("WhatsApp gave no address for this media")
        return info["url"], {"Authorization": f"Bearer {access_token or ''}"}
    if isinstance(attachment.get("url"), str) and attachment["url"]:
        return attachment["url"], {}
    raise MediaRefused("this attachment has no media the platform passes on", 404)


def open_media(platform: str, attachment: dict, access_token: str | None, config) -> Media:
    """The attachment's bytes as a stream, or MediaRefused."""
    url, headers = _source(platform, attachment, access_token, config)
    headers = {"User-Agent": "desk-media-proxy", "Accept": "*/*", **headers}
    limit = int(config["MEDIA_MAX_BYTES"])
    for _ in range(MAX_REDIRECTS + 1):
        _allowed(url, config)
        try:
            response = requests.get(url, headers=headers, stream=True, allow_redirects=False,
                                    timeout=float(config["PLATFORM_TIMEOUT"]))
        except requests.RequestException as exc:
            raise MediaRefused(f"the platform is unreachable: {type(exc).__name__}") from exc
        if response.is_redirect:
            response.close()
            url = urljoin(url, response.headers.get("Location", ""))
            headers.pop("Authorization", None)  # the token goes to the first host only
            continue
        break
    else:
        raise MediaRefused("too many redirects")
    if response.status_code != 200:
        response.close()
        raise MediaRefused(f"the platform answered {response.status_code}")
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not content_type.startswith(TYPES):
        response.close()
        raise MediaRefused(f"{content_type or 'an unknown type'} is not passed on")
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if length is not None and length > limit:
        response.close()
        raise MediaRefused(f"the file is larger than {limit // (1024 * 1024)} MB")
    return Media(content_type, length, _capped(response, limit))


def _capped(response, limit: int) -> Iterator[bytes]:
    """The body in chunks, cut off (the stream ends) past `limit` bytes."""
    seen = 0
    try:
        for chunk in response.iter_content(CHUNK):
            seen += len(chunk)
            if seen > limit:
                return
            yield chunk
    finally:
        response.close()
