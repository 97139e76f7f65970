"""Customers and their identities on each platform."""
