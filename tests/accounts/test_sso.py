"""Single sign-on with OpenID Connect against a provider on loopback (tests/fakeoidc.py):
real discovery, code exchange, RS256 signatures and Authlib's ID-token checks."""
import pytest
import requests
from sqlalchemy import func, select

from desk import create_app
from desk.accounts import twofactor
from desk.accounts.audit import AuditEvent
from desk.accounts.sessions import UserSession
from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from tests.conftest import DeskClient, app_config
from tests.fakeoidc import FakeOidcProvider

SETTINGS = {"OIDC_CLIENT_ID": "desk-client", "OIDC_CLIENT_SECRET": "desk-secret",
            "OIDC_LABEL": "Keycloak", "OIDC_ROLES_CLAIM": "groups",
            "OIDC_ROLE_MAP": "desk-admins=admin,desk-leads=lead,desk-cms=cm",
            "OIDC_CREATE_USERS": True, "OIDC_DEFAULT_ROLE": "", "OIDC_ALLOWED_DOMAINS": ""}


@pytest.fixture
def provider():
    running = FakeOidcProvider("desk-client", "desk-secret")
    yield running
    running.stop()


@pytest.fixture
def sso_app(app, provider, database_url, redis_server):
    """The desk with single sign-on against `provider`, on the session's database."""
    def make(**overrides):
        configured = create_app({**app_config(database_url, redis_server), **SETTINGS,
                                 "OIDC_ISSUER": provider.issuer, **overrides})
        configured.test_client_class = DeskClient
        return configured
    return make


def sso_sign_in(client, provider):
    """Start at the desk, follow the provider's redirect back, as a browser would."""
    start = client.get("/login/sso")
    assert start.status_code == 302 and start.location.startswith(f"{provider.issuer}/authorize")
    back = requests.get(start.location, allow_redirects=False, timeout=5)
    assert back.status_code == 302
    return client.get(back.headers["Location"].removeprefix("http://desk.test"))


def person(email="ana@corp.test", sub="kc-1", groups=("desk-cms",), **extra):
    return {"sub": sub, "email": email, "email_verified": True, "name": "Ana Corp",
            "groups": list(groups), **extra}


def test_an_invited_person_signs_in_and_their_group_sets_the_role(app, sso_app, provider,
                                                                    make_user):
    ana = make_user("cm", email="ana@corp.test")
    client = sso_app().test_client()
    provider.person = person(groups=["desk-leads", "other"])
    answer = sso_sign_in(client, provider)
    assert answer.status_code == 302 and answer.location == "/"
    assert client.get("/board").status_code == 200  # a lead now
    with app.app_context():
        user = db.session.get(User, ana.id)
        assert user.role == "lead" and user.sso_subject == f"{provider.issuer}|kc-1"
        assert db.session.scalar(select(UserSession.method)) == "sso"
        assert db.session.scalar(select(AuditEvent.data).where(
            AuditEvent.action == "user.role_from_sso")) == {"user_id": ana.id, "from": "cm", "to": "lead"}
    # Linked by subject: a changed address at the provider still finds the same person.
    provider.person = person(email="ana.garcia@corp.test", groups=["desk-leads"])
    other = sso_app().test_client()
    assert sso_sign_in(other, provider).location == "/"
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 1


def test_people_are_created_only_when_the_settings_say_so(app, sso_app, provider):
    provider.person = person(email="new@corp.test", groups=["desk-admins"])
    refused = sso_sign_in(sso_app(OIDC_CREATE_USERS=False).test_client(), provider)
    assert "/login" in refused.location
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 0
    client = sso_app().test_client()
    assert sso_sign_in(client, provider).location == "/"
    with app.app_context():
        created = db.session.scalar(select(User))
        assert (created.email, created.role, created.has_password) == ("new@corp.test", "admin", False)
    # Nobody whose groups map to no role is created without a default role.
    provider.person = person(email="guest@corp.test", sub="kc-9", groups=["visitors"])
    assert "/login" in sso_sign_in(sso_app().test_client(), provider).location


@pytest.mark.parametrize("claims,settings", [
    ({"email_verified": False}, {}),
    ({"email_verified": None}, {}),  # not said, and no domain trusted to vouch for it
    ({"email": "ana@elsewhere.test"}, {"OIDC_ALLOWED_DOMAINS": "corp.test"}),
])
def test_unverified_or_foreign_addresses_do_not_get_in(app, sso_app, provider, make_user,
                                                       claims, settings):
    make_user("admin", email="ana@corp.test")
    if claims.get("email"):
        make_user("cm", email=claims["email"])
    provider.person = {k: v for k, v in {**person(groups=[]), **claims}.items() if v is not None}
    client = sso_app(**settings).test_client()
    answer = sso_sign_in(client, provider)
    assert "/login" in answer.location
    assert client.get("/preferences").status_code == 302


def test_a_deactivated_person_cannot_sign_on(app, sso_app, provider, make_user):
    user = make_user("cm", email="ana@corp.test")
    with app.app_context():
        db.session.get(User, user.id).active = False
        db.session.commit()
    provider.person = person()
    client = sso_app().test_client()
    assert "/login" in sso_sign_in(client, provider).location
    assert client.get("/preferences").status_code == 302


@pytest.mark.parametrize("tamper", ["nonce", "audience", "signature", "expired", "issuer"])
def test_a_forged_or_stale_id_token_signs_nobody_in(app, sso_app, provider, make_user, tamper):
    make_user("admin", email="ana@corp.test")
    provider.person, provider.tamper = person(), {tamper}
    client = sso_app().test_client()
    answer = sso_sign_in(client, provider)
    assert answer.status_code == 302 and "/login" in answer.location
    assert client.get("/preferences").status_code == 302


def test_a_callback_with_another_browsers_state_is_refused(app, sso_app, provider, make_user):
    make_user("cm", email="ana@corp.test")
    provider.person = person()
    desk = sso_app()
    victim, attacker = desk.test_client(), desk.test_client()
    start = attacker.get("/login/sso")
    back = requests.get(start.location, allow_redirects=False, timeout=5)
    # Login CSRF: the attacker's code and state, in the victim's browser.
    answer = victim.get(back.headers["Location"].removeprefix("http://desk.test"))
    assert "/login" in answer.location and victim.get("/preferences").status_code == 302


def test_the_providers_second_factor_stands_in_for_the_desks(app, sso_app, provider, make_user):
    admin = make_user("admin", email="ana@corp.test")
    with app.app_context():
        twofactor.set_required_roles(["admin"], admin.id, clock_now())
    provider.person = person(groups=["desk-admins"])
    client = sso_app().test_client()
    sso_sign_in(client, provider)
    assert client.get("/admin/users").status_code == 200  # not sent to set up TOTP


def test_the_sign_in_page_offers_single_sign_on_only_when_configured(client, sso_app):
    assert b"sso-link" not in client.get("/login").data
    assert client.get("/login/sso").status_code == 404
    page = sso_app().test_client().get("/login").get_data(as_text=True)
    assert 'id="sso-link"' in page and "Sign in with Keycloak" in page


def test_an_unreachable_provider_is_a_message_not_an_error(app, sso_app, provider):
    desk = sso_app(OIDC_ISSUER="http://127.0.0.1:9/none")
    answer = desk.test_client().get("/login/sso", follow_redirects=True)
    assert answer.status_code == 200 and "Single sign-on is not answering" in answer.get_data(as_text=True)
