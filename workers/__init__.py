"""RQ job functions: thin wrappers that take ids and call one desk service.

Every job runs in a fresh app context (its own database session), whether the worker is
`desk worker` or an RQ SimpleWorker inside a test.
"""
from functools import wraps

from flask import current_app, has_app_context

_app = None


def _application():
    global _app
    if has_app_context():
        return current_app._get_current_object()
    if _app is None:
        from desk import create_app
        _app = create_app()
    return _app


def job(func):
    """Run `func` inside a fresh app context whose session is removed afterwards."""
    @wraps(func)
    def wrapped(*args, **kwargs):
        with _application().app_context():
            return func(*args, **kwargs)
    return wrapped
