"""A stored inbound event's normalised messages, by the adapter of its source."""
from desk.channels import generic, meta, x
from desk.channels.base import fit


def parse_event(source: str, payload: dict) -> list:
    """A stored inbound event's NormalizedMessages, by source (meta, x, api, csv), each with
    its fields within the lengths the desk stores (base.fit)."""
    return [fit(message) for message in _parse(source, payload)]


def _parse(source: str, payload: dict) -> list:
    if source == "meta":
        return meta.parse(payload)
    if source == "x":
        return x.parse(payload)
    return generic.parse(payload)
