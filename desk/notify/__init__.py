"""Telling people and systems: in-app notifications, e-mail, signed outgoing webhooks."""
