"""Imports the desk's area modules by name (areas plug in views, API routes and commands)."""
import importlib


def import_all(names: list[str]) -> list:
    """Import each module in `names`, in order."""
    return [importlib.import_module(name) for name in names]
