"""Imports every area module, so metadata, migrations and signal receivers see all of them."""
from desk.modules import import_present

MODEL_MODULES = [
    "desk.audit", "desk.auth", "desk.channel_accounts", "desk.customers", "desk.inbound",
    "desk.tickets", "desk.notifications", "desk.sla",
    "desk.replies",  # canned replies and their usage
    "desk.sla_policies",  # SLA policies, calendars, clock events
    "desk.escalations",  # escalations, rules, incidents
    "desk.crisis",  # crisis incidents and held replies (receivers)
    "desk.escalation_rules",  # editable escalation rules (receivers)
    "desk.webhooks_out",  # outgoing webhook outbox
    "desk.feedback",  # CSAT surveys
    "desk.activity",  # customer activity events (retention)
    "desk.outbound",  # outbound delivery attempts
]
LOADED = list(import_present(MODEL_MODULES))
