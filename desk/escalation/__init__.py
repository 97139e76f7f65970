"""Escalations to leads and the SMM: raising and handling them, rules, the ladder, crisis incidents, sentiment."""
