"""Single sign-on with OpenID Connect: who the identity provider's verified claims are here.

The protocol (discovery, the authorization code flow, the ID token's signature, issuer,
audience, expiry and nonce) is Authlib's, in the view layer; this module only decides, from
claims already verified, which user signs in and with which role. A person is matched by
their provider subject once linked, else by a verified e-mail; a claim (groups or roles)
can set the role on every sign-in; new people are created only when the settings say so.
"""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from desk.accounts import audit
from desk.accounts.users import ROLES, User, desk_timezone, normalize_email
from desk.core.errors import DeskError
from desk.core.extensions import db


class SsoRefused(DeskError):
    """The provider vouched for someone the desk will not sign in; the reason says why."""


@dataclass(frozen=True)
class SsoSettings:
    issuer: str
    roles_claim: str = "groups"
    role_map: dict[str, str] | None = None  # claim value -> role
    create_users: bool = False
    default_role: str | None = None  # for new people no claim value maps
    allowed_domains: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config) -> "SsoSettings":
        """Settings from DESK_OIDC_*; DeskError on a role map naming an unknown role."""
        pairs = [item.split("=", 1) for item in config.get("OIDC_ROLE_MAP", "").split(",")
                 if "=" in item]
        role_map = {value.strip(): role.strip() for value, role in pairs}
        default_role = config.get("OIDC_DEFAULT_ROLE") or None
        for role in [*role_map.values(), default_role]:
            if role is not None and role not in ROLES:
                raise DeskError(f"DESK_OIDC_ROLE_MAP or DESK_OIDC_DEFAULT_ROLE: unknown role {role!r}")
        return cls(issuer=config["OIDC_ISSUER"], roles_claim=config.get("OIDC_ROLES_CLAIM", "groups"),
                   role_map=role_map, create_users=bool(config.get("OIDC_CREATE_USERS")),
                   default_role=default_role,
                   allowed_domains=tuple(d.strip().lower() for d in
                                         config.get("OIDC_ALLOWED_DOMAINS", "").split(",") if d.strip()))


def mapped_role(claims: dict, settings: SsoSettings) -> str | None:
    """The highest role the claim's values map to, or None when none does."""
    values = claims.get(settings.roles_claim) or []
    if isinstance(values, str):
        values = [values]
    roles = [settings.role_map[str(v)] for v in values if str(v) in (settings.role_map or {})]
    return max(roles, key=ROLES.index) if roles else None


def user_for_claims(claims: dict, settings: SsoSettings, now: datetime) -> User:
    """The active user these verified claims are, created or updated as the settings say;
    role changes and new accounts audited. Commits. SsoRefused when nobody may sign in."""
    subject = f"{settings.issuer}|{claims.get('sub', '')}"
    email = normalize_email(claims.get("email") or "")
    domain = email.rpartition("@")[2]
    if settings.allowed_domains and domain not in settings.allowed_domains:
        raise SsoRefused(f"the e-mail domain {domain or '(none)'} is not allowed")
    # An unverified address must not take over the account that owns it. Providers that do
    # not send email_verified (Microsoft Entra ID) are trusted for their allowed domains only.
    verified = claims.get("email_verified")
    if verified is False or verified in ("false", "False") or (
            verified is None and not settings.allowed_domains):
        raise SsoRefused("the provider has not verified this e-mail address")
    user = db.session.scalar(select(User).where(User.sso_subject == subject))
    if user is None and email:
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None and user.sso_subject not in (None, subject):
            raise SsoRefused("this account is linked to another identity")
    role = mapped_role(claims, settings)
    if user is None:
        role = role or settings.default_role
        if not settings.create_users or role is None or not email:
            raise SsoRefused("no account here for this person")
        user = User(email=email, name=(claims.get("name") or email.split("@")[0])[:120],
                    role=role, password_hash="!", created_at=now,
                    locale=_locale(claims), timezone=desk_timezone())
        db.session.add(user)
        db.session.flush()
        audit.record("user.created_by_sso", at=now, actor="system", object_type="user",
                     object_id=user.id, data={"user_id": user.id, "email": email, "role": role})
    if not user.active:
        raise SsoRefused("this account is deactivated")
    user.sso_subject = subject
    if role is not None and role != user.role:
        audit.record("user.role_from_sso", at=now, actor="system", object_type="user",
                     object_id=user.id, data={"user_id": user.id, "from": user.role, "to": role})
        user.role = role
    db.session.commit()
    return user


def _locale(claims: dict) -> str | None:
    language = str(claims.get("locale") or "")[:2].lower()
    return language if language in ("en", "es") else None
