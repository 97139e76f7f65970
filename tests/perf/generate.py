"""Fill a desk database with realistic tickets for benchmarks and demos (bulk inserts).

    python tests/perf/generate.py --tickets 200000            # into DESK_DATABASE_URL
    python tests/perf/generate.py --tickets 1000000 --database-url postgresql+psycopg://desk:desk@127.0.0.1/bench

Appends to what is there (ids continue), so a benchmark can grow a table step by step.
Distributions: platforms and kinds as a Spanish retail brand sees them, 65 % Spanish,
most tickets resolved long ago, a recent open backlog with every SLA state, 1-4 messages
per ticket, a few agents, repeat customers, tags on a third of the tickets.
"""
import argparse
import os
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from sqlalchemy import func, insert, select, text  # noqa: E402
from tqdm import tqdm  # noqa: E402

from desk.accounts.users import User, create_user  # noqa: E402
from desk.channels.accounts import Channel  # noqa: E402
from desk.core.extensions import db  # noqa: E402
from desk.customers.models import Customer, CustomerIdentity  # noqa: E402
from desk.inbox.tickets import Message, Tag, Ticket, ticket_tags  # noqa: E402

PLATFORMS = [("instagram", .35, ("comment", "dm", "mention")), ("facebook", .25, ("comment", "dm")),
             ("x", .15, ("mention", "dm")), ("whatsapp", .15, ("dm",)), ("tiktok", .05, ("comment",)),
             ("youtube", .03, ("comment",)), ("email", .02, ("dm",))]
FIRST = ["Lucía", "Marta", "Javier", "Sofía", "Pablo", "Elena", "Carmen", "Diego", "Laura", "Sergio",
         "Ana", "Pedro", "Nuria", "Raúl", "Irene", "James", "Emily", "Oliver", "Grace", "Noah", "Chloe"]
LAST = ["García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Ruiz", "Díaz", "Moreno", "Muñoz",
        "Álvarez", "Romero", "Navarro", "Smith", "Brown", "Taylor", "Wilson", "Evans", "Walker"]
ES = ["¿Dónde está mi pedido {n}? Hace {d} días que lo pedí", "Quiero devolver las {p}, ¿cómo lo hago?",
      "¿Tenéis las {p} en la talla {s}?", "Me ha llegado el pedido {n} roto 😡", "Gracias!! me encantan las {p} 😍",
      "El código de descuento no funciona en la web", "¿Hacéis envíos a Canarias?", "Quiero cancelar mi pedido {n}",
      "Llevo {d} días esperando el reembolso", "¿Cuándo vuelven a tener las {p}?"]
EN = ["Where is my order {n}? I ordered {d} days ago", "How do I return the {p}?", "Do you have the {p} in size {s}?",
      "My order {n} arrived damaged", "Love the new {p}! 😍", "The discount code doesn't work",
      "Do you ship to Ireland?", "Please cancel order {n}", "Still waiting for my refund after {d} days"]
REPLIES_ES = ["¡Hola! Lo revisamos ahora mismo y te escribimos por DM.", "Gracias por escribirnos, ¿nos pasas el número de pedido?",
              "Sentimos las molestias, ya hemos abierto la incidencia."]
REPLIES_EN = ["Hi! We're checking right now and will DM you.", "Thanks for reaching out, could you share your order number?"]
PRODUCTS = ["botas marrones", "zapatillas blancas", "sandalias", "mocasines", "botines negros", "deportivas"]
TAGS = ["envío", "devolución", "reembolso", "talla", "queja", "elogio", "descuento", "stock", "pedido roto", "canarias"]


def _pick(rng, weighted):
    r, total = rng.random(), 0.0
    for item in weighted:
        total += item[1]
        if r <= total:
            return item
    return weighted[-1]


def _next_id(model) -> int:
    return (db.session.scalar(select(func.max(model.id))) or 0) + 1


