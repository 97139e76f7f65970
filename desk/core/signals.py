"""Domain events, so areas react to each other without importing each other.

Receivers run inside the publisher's transaction: they may add or change rows and register
jobs with `desk.core.queue.enqueue_after_commit`, but never commit or roll back themselves.
Every receiver takes `sender` (the ticket) plus the keyword arguments listed here and `now`.
Modules connect their receivers at import; `create_app` imports every such module
(desk/__init__.py, _load_areas). Receivers of one signal must not depend on each other's order.
"""
from blinker import Namespace

_signals = Namespace()

# A customer message was stored on a ticket (new ticket or appended). kwargs: message, now
customer_message = _signals.signal("customer-message")
# A customer message opened a new ticket (sent before customer_message). kwargs: message, now
ticket_created = _signals.signal("ticket-created")
# A ticket's assignee changed (claimed, assigned, unassigned). kwargs: previous, now
ticket_assigned = _signals.signal("ticket-assigned")
# An agent reply was created (before it is sent). kwargs: message, now.
# A receiver may hold it for approval by setting message.delivery_state = "held".
reply_created = _signals.signal("reply-created")
# An agent reply was released for delivery (not held, or approved): the customer has been
# answered as far as the SLA clock is concerned. kwargs: message, now
reply_released = _signals.signal("reply-released")
# A reply on a network without an adapter was handed to its bridge. kwargs: message, now
reply_bridged = _signals.signal("reply-bridged")
# A reply's delivery ended: delivered, recorded (sandbox, no adapter) or failed.
# kwargs: message, state, now
reply_finished = _signals.signal("reply-finished")
# A customer DM arrived, before it is threaded (nothing opened, reopened or appended yet).
# kwargs: customer_id, text, now. A receiver that takes it as an answer (a survey rating)
# returns the ticket it belongs to; the message is then kept there as an automatic one, no
# ticket is opened or reopened and no clock starts. (The name is from when only DMs with no
# open ticket were asked.)
dm_without_open_ticket = _signals.signal("dm-without-open-ticket")
# A ticket was resolved. kwargs: now, resolution ("replied" or "no_reply_needed")
ticket_resolved = _signals.signal("ticket-resolved")
# A ticket was reopened (by an agent or by a new customer message). kwargs: now
ticket_reopened = _signals.signal("ticket-reopened")
# A ticket's priority changed (SLA policies match on it). kwargs: previous, now
ticket_priority_changed = _signals.signal("ticket-priority-changed")
# An SLA clock passed its warning time / its due time (recorded once). kwargs: clock, now
sla_warned = _signals.signal("sla-warned")
sla_breached = _signals.signal("sla-breached")
# A channel's access token was saved (connected, rotated) or proved to work again, and the
# channel is no longer failing; replies waiting for it may go. sender: the channel. kwargs: now
channel_restored = _signals.signal("channel-restored")
