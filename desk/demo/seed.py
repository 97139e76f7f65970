"""Build the demo desk through the same services the product uses, replayed in time order.

Every ticket arrives through ingest, is answered (or not) through send_reply, is swept by
the SLA sweep at the moments a real scheduler would have run, is resolved, surveyed and
rated, so every page shows figures the desk computed itself.
"""
import heapq
import itertools
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from desk.accounts import users as auth
from desk.channels.accounts import Channel, add_channel
from desk.channels.base import Author, NormalizedMessage
from desk.core.extensions import db
from desk.demo import content
from desk.escalation import escalations, rules
from desk.feedback.activity import ActivityInput, record_events
from desk.feedback.surveys import send_survey
from desk.inbox import actions as ticket_actions
from desk.inbox.outbound import deliver, reply_options
from desk.inbox.tickets import Message, Ticket
from desk.intake.messages import ingest
from desk.replies.library import import_library
from desk.routing.teams import save_team
from desk.replies.usage import suggest_for_ticket
from desk.sla import sweep as sla_sweep

DEMO_PASSWORD = "demo-password"
# Over 90 days, so that retention windows close and the report shows retention.
DEMO_DAYS = 120
# The demo's Meta app secret (`make demo` sets DESK_META_APP_SECRET to it): test messages
# can be signed. Never a production secret.
DEMO_META_SECRET = "demo-meta-app-secret"
USERS = [("admin@desk.demo", "Alex Admin", "admin", "en"),
         ("lead@desk.demo", "Laura Líder", "lead", "es"),
         ("smm@desk.demo", "Marta Social", "smm", "es"),
         ("ana@desk.demo", "Ana García", "cm", "es"),
         ("diego@desk.demo", "Diego Romero", "cm", "es"),
         ("tom@desk.demo", "Tom Baker", "cm", "en")]
CHANNELS = [("facebook", "104500000000001", "Tienda Sol · Facebook", "tiendasol"),
            ("instagram", "17841400000000002", "Tienda Sol · Instagram", "tiendasol"),
            ("whatsapp", "106500000000003", "Tienda Sol · WhatsApp", "+34 600 000 003"),
            ("x", "1450000000000000004", "Tienda Sol · X", "tiendasol")]
# Which kinds arrive on which platform (WhatsApp is DMs only).
KINDS = {"facebook": ["comment", "comment", "dm"], "instagram": ["comment", "dm", "mention"],
         "whatsapp": ["dm"], "x": ["mention", "mention", "dm"]}
# Share of past tickets per first-response outcome.
FALLBACK_REPLY = {
    "es": "Hola, lo sentimos mucho. Te escribimos por privado para solucionarlo hoy mismo.",
    "en": "Hi, we're sorry about this. We'll message you privately to sort it out today."}
EXTRA_LINE = {"es": "¡Gracias por escribirnos!", "en": "Thanks for reaching out!"}
OUTCOMES = [("met", 64), ("late", 16), ("waived", 10), ("breached_open", 2), ("never", 8)]


@dataclass(order=True)
class Step:
    at: datetime
    order: int
    action: str = field(compare=False)
    data: dict = field(compare=False, default_factory=dict)


