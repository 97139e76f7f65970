"""The WSGI entry point for servers: `gunicorn "desk.wsgi:app"` (see README, Production)."""
from desk import create_app
from desk.core.process import freeze_startup_objects

app = create_app()
freeze_startup_objects()
