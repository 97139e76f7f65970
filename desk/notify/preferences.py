"""What reaches each person: per topic, in the app and by e-mail (Preferences). Everything is
on until the person turns it off; kinds outside the topics (none today) always arrive."""
from sqlalchemy import select

from desk.accounts import audit
from desk.accounts.audit import Actor
from desk.accounts.users import User
from desk.core.errors import DeskError
from desk.core.extensions import db

# topic -> (the notification kinds it covers, the ways a person may choose)
TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sla": (("sla_warning", "sla_breach"), ("app", "mail")),
    "escalation": (("escalation",), ("app", "mail")),
    "approval": (("approval",), ("app",)),
    "mention": (("mention",), ("app",)),
    "channels": (("channel_failing", "token_expiring"), ("app",)),
    # The in-app entry is the record that the week's report was sent: only the mail is a choice.
    "weekly_report": (("weekly_report",), ("mail",)),
}
# Topics that reach only some roles (the rest reach everyone): offered only to them.
FROM_ROLE = {"channels": "lead", "weekly_report": "smm"}
_TOPIC_OF = {kind: topic for topic, (kinds, _ways) in TOPICS.items() for kind in kinds}


def topic_of(kind: str) -> str | None:
    return _TOPIC_OF.get(kind)


def wants(prefs: dict | None, kind: str, way: str) -> bool:
    """Whether a person with these stored choices takes `kind` notifications `way`."""
    topic = _TOPIC_OF.get(kind)
    if topic is None or way not in TOPICS[topic][1]:
        return True
    return bool(((prefs or {}).get(topic) or {}).get(way, True))


def muted(user_ids, kind: str, way: str) -> set[int]:
    """Which of `user_ids` turned `kind` off for `way`."""
    ids = set(user_ids)
    if not ids or topic_of(kind) is None:
        return set()
    rows = db.session.execute(select(User.id, User.notification_prefs).where(User.id.in_(ids)))
    return {uid for uid, prefs in rows if not wants(prefs, kind, way)}


def choices(user: User) -> dict[str, dict[str, bool]]:
    """topic -> way -> on, for the topics that reach the person's role (Preferences form)."""
    stored = user.notification_prefs or {}
    return {topic: {way: bool((stored.get(topic) or {}).get(way, True)) for way in ways}
            for topic, (_kinds, ways) in TOPICS.items()
            if user.has_role(FROM_ROLE.get(topic, "cm"))}


def set_choices(user_id: int, on: set[tuple[str, str]], *, by: Actor, now) -> list[str]:
    """Store the person's choices: `on` holds the (topic, way) pairs they keep; every other
    pair offered to them is off (topics not offered keep their value). Returns the topics
    that changed; audited; commits."""
    user = db.session.get(User, user_id)
    before = choices(user)
    unknown = sorted(f"{topic}.{way}" for topic, way in on if way not in before.get(topic, {}))
    if unknown:
        raise DeskError("unknown notification choice: " + ", ".join(unknown)[:200])
    after = {topic: {way: (topic, way) in on for way in ways} for topic, ways in before.items()}
    changed = sorted(topic for topic in before if before[topic] != after[topic])
    if changed:
        user.notification_prefs = {**(user.notification_prefs or {}), **after}
        audit.record("user.notifications_changed", object_type="user", object_id=user.id,
                     data={"changed": changed}, at=now, by=by)
    db.session.commit()
    return changed