def _setup(rng):
    """Channels, tags and agents: made once, reused by later runs."""
    channels = db.session.scalars(select(Channel)).all()
    if not channels:
        for platform, _w, _k in PLATFORMS:
            db.session.add(Channel(platform=platform, account_id=f"bench-{platform}", name=f"Zapatería Sol {platform}"))
        for name in TAGS:
            db.session.add(Tag(name=name))
        db.session.commit()
        for i, role in enumerate(["cm", "cm", "cm", "cm", "lead", "smm"]):
            create_user(f"agent{i}@bench.test", f"{rng.choice(FIRST)} {rng.choice(LAST)}", "bench-password-1", role)
        channels = db.session.scalars(select(Channel)).all()
    return ({c.platform: c.id for c in channels},
            db.session.scalars(select(Tag.id)).all(),
            db.session.scalars(select(User.id).where(User.role.in_(("cm", "lead")))).all())


def generate(n_tickets: int, seed: int = 1, now: datetime | None = None, batch: int = 5_000,
             progress: bool = True) -> int:
    """Insert `n_tickets` tickets (with customers and messages) in the app's database."""
    rng = random.Random(seed + _next_id(Ticket))
    now = now or datetime.now(timezone.utc)
    channels, tag_ids, agents = _setup(rng)
    ids = {m: _next_id(m) for m in (Ticket, Message, Customer, CustomerIdentity)}
    customers: list[tuple[int, str, str]] = []  # (id, name, language) for repeat contacts
    bar = tqdm(total=n_tickets, unit="tickets", disable=not progress)
    done = 0
    while done < n_tickets:
        size = min(batch, n_tickets - done)
        rows = {"customer": [], "identity": [], "ticket": [], "message": [], "tags": []}
        for _ in range(size):
            _ticket_rows(rng, now, channels, tag_ids, agents, ids, customers, rows)
        for table, key in ((Customer.__table__, "customer"), (CustomerIdentity.__table__, "identity"),
                           (Ticket.__table__, "ticket"), (Message.__table__, "message"), (ticket_tags, "tags")):
            if rows[key]:
                db.session.execute(insert(table), rows[key])
        db.session.commit()
        done += size
        bar.update(size)
    bar.close()
    _fix_sequences()
    return n_tickets


