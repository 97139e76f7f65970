"""Canned replies: the library, the suggestion engine and usage figures."""
