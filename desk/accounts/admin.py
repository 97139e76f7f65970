"""What admins change about other people's accounts: roles and deactivation, each audited."""
from datetime import datetime

from desk.accounts import audit, sessions
from desk.accounts.users import ROLES, User
from desk.core.errors import DeskError, NotFound
from desk.core.extensions import db


class SelfDeactivation(DeskError):
    """An admin tried to deactivate their own account (they would lock themselves out)."""


def change_role(user_id: int, role: str, actor_id: int, now: datetime,
                by: audit.Actor | None = None) -> User:
    """Give a user another role; audited when it changes (`by`: from where). Commits."""
    user = _user(user_id)
    if role not in ROLES:
        raise DeskError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if user.role != role:
        audit.record("user.role_changed", user_id=actor_id, at=now, by=by,
                     object_type="user", object_id=user.id,
                     data={"user_id": user.id, "name": user.name, "from": user.role, "to": role})
        user.role = role
    db.session.commit()
    return user


def edit_user(user_id: int, *, name: str, role: str, locale: str | None, timezone: str,
              actor_id: int, now: datetime, by: audit.Actor | None = None) -> User:
    """Change a user's name, role, language and time zone; the changed fields are audited
    (from and to). Commits."""
    user = _user(user_id)
    if role not in ROLES:
        raise DeskError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if not name.strip():
        raise DeskError("a user needs a name")
    wanted = {"name": name.strip(), "role": role, "locale": locale or None, "timezone": timezone}
    changed = {field: {"from": getattr(user, field), "to": value}
               for field, value in wanted.items() if getattr(user, field) != value}
    if changed:
        for field, change in changed.items():
            setattr(user, field, change["to"])
        audit.record("user.edited", user_id=actor_id, at=now, by=by, object_type="user",
                     object_id=user.id,
                     data={"user_id": user.id, "name": user.name, "changes": changed})
    db.session.commit()
    return user


def set_active(user_id: int, active: bool, actor_id: int, now: datetime,
               by: audit.Actor | None = None) -> User:
    """Deactivate (signed out everywhere at once) or reactivate a user; audited. Commits."""
    user = _user(user_id)
    if user.id == actor_id and not active:
        raise SelfDeactivation("You cannot deactivate yourself.")
    if user.active != active:
        user.active = active
        sessions.end_sessions(user.id, now)  # signed out everywhere at once
        audit.record("user.activated" if active else "user.deactivated", user_id=actor_id,
                     at=now, by=by, object_type="user", object_id=user.id,
                     data={"user_id": user.id, "name": user.name})
    db.session.commit()
    return user


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user
