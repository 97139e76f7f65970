"""The platforms: one adapter per platform (verify and parse inbound deliveries, send replies;
no database code) and the connected accounts (accounts.py, the one table here)."""
