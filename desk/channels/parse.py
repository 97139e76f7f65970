"""A stored inbound event's normalised messages, by the adapter of its source."""
from desk.channels import generic, meta, x


def parse_event(source: str, payload: dict) -> list:
    """A stored inbound event's NormalizedMessages, by source (meta, x, api, csv)."""
    if source == "meta":
        return meta.parse(payload)
    if source == "x":
        return x.parse(payload)
    return generic.parse(payload)
