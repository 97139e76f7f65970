"""Routing: teams, agents' availability, capacity and skills, and automatic assignment."""
