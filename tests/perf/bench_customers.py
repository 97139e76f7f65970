"""The customer page and duplicate suggestions: budgets p95 < 100 ms for the page of a
customer with 1,000 tickets in a desk of 1M tickets, and p95 < 50 ms for one customer's
duplicate suggestions among 1M customers (PostgreSQL, --scale large).

    python tests/perf/bench_customers.py                        # small: temporary SQLite
    DESK_BENCH_SCALE=large python tests/perf/bench_customers.py # PostgreSQL, 1M tickets

The desk: N background tickets, each its own customer (so N customers, one identity each,
one message each), with names and handles drawn from a few hundred first and last names (so
every name has many near-twins, as in a real desk), and one regular customer with 1,000
tickets of 3 messages each, surveys and activity. The page is fetched whole through the WSGI
app as a signed-in agent (routing, the session, every query, the template).
"""
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.perf.common import make_database, percentile, start_redis  # noqa: E402

PAGE_BUDGET_MS = 100.0
DUPLICATES_BUDGET_MS = 50.0
REGULAR_TICKETS = 1_000
SAMPLES = 200
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
FIRST = ["Lucía", "Marta", "Javier", "Sofía", "Pablo", "Elena", "Carmen", "Diego", "Laura", "Sergio",
         "Ana", "Pedro", "Nuria", "Raúl", "Irene", "Andrés", "Valentina", "Camila", "Mateo", "Santiago",
         "Isabella", "Martina", "Tomás", "Emilia", "Joaquín", "Renata", "Benjamín", "Julieta", "Agustín",
         "Florencia", "James", "Emily", "Oliver", "Grace", "Noah", "Chloe", "Jack", "Amelia"]
LAST = ["García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Ruiz", "Díaz", "Moreno", "Muñoz",
        "Álvarez", "Romero", "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos", "Gil", "Serrano",
        "Blanco", "Molina", "Castro", "Ortiz", "Rubio", "Marín", "Sanz", "Iglesias", "Medina", "Garrido",
        "Cortés", "Castillo", "Santos", "Lozano", "Guerrero", "Cano", "Prieto", "Méndez", "Cruz", "Calvo",
        "Gallego", "Vidal", "León", "Herrera", "Márquez", "Peña", "Flores", "Cabrera", "Campos", "Vega",
        "Fuentes", "Carrasco", "Diez", "Caballero", "Reyes", "Nieto", "Aguilar", "Pascual", "Santana",
        "Herrero", "Montero", "Lorenzo", "Hidalgo", "Giménez", "Ibáñez", "Ferrer", "Durán", "Smith",
        "Brown", "Taylor", "Wilson", "Evans", "Walker", "Hughes", "Wright", "Hall", "Lewis"]
PLATFORMS = ("instagram", "facebook", "x", "whatsapp")


def _person(rng, i: int) -> tuple[str, str]:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(LAST)}"
    first, last = name.split()[:2]
    handle = rng.choice([f"{first}.{last}{i % 997}", f"{first[0]}{last}_{i % 89}", f"{last}{first}{i}"])
    return name, handle


