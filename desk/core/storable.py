"""Text every database the desk runs on can store: no NUL and no lone surrogate.

PostgreSQL refuses NUL in text; the UTF-8 encoders of both drivers refuse a lone surrogate
(valid JSON such as "\\ud800" decodes to one). Platforms' text is made storable where it is
stored (intake/events.py); people's text is refused with a 400 (views/inputs.py).
"""
import re

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> bool:
    """True if `text` holds a NUL or a lone surrogate."""
    return _UNSTORABLE.search(text) is not None


def storable_text(text: str) -> str:
    """`text` with each NUL and lone surrogate replaced by U+FFFD (nothing else changes)."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def storable(value):
    """A JSON value with every string, keys included, made storable; other values as they are."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def any_unstorable(value) -> bool:
    """True if any string in a JSON value, keys included, holds a NUL or a lone surrogate."""
    if isinstance(value, str):
        return unstorable(value)
    if isinstance(value, dict):
        return any(any_unstorable(key) or any_unstorable(item) for key, item in value.items())
    if isinstance(value, list):
        return any(any_unstorable(item) for item in value)
    return False
