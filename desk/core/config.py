"""Defaults for every setting; each can be overridden by a DESK_* environment variable."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: desk/core/config.py -> ../..


class Defaults:
    """Settings for one machine: SQLite in the instance folder and a local Redis."""

    SECRET_KEY = None  # must come from DESK_SECRET_KEY outside development and tests
    ENCRYPTION_KEYS = ""  # Fernet keys for secrets at rest, newest first (desk/core/crypto.py)
    DATABASE_URL = None  # default: sqlite:///<instance>/desk.sqlite3
    REDIS_URL = "redis://127.0.0.1:6379/0"
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    PROXY_COUNT = 0  # reverse proxies in front of the desk whose X-Forwarded-For is trusted
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # set DESK_SESSION_COOKIE_SECURE=true behind HTTPS
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    MAX_CONTENT_LENGTH = 4 * 1024 * 1024  # Meta allows ~3 MB bodies; larger ones get 413

    # Single sign-on with OpenID Connect (off while OIDC_ISSUER is empty); README explains.
    OIDC_ISSUER = ""  # e.g. https://accounts.google.com
    OIDC_CLIENT_ID = ""
    OIDC_CLIENT_SECRET = ""
    OIDC_LABEL = "single sign-on"  # the button says "Sign in with <label>"
    OIDC_SCOPES = "openid email profile"
    OIDC_ROLES_CLAIM = "groups"  # the claim whose values OIDC_ROLE_MAP maps to roles
    OIDC_ROLE_MAP = ""  # "desk-admins=admin,desk-smm=smm,desk-leads=lead,desk-cms=cm"
    OIDC_CREATE_USERS = False  # create an account at a person's first sign-on
    OIDC_DEFAULT_ROLE = ""  # the role of people created whom no claim value maps
    OIDC_ALLOWED_DOMAINS = ""  # e-mail domains allowed in, comma-separated (empty: any)
    # argon2id costs (RFC 9106's second recommendation: 3 passes over 64 MiB). The test suite
    # lowers them: the hashing, not what is checked, is what they change.
    PASSWORD_HASH_TIME_COST = 3
    PASSWORD_HASH_MEMORY_KIB = 65536
    LOGIN_RATE_LIMIT = "20 per minute"  # failed sign-ins (and reset requests) per address
    API_RATE_LIMIT = "300 per minute"  # calls per API token, every /api/v1 operation together
    SESSION_IDLE_MINUTES = 720  # a session unused this long ends (sign in again)
    REMEMBER_DAYS = 30  # "keep me signed in": the cookie's life and the idle limit
    RATELIMIT_HEADERS_ENABLED = True
    BABEL_DEFAULT_LOCALE = "en"
    # The desk's time zone (IANA): new people start in it and pages and mails that belong to
    # no person use it; each person may choose another in Preferences.
    TIMEZONE = "UTC"
    LANGUAGES = ("en", "es")
    # Message text older than this many months is removed for every customer, daily at
    # TEXT_RETENTION_CRON (desk/people/privacy.py); 0 keeps text for ever.
    TEXT_RETENTION_MONTHS = 0
    TEXT_RETENTION_CRON = "30 3 * * *"  # 03:30 UTC
    PHONE_REGION = "ES"  # the country of customer phone numbers written without "+code"

    # Platforms (secrets only from the environment; blank means the platform is not configured)
    META_APP_SECRET = ""
    META_VERIFY_TOKEN = ""
    META_APP_ID = ""  # with META_APP_SECRET: the daily token check reads each token's expiry
    META_TOKEN_CHECK_SECONDS = 86400  # how often Facebook, Instagram and WhatsApp tokens are checked
    META_TOKEN_WARN_DAYS = 7  # warn admins this many days before a Meta token expires
    INSTAGRAM_APP_SECRET = ""  # apps using "Business Login for Instagram" sign with this one
    META_GRAPH_URL = "https://graph.facebook.com/v21.0"
    WHATSAPP_GRAPH_URL = "https://graph.facebook.com/v21.0"
    X_CONSUMER_SECRET = ""
    X_CLIENT_SECRET = ""  # OAuth 2.0 client secret: X-Twitter-Webhooks-Signature-OAuth2 and the CRC
    X_CLIENT_ID = ""  # OAuth 2.0 client id: refreshing X user tokens (with X_CLIENT_SECRET)
    X_REFRESH_BEFORE_SECONDS = 600  # refresh an X user token this long before it expires
    X_REFRESH_SWEEP_SECONDS = 300  # how often the scheduler looks for X tokens to refresh
    X_API_URL = "https://api.x.com/2"
    SANDBOX = False  # record outbound replies instead of sending them (demo)
    PLATFORM_TIMEOUT = 10  # seconds for one outbound platform call
    OUTBOUND_RETRY_INTERVALS = "10,30,120,600,1800"  # backoff between send retries (seconds)
    INBOUND_LOCK_TIMEOUT_MS = 2000  # a webhook waits this long for a lock, then 503
    INBOUND_STALE_SECONDS = 120  # events waiting longer than this are re-enqueued by the re-sweep
    OUTBOUND_SWEEP_SECONDS = 300  # how often interrupted sends are looked for
    OUTBOUND_STUCK_SECONDS = 600  # a send claimed longer ago than this was interrupted

    SLA_SWEEP_SECONDS = 30
    ROUTING_TICK_SECONDS = 30  # idle agents away, ended snoozes back, waiting tickets handed out
    # Escalations (rule defaults; SMMs edit the live values on the rules page)
    ESCALATION_SWEEP_SECONDS = 60
    ESCALATION_ACK_MINUTES = 15  # an unacknowledged escalation notifies again, level 1 climbs
    CRISIS_BURST_SIZE = 5  # similar negative messages from different tickets...
    CRISIS_WINDOW_MINUTES = 30  # ...within this many minutes form one incident
    CRISIS_SIMILARITY = 75  # rapidfuzz token_set_ratio over normalised text (0-100)
    OUTGOING_WEBHOOK_URL = ""  # chat-bridge endpoint for escalation events (Standard Webhooks)
    OUTGOING_WEBHOOK_SECRET = ""  # whsec_<base64>; required when the URL is set
    OUTGOING_WEBHOOK_ALLOW_PRIVATE = False  # tests only: lets the SSRF guard reach loopback
    OUTGOING_WEBHOOK_RETRY_INTERVALS = "10,60,300,1800"  # seconds between delivery retries
    # Which events go out, comma-separated patterns: escalation.*, ticket.created,
    # ticket.assigned, ticket.resolved, message.created, reply.delivered, reply.failed,
    # reply.recorded; "*" for all. The default keeps the escalation events only.
    OUTGOING_WEBHOOK_EVENTS = "escalation.*"
    INBOUND_RESWEEP_SECONDS = 60

    SMTP_HOST = ""
    SMTP_PORT = 25
    SMTP_USER = ""
    SMTP_PASSWORD = ""
    SMTP_STARTTLS = False
    MAIL_FROM = "desk@localhost"
    BASE_URL = "http://127.0.0.1:5000"

    # Satisfaction surveys (CSAT) and the weekly service report
    CSAT_ENABLED = True
    CSAT_DELAY_SECONDS = 3600  # after the resolution, before the survey goes out
    CSAT_MIN_DAYS_BETWEEN = 7  # at most one survey per customer in this many days
    CSAT_EXPIRY_DAYS = 14
    SURVEY_STALE_SECONDS = 120  # scheduled surveys this far past due are enqueued again
    SURVEY_RESWEEP_SECONDS = 60
    CSAT_MESSAGE_EN = "Hi {name}, how did we do? Rate our answer from 1 to 5 here: {link} (or just reply with a number)."
    CSAT_MESSAGE_ES = "Hola {name}, ¿qué tal te atendimos? Valora nuestra respuesta del 1 al 5 aquí: {link} (o responde solo con un número)."
    SURVEY_RATE_LIMIT = "30 per minute"  # per IP on /s/<token>: token guessing is pointless
    WEEKLY_REPORT_CRON = "0 7 * * 1"  # Mondays 07:00 UTC, the week before
    REPORT_ROLLUP_SECONDS = 60  # how often the report roll-up takes in the changes since the last run
    # The media proxy (desk/channels/media.py): the platforms' content hosts (a host or any
    # subdomain of one), the most it passes on, and hosts it may reach over http or at a
    # private address (local fakes in tests only; empty in production).
    MEDIA_HOSTS = "fbcdn.net,fbsbx.com,cdninstagram.com,facebook.com,whatsapp.net,twimg.com"
    MEDIA_MAX_BYTES = 25 * 1024 * 1024
    MEDIA_INSECURE_HOSTS = ""
    # The largest file an agent may attach to a reply or a canned reply (each platform's own
    # limits are checked too: desk/channels/attachments.py).
    ATTACHMENT_MAX_BYTES = 16 * 1024 * 1024
    BOARD_COMPACT_SECONDS = 60  # how often the board's kept counts are folded to one row per key


def database_uri(app):
    """The SQLAlchemy URI: DESK_DATABASE_URL, or a SQLite file in the instance folder."""
    url = app.config.get("DATABASE_URL")
    if url:
        return url
    os.makedirs(app.instance_path, exist_ok=True)
    return "sqlite:///" + os.path.join(app.instance_path, "desk.sqlite3")