def populate(db, tickets: int, seed: int = 11) -> tuple[int, list[int]]:
    """The desk described above; (the regular customer's id, sample customer ids)."""
    from sqlalchemy import func, insert, select, text

    from desk.channels.accounts import Channel
    from desk.customers.models import Customer, CustomerIdentity, match_key
    from desk.feedback.activity import ActivityEvent
    from desk.feedback.surveys import Survey
    from desk.inbox.tickets import Message, Ticket
    rng = random.Random(seed)
    channels = [Channel(platform=p, account_id=f"acct-{p}", name=f"Zapatería Sol {p}") for p in PLATFORMS]
    db.session.add_all(channels)
    db.session.commit()
    batch = 20_000
    for start in range(1, tickets + 1, batch):
        ids = range(start, min(start + batch, tickets + 1))
        customers, identities, ticket_rows, messages = [], [], [], []
        for i in ids:
            name, handle = _person(rng, i)
            platform = i % len(PLATFORMS)
            opened = NOW - timedelta(minutes=rng.uniform(1, 60 * 24 * 365))
            customers.append({"id": i, "display_name": name, "name_key": match_key(name), "vip": False,
                              "created_at": opened})
            identities.append({"id": i, "customer_id": i, "platform": PLATFORMS[platform],
                               "platform_user_id": f"u{i}", "handle": handle,
                               "handle_key": match_key(handle), "name": name, "created_at": opened})
            ticket_rows.append({"id": i, "channel_id": channels[platform].id, "customer_id": i,
                                "kind": "dm", "thread_key": f"t{i}", "status": "resolved",
                                "priority": "normal", "subject": "¿Dónde está mi pedido?",
                                "language": "es", "created_at": opened, "updated_at": opened,
                                "resolved_at": opened + timedelta(hours=2), "escalated": False,
                                "sla_state": "met"})
            messages.append({"id": i, "ticket_id": i, "channel_id": channels[platform].id,
                             "direction": "in", "visibility": "private", "customer_id": i,
                             "text": "¿Dónde está mi pedido?", "attachments": [], "sent_at": opened,
                             "received_at": opened, "automatic": False, "delivery_attempts": 0})
        for table, rows in ((Customer.__table__, customers), (CustomerIdentity.__table__, identities),
                            (Ticket.__table__, ticket_rows), (Message.__table__, messages)):
            db.session.execute(insert(table), rows)
        db.session.commit()
    _sync_sequences(db)  # the rows above took explicit ids; the ORM's next ones follow them
    regular = Customer(display_name="Lucía García Pérez", vip=True, email="lucia@example.com")
    regular.identities.append(CustomerIdentity(platform="instagram", platform_user_id="regular",
                                               handle="lucia.garcia", name="Lucía García Pérez"))
    db.session.add(regular)
    db.session.flush()
    next_ticket = tickets + 1
    next_message = tickets + 1
    rows, messages, surveys, activity = [], [], [], []
    for n in range(REGULAR_TICKETS):
        opened = NOW - timedelta(hours=9 * (REGULAR_TICKETS - n))
        channel = channels[n % len(PLATFORMS)]
        rows.append({"id": next_ticket + n, "channel_id": channel.id, "customer_id": regular.id,
                     "kind": "dm", "thread_key": f"r{n}", "status": "resolved" if n < REGULAR_TICKETS - 3 else "open",
                     "priority": "normal", "subject": f"Pedido {n}", "language": "es",
                     "created_at": opened, "updated_at": opened, "escalated": False,
                     "resolved_at": opened + timedelta(hours=1) if n < REGULAR_TICKETS - 3 else None,
                     "sla_state": "met"})
        for m in range(3):
            messages.append({"id": next_message, "ticket_id": next_ticket + n, "channel_id": channel.id,
                             "direction": "in" if m != 1 else "out", "visibility": "private",
                             "customer_id": regular.id if m != 1 else None,
                             "text": f"Mensaje {m} sobre el pedido {n}", "attachments": [],
                             "sent_at": opened + timedelta(minutes=10 * m), "automatic": False,
                             "received_at": opened + timedelta(minutes=10 * m), "delivery_attempts": 0})
            next_message += 1
        if n % 4 == 0:
            surveys.append({"ticket_id": next_ticket + n, "customer_id": regular.id, "language": "es",
                            "state": "answered", "rating": 1 + n % 5, "created_at": opened,
                            "answered_at": opened + timedelta(hours=2)})
        if n % 10 == 0:
            activity.append({"customer_id": regular.id, "kind": "purchase", "source": "shop",
                             "external_id": f"o{n}", "occurred_at": opened + timedelta(days=1),
                             "data": {}, "created_at": opened})
    for table, batch_rows in ((Ticket.__table__, rows), (Message.__table__, messages),
                              (Survey.__table__, surveys), (ActivityEvent.__table__, activity)):
        db.session.execute(insert(table), batch_rows)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        _sync_sequences(db)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    top = db.session.scalar(select(func.max(Customer.id)))
    return regular.id, [rng.randint(1, max(1, top - 1)) for _ in range(SAMPLES)]


