"""The WSGI entry point for servers: `gunicorn "desk.wsgi:app"` (see README, Production)."""
from desk import create_app, freeze_startup_objects

app = create_app()
freeze_startup_objects()
