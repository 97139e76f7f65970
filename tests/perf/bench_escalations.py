"""Escalations: crisis detection cost per customer message, and the ladder sweep.

    python tests/perf/bench_escalations.py                         # small, SQLite
    DESK_BENCH_SCALE=large python tests/perf/bench_escalations.py  # larger window and backlog

Budgets (ours, not docs/architecture.md's): the crisis receiver costs < 50 ms p95 for a negative message with `window` dissimilar negative messages already in its 30-minute window; a
ladder sweep over `backlog` open escalations, none due, takes < 50 ms (index, not scan).
"""
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from desk import create_app  # noqa: E402
from desk.core.extensions import db  # noqa: E402
from tests.perf.common import percentile  # noqa: E402

SIZES = {"small": (300, 2_000), "large": (1_500, 20_000)}  # (window, backlog)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
WORDS = ("pedido factura envio tienda app pago tarjeta cuenta web caja talla color precio oferta "
         "cupon descuento repartidor correo telefono chat horario devolucion garantia").split()


def _result(name, samples, budget_ms, size, stat="p95"):
    med, p95, p99 = percentile(samples, 50), percentile(samples, 95), percentile(samples, 99)
    value = {"p95": p95, "median": med}[stat]
    return {"name": name, "n": len(samples), "median_ms": round(med, 2), "p95_ms": round(p95, 2),
            "p99_ms": round(p99, 2), "budget": f"{stat} < {budget_ms} ms", "ok": value < budget_ms,
            "data_size": size}


def run(report) -> None:
    from desk.escalation import crisis
    from desk.escalation.escalations import escalate
    from desk.escalation.rules import ladder_sweep
    from desk.inbox.tickets import Message
    from tests.factories import make_channel, make_customer, make_ticket, minutes
    window, backlog = SIZES[os.environ.get("DESK_BENCH_SCALE", "small")]
    folder = tempfile.mkdtemp(prefix="desk-bench-esc-")
    app = create_app({"TESTING": True, "SECRET_KEY": "bench",
                      "DATABASE_URL": os.environ.get("DESK_BENCH_DATABASE_URL") or f"sqlite:///{folder}/bench.sqlite3",
                      "REDIS_URL": "redis://127.0.0.1:1/0"})
    with app.app_context():
        db.create_all()
        channel, customer = make_channel("instagram"), make_customer(followers=10)
        # Dissimilar negative messages fill the window: each one is compared, none matches.
        for i in range(window):
            a, b, c = WORDS[i % 23], WORDS[(i * 7) % 23], WORDS[(i * 11) % 23]
            make_ticket(f"fatal {a} {i} horrible {b} {c} {i * 13}", channel=channel, customer=customer,
                        kind="comment", sent_at=T0 + minutes(i * 20 / window), now=T0)
        ticket = make_ticket("hola", channel=channel, customer=customer, now=T0)
        samples = []
        for i in range(60):
            # The receiver alone, inside the publisher's flushed transaction (rolled back after):
            # the commit's fsync belongs to ingest, not to crisis detection.
            at = T0 + minutes(20)
            message = Message(ticket=ticket, channel_id=channel.id, direction="in", text=f"pésimo servicio con el pedido {i}, una vergüenza",
                              platform_message_id=f"bench-{i}", sent_at=at, received_at=at)
            db.session.add(message)
            db.session.flush()
            started = time.perf_counter()
            crisis.on_customer_message(ticket, message=message, now=at)
            db.session.flush()
            samples.append((time.perf_counter() - started) * 1000)
            db.session.rollback()
        report.append(_result("crisis detection per negative message", samples, 50.0,
                              f"{window} negative messages in the window"))
        for i in range(backlog):
            escalate(ticket.id if i == 0 else make_ticket("x", channel=channel, customer=customer, now=T0).id,
                     "other", 2, "", T0 + minutes(i % 50), rule="bench")
        ladder_sweep(T0)
        samples = []
        for _ in range(30):
            started = time.perf_counter()
            ladder_sweep(T0)
            samples.append((time.perf_counter() - started) * 1000)
        report.append(_result("ladder sweep, nothing due", samples, 50.0, f"{backlog} open escalations"))


if __name__ == "__main__":
    results = []
    run(results)
    for row in results:
        print(row)
