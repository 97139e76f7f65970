"""JSON API under /api/v1/: each module adds its endpoints to `base.bp` when imported."""
from desk.views.api import (  # noqa: F401
    activity,
    base,
    bridge,
    conversation,
    customers,
    messages,
    reports,
    ticket_actions,
    tickets,
    webhooks,
)

bp = base.bp
