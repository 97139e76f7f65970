"""JSON API under /api/v1/: each module adds its endpoints to `base.bp` when imported."""
from desk.views.api import activity, base, messages, reports, tickets  # noqa: F401

bp = base.bp
