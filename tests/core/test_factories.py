"""The test factories start the SLA clock the way real ingest does."""
from datetime import datetime, timezone

from tests.factories import add_agent_reply, make_ticket, minutes

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)


def test_ticket_from_factory_runs_and_stops_the_default_clock(app_ctx, make_user):
    agent = make_user("cm")
    ticket = make_ticket(sent_at=T0, now=T0)
    assert ticket.sla_state == "on_track" and ticket.sla_due_at == T0 + minutes(60)
    add_agent_reply(ticket, agent, sent_at=T0 + minutes(70), now=T0 + minutes(70))
    assert ticket.sla_state == "late" and ticket.first_response_at == T0 + minutes(70)
