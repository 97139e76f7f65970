"""Demo data for `desk seed-demo`: a month of a shop's social inbox, built through the real services."""
