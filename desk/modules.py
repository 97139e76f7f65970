"""Imports the desk's area modules by name (areas plug in views, models and commands)."""
import importlib


def import_present(names: list[str]):
    """Import each module in `names`; a module that does not exist yet is passed over."""
    for name in names:
        try:
            yield importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
