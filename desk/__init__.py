"""The desk: a shared response desk for social-media customer service."""
import os

from flask import Flask, request
from flask_login import current_user

from desk.config import ROOT, Defaults, database_uri
from desk.extensions import babel, csrf, db, htmx, limiter, login_manager, migrate


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

    from desk import models  # noqa: F401  (registers every table and signal receiver)
    from desk import queue, txcache
    queue.install_session_hooks()
    txcache.install_session_hooks()
    from desk.views import register_views
    from desk.commands import register_commands
    register_views(app)
    register_commands(app)
    return app


def freeze_startup_objects() -> None:
    """For a server or worker process, once its app is built: take every object alive now
    out of the garbage collector's reach (gc.freeze).

    Full collections otherwise walk the app's hundreds of thousands of long-lived objects
    (routes, templates, mappers, the suggestion engine) and stall requests for tens of
    milliseconds: at 500 webhooks a second on two cores the acknowledgement p99 went from
    111-119 ms to 12-34 ms with this (tests/perf/bench_ingest.py).
    """
    import gc
    gc.collect()
    gc.freeze()


def _finish_config(app: Flask) -> None:
    if not app.config.get("SECRET_KEY"):
        if not (app.debug or app.testing or os.environ.get("DESK_DEV") == "1"):
            raise RuntimeError("DESK_SECRET_KEY must be set (a long random string)")
        app.config["SECRET_KEY"] = "dev-only-not-secret"
    app.config["SQLALCHEMY_DATABASE_URI"] = database_uri(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    # A rate limiter whose Redis is down must not lock everyone out of the desk.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1})


def select_locale() -> str | None:
    """The user's chosen language, else the browser's best match among ours."""
    if current_user and current_user.is_authenticated and current_user.locale:
        return current_user.locale
    from flask import current_app
    return request.accept_languages.best_match(current_app.config["LANGUAGES"])


def select_timezone() -> str | None:
    if current_user and current_user.is_authenticated:
        return current_user.timezone
    return None
