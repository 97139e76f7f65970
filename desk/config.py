"""Defaults for every setting; each can be overridden by a DESK_* environment variable."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Defaults:
    """Settings for one machine: SQLite in the instance folder and a local Redis."""

    SECRET_KEY = None  # must come from DESK_SECRET_KEY outside development and tests
    DATABASE_URL = None  # default: sqlite:///<instance>/desk.sqlite3
    REDIS_URL = "redis://127.0.0.1:6379/0"
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # set DESK_SESSION_COOKIE_SECURE=true behind HTTPS
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    MAX_CONTENT_LENGTH = 4 * 1024 * 1024  # Meta allows ~3 MB bodies; larger ones get 413

    LOGIN_RATE_LIMIT = "10 per minute"
    RATELIMIT_HEADERS_ENABLED = True
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    LANGUAGES = ("en", "es")

    # Platforms (secrets only from the environment; blank means the platform is not configured)
    META_APP_SECRET = ""
    META_VERIFY_TOKEN = ""
    META_GRAPH_URL = "https://graph.facebook.com/v21.0"
    WHATSAPP_GRAPH_URL = "https://graph.facebook.com/v21.0"
    X_CONSUMER_SECRET = ""
    X_API_URL = "https://api.x.com/2"
    SANDBOX = False  # record outbound replies instead of sending them (demo)

    SLA_SWEEP_SECONDS = 30
    INBOUND_RESWEEP_SECONDS = 60

    SMTP_HOST = ""
    SMTP_PORT = 25
    SMTP_USER = ""
    SMTP_PASSWORD = ""
    SMTP_STARTTLS = False
    MAIL_FROM = "desk@localhost"
    BASE_URL = "http://127.0.0.1:5000"


def database_uri(app):
    """The SQLAlchemy URI: DESK_DATABASE_URL, or a SQLite file in the instance folder."""
    url = app.config.get("DATABASE_URL")
    if url:
        return url
    os.makedirs(app.instance_path, exist_ok=True)
    return "sqlite:///" + os.path.join(app.instance_path, "desk.sqlite3")