def _sync_sequences(db) -> None:
    """PostgreSQL: each table's id sequence moved past the ids inserted explicitly."""
    from sqlalchemy import text
    if db.engine.dialect.name != "postgresql":
        return
    for table in ("customer", "customer_identity", "ticket", "message", "survey", "activity_event"):
        db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"(SELECT coalesce(max(id), 1) FROM {table}))"))
    db.session.commit()


def measure(backend: str, tickets: int) -> list[dict]:
    from desk import create_app
    from desk.accounts.users import create_user
    from desk.core.extensions import db
    from desk.customers.models import Customer
    from desk.people import duplicates
    folder = tempfile.mkdtemp(prefix="bench-customers-")
    redis, redis_url = start_redis(folder)
    url, drop = make_database(backend, folder, "desk_bench_customers")
    try:
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "DATABASE_URL": url,
                          "REDIS_URL": redis_url, "RATELIMIT_STORAGE_URI": "memory://",
                          "WTF_CSRF_ENABLED": False, "PASSWORD_HASH_TIME_COST": 1,
                          "PASSWORD_HASH_MEMORY_KIB": 1024})
        with app.app_context():
            db.create_all()
            started = time.perf_counter()
            regular_id, sample_ids = populate(db, tickets)
            load_s = time.perf_counter() - started
            create_user("cm@bench.test", "CM", "bench-password-1", "cm")
            db.session.remove()
        client = app.test_client()
        client.post("/login", data={"email": "cm@bench.test", "password": "bench-password-1"})
        page = []
        for step in range(SAMPLES + 10):
            t = time.perf_counter()
            response = client.get(f"/customers/{regular_id}")
            if step >= 10:
                page.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, response.status_code
        assert "Lucía García Pérez" in response.text
        suggestions, found = [], 0
        with app.app_context():
            for step, customer_id in enumerate(sample_ids[:10] + sample_ids):
                t = time.perf_counter()
                customer = db.session.get(Customer, customer_id)
                found += len(duplicates.suggestions(customer))
                if step >= 10:
                    suggestions.append((time.perf_counter() - t) * 1000)
                db.session.rollback()
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()
        redis.terminate()
        redis.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
    size = f"{tickets + REGULAR_TICKETS:,} tickets, {tickets + 1:,} customers ({backend})"
    rows = []
    for name, values, budget in (
            (f"customer page, {REGULAR_TICKETS:,} tickets of one customer", page, PAGE_BUDGET_MS),
            ("duplicate suggestions for one customer", suggestions, DUPLICATES_BUDGET_MS)):
        row = {"name": name, "n": len(values), "median_ms": round(percentile(values, 50), 2),
               "p95_ms": round(percentile(values, 95), 2), "p99_ms": round(percentile(values, 99), 2),
               "data_size": size, "budget": f"p95 < {budget:.0f} ms"}
        row["ok"] = row["p95_ms"] < budget
        print(f"   {name}: median {row['median_ms']} ms, p95 {row['p95_ms']} ms "
              f"({size}; loaded in {load_s:.0f} s)", flush=True)
        rows.append(row)
    print(f"   {found / max(1, len(sample_ids) + 10):.1f} suggestions per customer on average", flush=True)
    return rows


def run(report: list) -> None:
    scale = os.environ.get("DESK_BENCH_SCALE", "small")
    if scale == "large":
        backend, tickets = "postgresql", 1_000_000
    else:
        backend = "postgresql" if os.environ.get("DESK_BENCH_DATABASE_URL") else "sqlite"
        tickets = 100_000
    tickets = int(os.environ.get("DESK_BENCH_CUSTOMERS_TICKETS", tickets))
    report.extend(measure(backend, tickets))


if __name__ == "__main__":
    rows: list[dict] = []
    run(rows)
    for r in rows:
        print(r)
