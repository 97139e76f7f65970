"""The shared inbox: tickets and messages, what agents do to them, replies going out, the list, search and presence."""
