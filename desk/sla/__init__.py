"""The first-response clock: clocks, policies, business-hours calendars, the sweep and the board."""
