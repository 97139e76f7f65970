"""The desk: a shared response desk for social-media customer service."""
import os
from datetime import timedelta
from zoneinfo import available_timezones

from flask import Flask, current_app, has_request_context, request
from flask_login import current_user

from desk.core.config import ROOT, Defaults, database_uri
from desk.core.extensions import babel, csrf, db, htmx, limiter, login_manager, migrate


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app: defaults, DESK_* environment, then `overrides` (tests)."""
    app = Flask(__name__, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"),
                instance_path=os.environ.get("DESK_INSTANCE_PATH") or str(ROOT / "instance"))
    app.config.from_object(Defaults)
    app.config.from_prefixed_env("DESK")
    app.config.update(overrides or {})
    _finish_config(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "desk" / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    limiter.init_app(app)
    _register_single_sign_on(app)

    _load_areas()
    # Imported here, when an app is built, not at the top: `import desk.core.clock` (the
    # webhook ingress, a job, a benchmark) must not load every view and area first.
    from desk.commands import register_commands
    from desk.core import queue, txcache
    from desk.views import register_views
    queue.install_session_hooks()
    txcache.install_session_hooks()
    register_views(app)
    register_commands(app)
    if int(app.config["PROXY_COUNT"]):
        # Behind that many trusted proxies, the client's address (sign-in throttling, audit,
        # sessions) and scheme come from their X-Forwarded-* headers, and only from theirs.
        from werkzeug.middleware.proxy_fix import ProxyFix
        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)
    return app


def _load_areas() -> None:
    """Import every module that defines tables, DDL or signal receivers, area by area in the
    order of the flow, so the metadata and the receivers are whole in every process.

    Receivers of one signal touch disjoint rows (clocks, escalations, incidents, surveys,
    usage), so the order they were connected in does not change any outcome.
    """
    # Local for the reason given in create_app; in the order of the flow, not sorted.
    # isort: off
    import desk.accounts.audit  # noqa: F401
    import desk.accounts.idempotency  # noqa: F401
    import desk.accounts.passwords  # noqa: F401
    import desk.accounts.sessions  # noqa: F401
    import desk.accounts.tokens  # noqa: F401
    import desk.accounts.twofactor  # noqa: F401
    import desk.accounts.users  # noqa: F401
    import desk.notify.notifications  # noqa: F401
    import desk.notify.webhooks  # noqa: F401
    import desk.channels.accounts  # noqa: F401
    import desk.channels.whatsapp  # noqa: F401
    import desk.customers.models  # noqa: F401
    import desk.inbox.events  # noqa: F401
    import desk.inbox.files  # noqa: F401
    import desk.inbox.outbound  # noqa: F401
    import desk.inbox.search_schema  # noqa: F401
    import desk.inbox.snooze  # noqa: F401
    import desk.inbox.tickets  # noqa: F401
    import desk.intake.events  # noqa: F401
    import desk.sla.board_counts  # noqa: F401
    import desk.sla.clocks  # noqa: F401
    import desk.sla.policies  # noqa: F401
    import desk.routing.assignment  # noqa: F401
    import desk.routing.models  # noqa: F401
    import desk.routing.out_of_hours  # noqa: F401
    import desk.escalation.crisis  # noqa: F401
    import desk.escalation.escalations  # noqa: F401
    import desk.escalation.rules  # noqa: F401
    import desk.replies.library  # noqa: F401
    import desk.replies.macros  # noqa: F401
    import desk.replies.models  # noqa: F401
    import desk.replies.usage  # noqa: F401
    import desk.feedback.activity  # noqa: F401
    import desk.feedback.surveys  # noqa: F401
    import desk.reports.rollup  # noqa: F401
    # isort: on


def _register_single_sign_on(app: Flask) -> None:
    """The OpenID Connect client, when DESK_OIDC_ISSUER is set, in app.extensions["oidc"]
    (one per app: Authlib's registry would otherwise be shared by every app in a process).
    Its discovery document names the endpoints and keys; Authlib fetches it at the first
    sign-on, not at start-up."""
    issuer = app.config.get("OIDC_ISSUER")
    if issuer:
        from authlib.integrations.flask_client import OAuth  # only sites with single sign-on
        app.extensions["oidc"] = OAuth(app).register(
            "oidc", client_id=app.config["OIDC_CLIENT_ID"],
            client_secret=app.config["OIDC_CLIENT_SECRET"],
            server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": app.config["OIDC_SCOPES"],
                           "timeout": app.config["PLATFORM_TIMEOUT"]})


def _finish_config(app: Flask) -> None:
    if not app.config.get("SECRET_KEY"):
        if not (app.debug or app.testing or os.environ.get("DESK_DEV") == "1"):
            raise RuntimeError("DESK_SECRET_KEY must be set (a long random string); on a "
                               "development or demo machine, DESK_DEV=1 uses a throwaway one")
        app.config["SECRET_KEY"] = "dev-only-not-secret"
    app.config["SQLALCHEMY_DATABASE_URI"] = database_uri(app)
    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(days=int(app.config["REMEMBER_DAYS"]))
    if app.config["TIMEZONE"] not in available_timezones():
        raise RuntimeError(f"DESK_TIMEZONE={app.config['TIMEZONE']!r} is no time zone; use an IANA "
                           "name such as Europe/Madrid or America/Mexico_City")
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["TIMEZONE"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    # A rate limiter whose Redis is down must not lock everyone out of the desk.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1})


def select_locale() -> str | None:
    """The user's chosen language, else the browser's best match among ours; outside a
    request (a command, a job), None: the default, unless force_locale says otherwise."""
    if not has_request_context():
        return None
    if current_user and current_user.is_authenticated and current_user.locale:
        return current_user.locale
    return request.accept_languages.best_match(current_app.config["LANGUAGES"])


def select_timezone() -> str | None:
    if not has_request_context():
        return None
    if current_user and current_user.is_authenticated:
        return current_user.timezone
    return None
