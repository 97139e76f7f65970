"""Sign-in throttling that slows guessing without letting a stranger lock a person out.

Failed sign-ins are counted per account and source (an IP address): after a few, each next
try from that source waits twice as long as the last, up to a quarter of an hour. Failures
from browsers that never signed in to the account are also counted per account, across
sources, so a botnet spread over many addresses slows down too; a browser that has signed in
to the account before carries a device cookie (OWASP's "device cookies") and is exempt from
that account-wide count, so its owner still gets in during an attack. A correct password
clears the counts. The counts live in Redis; with Redis away, sign-in is not throttled here
(the per-address request limit still applies).
"""
import hashlib
import logging

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from redis.exceptions import RedisError

from desk.core.queue import redis_connection

log = logging.getLogger(__name__)

FREE_PER_SOURCE = 5  # failures from one source before it waits
FREE_PER_ACCOUNT = 20  # failures from unknown browsers, all sources, before they wait
LONGEST_WAIT = 900  # seconds
FORGET_AFTER = 3600  # seconds without a failure before the counts start again
DEVICE_COOKIE = "desk_device"


def _account(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def _keys(email: str, source: str) -> dict[str, str]:
    account = _account(email)
    return {"source": f"signin:{account}:{source}", "account": f"signin:{account}"}


def wait_seconds(email: str, source: str, trusted: bool, now: float) -> int:
    """Seconds this source must still wait before trying this account again (0: go on)."""
    keys = _keys(email, source)
    names = ["source"] if trusted else ["source", "account"]
    try:
        untils = redis_connection().mget([keys[name] + ":until" for name in names])
    except RedisError as exc:
        log.warning("redis unavailable, sign-in not throttled: %s", exc)
        return 0
    return max([0] + [int(float(until) - now) + 1 for until in untils
                      if until is not None and float(until) > now])


def record_failure(email: str, source: str, trusted: bool, now: float) -> None:
    """Count a failed sign-in; past the free tries, set the next wait (doubling)."""
    keys = _keys(email, source)
    counted = [("source", FREE_PER_SOURCE)] + ([] if trusted else [("account", FREE_PER_ACCOUNT)])
    try:
        r = redis_connection()
        for name, free in counted:
            failures = r.incr(keys[name])
            r.expire(keys[name], FORGET_AFTER)
            if failures > free:
                wait = min(2 ** (failures - free), LONGEST_WAIT)
                r.set(keys[name] + ":until", now + wait, ex=FORGET_AFTER)
    except RedisError as exc:
        log.warning("redis unavailable, failed sign-in not counted: %s", exc)


def record_success(email: str, source: str) -> None:
    """A correct password: this source's and the account's counts start again."""
    keys = _keys(email, source)
    try:
        redis_connection().delete(*keys.values(), *(key + ":until" for key in keys.values()))
    except RedisError as exc:
        log.warning("redis unavailable, sign-in counts not cleared: %s", exc)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="desk-device")


def device_cookie(email: str, previous: str | None) -> str:
    """The device cookie's value after a sign-in to `email` (the accounts it knows, signed)."""
    known = set(device_accounts(previous)) | {_account(email)}
    return _serializer().dumps(sorted(known)[-20:])


def device_accounts(value: str | None) -> list[str]:
    """The accounts a (signed) device cookie says this browser signed in to."""
    if not value:
        return []
    try:
        accounts = _serializer().loads(value)
    except BadSignature:
        return []
    return [a for a in accounts if isinstance(a, str)] if isinstance(accounts, list) else []


def is_trusted(email: str, cookie: str | None) -> bool:
    """True when this browser has signed in to the account before."""
    return _account(email) in device_accounts(cookie)
