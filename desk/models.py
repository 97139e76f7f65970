"""Imports every area module, so metadata, migrations and signal receivers see all of them."""
from desk import (  # noqa: F401
    activity,  # customer activity events (retention)
    audit,
    auth,
    channel_accounts,
    crisis,  # incidents and held replies (receivers)
    customers,
    escalation_rules,  # editable rules (receivers)
    escalations,
    feedback,  # CSAT surveys (receivers)
    inbound,
    inbox_search_schema,  # full-text search objects the models cannot declare (DDL events)
    notifications,
    outbound,
    replies,
    reply_usage,  # usage figures and learning examples (receivers)
    sla,  # clocks (receivers)
    sla_policies,
    tickets,
    webhooks_out,  # outgoing webhook outbox
)
from desk.reports import rollup  # noqa: F401,E402  report roll-up tables, change-mark triggers (DDL events)
