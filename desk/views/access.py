"""Who may call a view: signed-in users by role (pages), bearer tokens (the API)."""
import time
from functools import wraps

from flask import abort, current_app, g, request
from flask_login import current_user
from limits import parse as parse_limit

from desk.accounts.audit import Actor
from desk.accounts.tokens import SCOPES, mark_used, token_for_secret
from desk.core.clock import now as clock_now
from desk.core.errors import problem
from desk.core.extensions import limiter, login_manager


def client_ip() -> str | None:
    """The caller's address as the rate limiter sees it (`request.remote_addr`: the peer, or
    the client a trusted proxy named if a ProxyFix is set up in front)."""
    return request.remote_addr


def audit_actor() -> Actor:
    """Who is making this request's change and from where, for the audit log: the signed-in
    user, or the API token's user (source "api")."""
    token = g.get("api_token")
    if token is not None:
        return Actor(user_id=token.user_id, ip=client_ip(), source="api")
    user_id = current_user.id if current_user.is_authenticated else None
    return Actor(user_id=user_id, ip=client_ip(), source="web")


def role_required(role: str):
    """View decorator: signed in (else to sign-in) and at least `role` (else 403)."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(role):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def token_required(view):
    """API view decorator: a live bearer token in `Authorization` (not revoked, not expired,
    its user active), else 401; within its rate limit, else 429 (problem details). Its
    last-used time is kept (at most once a minute)."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        now = clock_now()
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        token = token_for_secret(raw.strip(), now) if scheme.lower() == "bearer" else None
        if token is None:
            response = problem(401, "a valid bearer token is required")
            response.headers["WWW-Authenticate"] = 'Bearer realm="desk"'
            return response
        mark_used(token, now)
        g.api_token = token
        allowed, headers = _rate_limit(token.id)
        response = current_app.make_response(view(*args, **kwargs) if allowed else problem(
            429, "too many requests with this token; retry after the RateLimit-Reset seconds"))
        response.headers.update(headers)
        return response
    return wrapped


def _rate_limit(token_id: int) -> tuple[bool, dict]:
    """Count a call against the token's budget (DESK_API_RATE_LIMIT, every operation together;
    the limiter's storage, Redis). Returns (allowed, headers): the IETF RateLimit-* fields
    (reset in seconds), their X-RateLimit-* forerunners (reset as a Unix time), Retry-After.
    A limiter whose storage is down lets the call through."""
    item = parse_limit(current_app.config["API_RATE_LIMIT"])
    try:
        allowed = limiter.limiter.hit(item, "api-token", str(token_id))
        reset_at, remaining = limiter.limiter.get_window_stats(item, "api-token", str(token_id))
    except Exception:  # noqa: BLE001 - storage trouble must not lock integrations out
        current_app.logger.warning("API rate limit storage unavailable", exc_info=True)
        return True, {}
    seconds = max(0, int(reset_at - time.time()) + 1)  # the limiter's clock is the real one
    headers = {"RateLimit-Limit": str(item.amount), "RateLimit-Remaining": str(remaining),
               "RateLimit-Reset": str(seconds),
               "RateLimit-Policy": f"{item.amount};w={item.get_expiry()}",
               "X-RateLimit-Limit": str(item.amount), "X-RateLimit-Remaining": str(remaining),
               "X-RateLimit-Reset": str(int(reset_at))}
    if not allowed:
        headers["Retry-After"] = str(seconds)
    return allowed, headers


def token_role(role: str):
    """API view decorator, under `token_required`: a token acting for a user does no more than
    that user could in the interface (at least `role`, else 403 JSON). A token made for no
    user (`desk create-token` without --user) is an integration's and is not capped."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = g.api_token.user
            if user is not None and not user.has_role(role):
                return problem(403, f"this token's user is not allowed here (needs {role})")
            return view(*args, **kwargs)
        return wrapped
    return decorator


def token_user(view):
    """API view decorator, under `token_required`: the operation acts as a person (replies,
    assignments, notes name their author), so a token made for no user gets 403."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.api_token.user is None:
            return problem(403, "this operation acts as a person: use a token made for a user")
        return view(*args, **kwargs)
    return wrapped


def token_scope(scope: str):
    """API view decorator, under `token_required`: the token holds `scope`, and its user still
    has the role the scope needs (`token_role`); else 403 JSON."""
    def decorator(view):
        capped = token_role(SCOPES[scope])(view)

        @wraps(view)
        def wrapped(*args, **kwargs):
            if not g.api_token.has_scope(scope):
                return problem(403, f"this token lacks the scope {scope}")
            return capped(*args, **kwargs)
        return wrapped
    return decorator