def _ticket_rows(rng, now, channels, tag_ids, agents, ids, customers, rows) -> None:
    platform, _w, kinds = _pick(rng, PLATFORMS)
    kind = rng.choice(kinds)
    if customers and rng.random() < 0.3:
        customer_id, name, language = rng.choice(customers)
    else:
        customer_id = ids[Customer]
        ids[Customer] += 1
        name, language = f"{rng.choice(FIRST)} {rng.choice(LAST)}", "es" if rng.random() < .65 else "en"
        followers = int(rng.lognormvariate(5, 2))
        rows["customer"].append({"id": customer_id, "display_name": name, "language": language,
                                 "vip": rng.random() < .01, "followers": followers, "created_at": now})
        rows["identity"].append({"id": ids[CustomerIdentity], "customer_id": customer_id, "platform": platform,
                                 "platform_user_id": f"u{customer_id}", "handle": name.split()[0].lower() + str(customer_id),
                                 "name": name, "followers": followers, "created_at": now})
        ids[CustomerIdentity] += 1
        if len(customers) < 50_000:
            customers.append((customer_id, name, language))
    # Most tickets are old and resolved; the open backlog is the last three days.
    status = rng.choices(["resolved", "open", "pending"], [85, 11, 4])[0]
    age = timedelta(minutes=rng.uniform(0, 3 * 24 * 60) if status != "resolved" else rng.uniform(60, 180 * 24 * 60))
    created = now - age
    ticket_id = ids[Ticket]
    ids[Ticket] += 1
    words = {"n": rng.randint(10_000, 99_999), "d": rng.randint(2, 20), "p": rng.choice(PRODUCTS), "s": rng.randint(35, 46)}
    first_text = rng.choice(ES if language == "es" else EN).format(**words)
    due = created + timedelta(minutes=60)
    n_messages = rng.choices([1, 2, 3, 4], [35, 35, 20, 10])[0]
    replied = status == "resolved" or status == "pending" or (n_messages > 1 and rng.random() < .5)
    reply_at = created + timedelta(minutes=rng.lognormvariate(3.3, 0.8)) if replied else None
    if status == "resolved" and rng.random() < .08:
        sla_state, replied, reply_at = "waived", False, None
    elif replied:
        sla_state = "met" if reply_at <= due else "late"
    else:
        sla_state = "breached" if now >= due else "at_risk" if now >= due - timedelta(minutes=15) else "on_track"
    times = [created]
    for i in range(1, n_messages if replied else 1):
        times.append((reply_at if i == 1 else times[-1] + timedelta(minutes=rng.uniform(2, 120))))
    times = [min(t, now) for t in times]
    for i, at in enumerate(times):
        out = i % 2 == 1
        text_ = rng.choice(REPLIES_ES if language == "es" else REPLIES_EN) if out else (
            first_text if i == 0 else rng.choice(ES if language == "es" else EN).format(**words))
        rows["message"].append({
            "id": ids[Message], "ticket_id": ticket_id, "channel_id": channels[platform], "direction": "out" if out else "in",
            "visibility": "private" if kind == "dm" else "public", "platform_message_id": None if out else f"pm{ids[Message]}",
            "customer_id": None if out else customer_id, "author_id": rng.choice(agents) if out else None,
            "text": text_, "attachments": [], "sent_at": at, "received_at": at, "automatic": False,
            "delivery_state": "delivered" if out else None, "delivery_attempts": 1 if out else 0})
        ids[Message] += 1
    last_in = max((t for i, t in enumerate(times) if i % 2 == 0), default=created)
    rows["ticket"].append({
        "id": ticket_id, "channel_id": channels[platform], "customer_id": customer_id, "kind": kind,
        "thread_key": f"bench-{ticket_id}", "status": status,
        "priority": rng.choices(["normal", "high", "low", "urgent"], [80, 12, 5, 3])[0],
        "language": language, "subject": first_text[:200],
        "assignee_id": rng.choice(agents) if status == "resolved" or rng.random() < .7 else None,
        "created_at": created, "updated_at": times[-1], "last_message_at": times[-1],
        "last_customer_message_at": last_in,
        "resolved_at": times[-1] + timedelta(minutes=5) if status == "resolved" else None,
        "resolution": ("no_reply_needed" if sla_state == "waived" else "replied") if status == "resolved" else None,
        "escalated": rng.random() < .02, "first_response_started_at": created, "first_response_due_at": due,
        "first_response_at": reply_at, "sla_state": sla_state, "sla_due_at": due,
        "sla_warn_at": due - timedelta(minutes=15)})
    if rng.random() < .33:
        for tag_id in rng.sample(tag_ids, rng.randint(1, 2)):
            rows["tags"].append({"ticket_id": ticket_id, "tag_id": tag_id})


def _fix_sequences() -> None:
    """Explicit ids leave PostgreSQL sequences behind: move them past the data; refresh stats."""
    if db.engine.dialect.name != "postgresql":
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        return
    for table in ("ticket", "message", "customer", "customer_identity"):
        db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"COALESCE((SELECT max(id) FROM {table}), 1))"))
    db.session.commit()
    # What autovacuum would do on a live server: statistics, and the full-text indexes'
    # pending lists flushed (a bulk load leaves them long, which slows every search).
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("DESK_DATABASE_URL"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from desk import create_app
    app = create_app({"DATABASE_URL": args.database_url, "SECRET_KEY": os.environ.get("DESK_SECRET_KEY", "generate")})
    with app.app_context():
        db.create_all()
        generate(args.tickets, seed=args.seed)
        print(f"{db.session.scalar(select(func.count(Ticket.id)))} tickets in {db.engine.url.render_as_string()}")


if __name__ == "__main__":
    main()