class DemoDesk:
    """Replays `days` of activity; `run()` returns a summary of what was made."""

    def __init__(self, now: datetime, tickets: int, seed: int = 7, days: int = DEMO_DAYS,
                 progress=None):
        self.now, self.count, self.rng = now, tickets, random.Random(seed)
        self.days, self.progress = days, progress
        self.steps: list[Step] = []
        self.sequence = itertools.count()
        self.ids = itertools.count(1)
        self.summary: dict[str, int] = {}
        self.acknowledging: set[int] = set()

    # --- set-up ------------------------------------------------------------------------
    def run(self) -> dict:
        start = self.now - timedelta(days=self.days)
        self.users = {email: self._user(email, name, role, locale)
                      for email, name, role, locale in USERS}
        self.cms = [u for u in self.users.values() if u.role == "cm"]
        self.lead, self.smm = self.users["lead@desk.demo"], self.users["smm@desk.demo"]
        self.channels = [add_channel(p, a, n, h) for p, a, n, h in CHANNELS]
        self._teams(start)
        library = Path(__file__).with_name("canned-replies.json").read_bytes()
        import_library(library, start, self.users["smm@desk.demo"])
        self.customers = [(name, lang, self._customer_identity(name, lang))
                          for lang, names in content.CUSTOMERS.items() for name in names]
        self._plan(start)
        span, done = (self.now - start).total_seconds(), 0
        while self.steps:
            step = heapq.heappop(self.steps)
            getattr(self, f"_do_{step.action}")(step.at, **step.data)
            done += 1
            if self.progress and done % 25 == 0:
                self.progress(min(1.0, (step.at - start).total_seconds() / span))
        self._deliver_all()
        return self.summary

    def _teams(self, start: datetime) -> None:
        """Two teams, handing out nothing by themselves (mode off): the board and the report
        show them; a lead turns on automatic assignment on /routing."""
        by_platform = {c.platform: c.id for c in self.channels}
        spanish = [u.id for u in self.cms if u.locale == "es"] + [self.lead.id]
        for name, channels, languages, members in (
                ("Atención en español", [], ["es"], spanish),
                ("Mensajería privada", [by_platform["whatsapp"], by_platform["facebook"]], [],
                 [u.id for u in self.cms])):
            save_team(self.lead, start, team_id=None, name=name, channel_ids=channels,
                      languages=languages, mode="off", return_on_offline=True, member_ids=members)

    def _user(self, email, name, role, locale):
        user = auth.create_user(email, name, DEMO_PASSWORD, role, locale=locale)
        user.timezone = "Europe/Madrid"
        db.session.commit()
        return user

    def _customer_identity(self, name: str, lang: str) -> Author:
        handle = name.lower().replace(" ", "_").encode("ascii", "ignore").decode()
        followers = self.rng.choice([40, 120, 300, 800, 2500, 15000, 120000])
        return Author(id=f"c{next(self.ids)}{self.rng.randrange(10**6)}", handle=handle,
                      name=name, followers=followers)

    def _at(self, at: datetime, action: str, **data) -> None:
        if at <= self.now:
            heapq.heappush(self.steps, Step(at, next(self.sequence), action, data))

    # --- the plan -------------------------------------------------------------------
    def _plan(self, start: datetime) -> None:
        span = (self.now - timedelta(hours=3) - start).total_seconds()
        for _ in range(self.count):
            arrived = start + timedelta(seconds=self.rng.random() * span)
            outcome = self._weighted(OUTCOMES)
            self._at(arrived, "arrive", outcome=outcome, text_kind="topic")
        for text in content.RISKY["es"] + content.RISKY["en"]:
            self._at(self.now - timedelta(days=self.rng.uniform(1, 20)), "arrive",
                     outcome="late", text_kind="risky", text=text)
        # Right now: tickets on track, at risk and just breached, and a crisis forming.
        for minutes_ago, outcome in [(5, "open"), (12, "open"), (25, "open"), (38, "open"),
                                     (48, "open"), (53, "open"), (57, "open"), (75, "open"),
                                     (140, "open")]:
            self._at(self.now - timedelta(minutes=minutes_ago), "arrive", outcome=outcome,
                     text_kind="topic")
        for n, text in enumerate(content.CRISIS):
            self._at(self.now - timedelta(minutes=40 - n * 6), "arrive", outcome="open",
                     text_kind="crisis", text=text)

    def _weighted(self, pairs):
        return self.rng.choices([p for p, _ in pairs], weights=[w for _, w in pairs])[0]

    # --- actions --------------------------------------------------------------------
    def _do_arrive(self, at: datetime, outcome: str, text_kind: str, text: str | None = None):
        name, lang, author = self.rng.choice(self.customers)
        if text_kind == "topic":
            topic = self.rng.choice(list(content.MESSAGES[lang]))
            text = self.rng.choice(content.MESSAGES[lang][topic])
        elif text_kind == "crisis":
            lang = "en" if text.startswith("app") else "es"
        channel = self.rng.choice(self.channels)
        kind = self.rng.choice(KINDS[channel.platform])
        ticket = self._ingest(channel, kind, author, text, at)
        if ticket is None:
            return
        self._count(f"tickets {kind}")
        ticket_id = ticket.id
        if outcome in ("met", "late"):
            wait = self.rng.uniform(4, 55) if outcome == "met" else self.rng.uniform(70, 300)
            self._schedule_sweeps(ticket, at, at + timedelta(minutes=wait))
            self._at(at + timedelta(minutes=wait), "reply", ticket_id=ticket_id, lang=lang)
        elif outcome == "waived":
            self._at(at + timedelta(minutes=self.rng.uniform(2, 40)), "waive", ticket_id=ticket_id)
        elif outcome in ("breached_open", "never"):
            self._schedule_sweeps(ticket, at, self.now)
            if outcome == "never":
                self._at(at + timedelta(hours=self.rng.uniform(26, 60)), "waive",
                         ticket_id=ticket_id, reason="conversation_closed")
        else:
            self._schedule_sweeps(ticket, at, self.now)

    def _ingest(self, channel: Channel, kind: str, author: Author, text: str, at: datetime):
        message_id = f"demo-{next(self.ids)}"
        post_text, post_url = self.rng.choice(content.POSTS) if kind == "comment" else (None, None)
        thread = author.id if kind == "dm" else message_id
        message = NormalizedMessage(
            platform=channel.platform, account_id=channel.account_id, kind=kind, direction="in",
            platform_message_id=message_id, thread_key=thread, author=author, text=text,
            sent_at=at, post_url=post_url, post_text=post_text, dedupe_key=message_id)
        ingest(message, at, at)
        db.session.commit()
        return db.session.scalar(select(Ticket).join(Message).where(
            Message.platform_message_id == message_id, Message.channel_id == channel.id))

    def _schedule_sweeps(self, ticket: Ticket, since: datetime, until: datetime) -> None:
        """Sweep when a real 30 s scheduler would have seen the warning and the breach."""
        due = ticket.sla_due_at
        moments = (ticket.sla_warn_at, due, due + timedelta(minutes=31) if due else None)
        for moment in moments:
            if moment and since < moment < until:
                self._at(moment + timedelta(seconds=20), "sweep")

    def _do_sweep(self, at: datetime):
        sla_sweep.sweep(at)
        rules.ladder_sweep(at)
        # Leads and the SMM acknowledge most escalations within minutes, as the ladder expects.
        waiting = db.session.scalars(select(escalations.Escalation).where(
            escalations.Escalation.acknowledged_at.is_(None),
            escalations.Escalation.resolved_at.is_(None))).all()
        for escalation in waiting:
            recent = escalation.created_at > self.now - timedelta(hours=2)  # left for the demo
            if escalation.id not in self.acknowledging and not recent and self.rng.random() < 0.85:
                self.acknowledging.add(escalation.id)
                self._at(escalation.created_at + timedelta(minutes=self.rng.uniform(2, 13)),
                         "acknowledge", escalation_id=escalation.id)

    def _do_acknowledge(self, at: datetime, escalation_id: int):
        escalation = db.session.get(escalations.Escalation, escalation_id)
        escalations.acknowledge(escalation_id, self.lead if escalation.level == 1 else self.smm, at)

    def _do_reply(self, at: datetime, ticket_id: int, lang: str):
        ticket = db.session.get(Ticket, ticket_id)
        if ticket.status == "resolved":
            return
        agent = self._agent_for(lang)
        # The agent takes the top suggestion, as CMs do, and sometimes adds a line of their own.
        _text, suggestions = suggest_for_ticket(ticket, agent, at)
        top = suggestions[0] if suggestions and not suggestions[0].unfilled else None
        text = top.text if top else FALLBACK_REPLY[lang]
        if top and self.rng.random() < 0.2:
            text += " " + EXTRA_LINE[lang]
        visibility = "private" if "private" in reply_options(ticket) and ticket.kind == "dm" else reply_options(ticket)[0]
        ticket_actions.send_reply(ticket_id, agent, text, visibility, at,
                                  last_seen_id=ticket_actions.last_message_id(ticket_id),
                                  canned_reply_id=top.reply.id if top else None)
        self._count("replies")
        if self.rng.random() < 0.12:
            handle = self.rng.choice(self.cms).email.split("@")[0]
            ticket_actions.add_note(ticket_id, agent, self.rng.choice(content.NOTES).format(handle=handle), at)
        if self.rng.random() < 0.85:
            self._at(at + timedelta(minutes=self.rng.uniform(5, 600)), "resolve",
                     ticket_id=ticket_id, agent_id=agent.id)

    def _agent_for(self, lang: str):
        english = [u for u in self.cms if u.locale == "en"]
        return self.rng.choice(english if lang == "en" and english else self.cms)

    def _do_waive(self, at: datetime, ticket_id: int, reason: str | None = None):
        reason = reason or self.rng.choice(["spam", "like_or_emoji", "conversation_closed", "duplicate"])
        ticket_actions.resolve_no_reply(ticket_id, self.rng.choice(self.cms), reason, at)
        self._count("resolved without reply")

    def _do_resolve(self, at: datetime, ticket_id: int, agent_id: int):
        ticket_actions.resolve(ticket_id, db.session.get(auth.User, agent_id), at)
        self._count("resolved")
        for escalation in escalations.for_ticket(ticket_id):
            if escalation.resolved_at is None:
                escalations.resolve(escalation.id, self.smm, "Respondido y resuelto por el equipo.", at)
        self._at(at + timedelta(minutes=10), "survey", ticket_id=ticket_id)

    def _do_survey(self, at: datetime, ticket_id: int):
        survey = send_survey(ticket_id, at)
        if survey is None or survey.state != "sent" or survey.sent_at != at:
            return  # not sent now (a re-resolved ticket keeps its first survey)
        self._count("surveys sent")
        if self.rng.random() < 0.6:
            ticket = db.session.get(Ticket, ticket_id)
            late = ticket.sla_state == "late"
            rating = self.rng.choice([2, 3, 3, 4, 5] if late else [3, 4, 5, 5, 5])
            self._at(at + timedelta(minutes=self.rng.uniform(20, 600)), "rate",
                     ticket_id=ticket_id, rating=rating)
        if self.rng.random() < 0.55:
            self._at(at + timedelta(days=self.rng.uniform(2, 40)), "purchase", ticket_id=ticket_id)

    def _do_rate(self, at: datetime, ticket_id: int, rating: int):
        ticket = db.session.get(Ticket, ticket_id)
        identity = ticket.customer.identities[0]
        author = Author(id=identity.platform_user_id, handle=identity.handle, name=identity.name,
                        followers=identity.followers)
        self._ingest(ticket.channel, "dm", author, content.RATING_TEXT[rating], at)
        self._count("ratings")

    def _do_purchase(self, at: datetime, ticket_id: int):
        ticket = db.session.get(Ticket, ticket_id)
        identity = ticket.customer.identities[0]
        record_events([ActivityInput(kind="purchase", occurred_at=at, source="shop",
                                     external_id=f"order-{next(self.ids)}",
                                     platform=identity.platform,
                                     platform_user_id=identity.platform_user_id)], at)
        self._count("purchases")

    # --- finishing ------------------------------------------------------------------
    def _deliver_all(self) -> None:
        """Deliver (in sandbox mode: record) every released reply, as the worker would."""
        pending = db.session.scalars(select(Message.id).where(
            Message.direction == "out", Message.delivery_state == "pending")).all()
        for message_id in pending:
            deliver(message_id, self.now)
        sla_sweep.sweep(self.now)
        rules.ladder_sweep(self.now)
        for escalation in escalations.queue(1, "open")[:3]:
            escalations.acknowledge(escalation.id, self.lead, self.now)
        self.summary["open tickets"] = db.session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.status != "resolved"))

    def _count(self, what: str) -> None:
        self.summary[what] = self.summary.get(what, 0) + 1


def seed(now: datetime, tickets: int = 600, days: int = DEMO_DAYS, progress=None) -> dict:
    """Fill an empty desk with `days` of demo activity ending at `now` (`progress(share)` is
    told how far it got); returns counts."""
    summary = DemoDesk(now, tickets, days=days, progress=progress).run()
    if progress:
        progress(1.0)
    return summary


def summary_json(counts: dict) -> str:
    return json.dumps(counts, ensure_ascii=False, indent=2)
