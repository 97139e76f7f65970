"""Users, roles, passwords, API tokens and the audit log of who did what."""
