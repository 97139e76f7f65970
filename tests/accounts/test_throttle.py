"""Sign-in throttling: guessing slows down per account and source, and across sources for
unknown browsers, while the person's own browser still gets in."""
from flask import request

from desk import create_app
from desk.accounts import throttle
from tests.conftest import PASSWORD, app_config

T0 = 1_900_000_000.0  # any instant: the throttle compares the times it is given


def test_a_source_waits_twice_as_long_after_each_failure_past_five(app_ctx):
    email, source = "ana@desk.test", "198.51.100.1"
    waits = []
    for failure in range(9):
        waits.append(throttle.wait_seconds(email, source, True, T0 + failure * 1000))
        throttle.record_failure(email, source, True, T0 + failure * 1000)
    assert waits == [0] * 9  # each try came after the previous wait was over
    assert throttle.wait_seconds(email, source, True, T0 + 8000) == 17  # 2 ** (9 - 5), + 1
    assert throttle.wait_seconds(email, source, True, T0 + 8000 + 15.5) == 1
    assert throttle.wait_seconds(email, source, True, T0 + 8000 + 16) == 0
    assert throttle.wait_seconds(email, "198.51.100.2", True, T0 + 8000) == 0  # another source
    throttle.record_success(email, source)
    assert throttle.wait_seconds(email, source, True, T0 + 8000) == 0


def test_the_longest_wait_is_a_quarter_of_an_hour(app_ctx):
    for failure in range(30):
        throttle.record_failure("ana@desk.test", "198.51.100.1", True, T0)
    assert throttle.wait_seconds("ana@desk.test", "198.51.100.1", True, T0) == 901


def _sign_in(client, email, password, address):
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_a_stranger_guessing_from_many_addresses_cannot_keep_the_owner_out(app, client, make_user):
    user = make_user("cm")
    owner = app.test_client()
    assert _sign_in(owner, user.email, PASSWORD, "192.0.2.10").status_code == 302  # device cookie
    owner.post("/logout")
    stranger = app.test_client()
    codes = [_sign_in(stranger, user.email, "guess", "203.0.113.1").status_code for _ in range(7)]
    assert codes == [401] * 6 + [429]  # five free tries, a sixth, then a wait
    answer = _sign_in(stranger, user.email, PASSWORD, "203.0.113.1")
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) >= 1  # even right
    # A botnet: one guess from each of 15 more addresses. The account's 21st failure from
    # browsers it has never seen sets a wait for all of them.
    for address in range(2, 17):
        assert _sign_in(stranger, user.email, "guess", f"203.0.113.{address}").status_code == 401
    # New browsers now wait for this account wherever they are...
    assert _sign_in(app.test_client(), user.email, PASSWORD, "192.0.2.77").status_code == 429
    # ...but the owner's own browser, which signed in here before, gets in.
    assert _sign_in(owner, user.email, PASSWORD, "192.0.2.10").status_code == 302


def test_a_forged_device_cookie_trusts_nothing(app, make_user):
    user = make_user("cm")
    with app.test_request_context():
        assert not throttle.is_trusted(user.email, "WyJmb3JnZWQiXQ.forged")
        real = throttle.device_cookie(user.email, None)
        assert throttle.is_trusted(user.email.upper(), real)
        assert not throttle.is_trusted("other@desk.test", real)



def test_behind_a_trusted_proxy_each_client_address_is_its_own_source(redis_server, database_url):
    """With DESK_PROXY_COUNT=1 the address is the proxy's last X-Forwarded-For hop, so sign-in
    throttling counts clients, not the proxy; a hop the client forged in front is ignored."""
    behind = create_app({**app_config(database_url, redis_server), "PROXY_COUNT": 1})
    seen = []
    behind.add_url_rule("/_address", "address", lambda: seen.append(request.remote_addr) or "")
    client = behind.test_client()
    for forwarded in ("198.51.100.7", "6.6.6.6, 198.51.100.8"):
        client.get("/_address", headers={"X-Forwarded-For": forwarded},
                   environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert seen == ["198.51.100.7", "198.51.100.8"]
