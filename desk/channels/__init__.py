"""Platform adapters: verify and parse inbound deliveries, send replies. No database code."""
from desk.channels.base import OutboundReply, SendError


def send(reply: OutboundReply, config) -> str | None:
    """Send one reply through its platform; the platform's id for it. Raises SendError."""
    from desk.channels import senders
    sender = senders.SENDERS.get(reply.platform)
    if sender is None:
        raise SendError(f"replies cannot be sent to {reply.platform}", transient=False)
    return sender(reply, config)


def parse_event(source: str, payload: dict) -> list:
    """A stored inbound event's NormalizedMessages, by source (meta, x, api, csv)."""
    from desk.channels import generic, meta, x
    if source == "meta":
        return meta.parse(payload)
    if source == "x":
        return x.parse(payload)
    return generic.parse(payload)
