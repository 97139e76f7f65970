"""Inbox list fragment: budget p95 < 50 ms with 1M tickets, and no growth with table size.

    python tests/perf/bench_inbox.py                         # small: 2k then 20k tickets, SQLite
    DESK_BENCH_SCALE=large python tests/perf/bench_inbox.py  # 20k then 200k (SQLite)
    DESK_BENCH_SCALE=large DESK_BENCH_DATABASE_URL=postgresql+psycopg://desk:desk@127.0.0.1/desk_bench \\
        python tests/perf/bench_inbox.py                     # 100k then 1M (PostgreSQL)

The same database is grown from the first size to the second (tests/perf/generate.py), and
each size times, through the Flask test client as a signed-in agent: the default view, a
filtered search (a common word), a rare word, a middling word, page 20 reached by cursor,
and an unchanged poll. DESK_BENCH_INBOX_SIZES=a,b overrides the sizes. A given database must
be a scratch one: tickets are added to it. A scratch SQLite file of its own is removed after.
"""
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from sqlalchemy import func, select  # noqa: E402

from desk import create_app  # noqa: E402
from desk.core.extensions import db  # noqa: E402
from desk.inbox.tickets import Ticket  # noqa: E402
from tests.perf.common import percentile  # noqa: E402
from tests.perf.generate import generate  # noqa: E402

BUDGET_MS = 50.0
SIZES = {("small", "sqlite"): (2_000, 20_000), ("large", "sqlite"): (20_000, 200_000),
         ("small", "postgresql"): (10_000, 100_000), ("large", "postgresql"): (100_000, 1_000_000)}


def _time(client, url, n, expect=(200,)):
    """Wall-clock samples, and this process's CPU per request (less sensitive to a busy box)."""
    samples, cpu = [], []
    for i in range(n + 5):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url, headers={"HX-Request": "true"})
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code in expect, (url, response.status_code, response.text[:300])
        if i >= 5:  # warm-up requests fill caches the way a running server has them
            samples.append(elapsed)
            cpu.append((time.process_time() - started_cpu) * 1000)
    return samples, cpu


def _deep_cursor(client, pages=19):
    url = "/inbox/list"
    for _ in range(pages):
        body = client.get(url).text
        marker = 'hx-get="/inbox/list?cursor='
        if marker not in body:
            return url
        url = body.split(marker, 1)[1].split('"', 1)[0]
        url = "/inbox/list?cursor=" + url.replace("&amp;", "&")
    return url


def _measure(app, size, n, report):
    client = app.test_client()
    with app.app_context():
        email = "agent0@bench.test"
    response = client.post("/login", data={"email": email, "password": "bench-password-1"})
    assert response.status_code == 302, "bench sign-in failed"
    stamp = client.get("/inbox/list").text.split('data-stamp="', 1)[1].split('"', 1)[0]
    cases = [
        ("inbox list: default view (open, most urgent first)", "/inbox/list", (200,)),
        ("inbox list: filtered search (instagram + 'pedido')", "/inbox/list?platform=instagram&q=pedido", (200,)),
        ("inbox list: search for an order number (rare word)", "/inbox/list?q=48213", (200,)),
        # A shoe size: about 1 % of tickets, between rare and common (the hardest share).
        ("inbox list: search for a size (word in ~1 % of tickets)", "/inbox/list?q=38", (200,)),
        ("inbox list: page 20 by cursor", _deep_cursor(client), (200,)),
        ("inbox poll: nothing changed", f"/inbox/poll?stamp={stamp}", (204,)),
    ]
    for name, url, expect in cases:
        samples, cpu = _time(client, url, n, expect)
        p95 = percentile(samples, 95)
        report.append({"name": name, "n": n, "median_ms": round(percentile(samples, 50), 3),
                       "p95_ms": round(p95, 3), "p99_ms": round(percentile(samples, 99), 3),
                       "budget": f"p95 < {BUDGET_MS:.0f} ms", "ok": p95 < BUDGET_MS,
                       "data_size": f"{size:,} tickets ({db_name(app)})",
                       "app_cpu_median_ms": round(percentile(cpu, 50), 3)})
        print(f"  {size:>9,} tickets  {name:<55} median {report[-1]['median_ms']:7.2f} ms  "
              f"p95 {p95:7.2f} ms  app CPU {report[-1]['app_cpu_median_ms']:6.2f} ms", flush=True)


def db_name(app) -> str:
    return app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0].split("+")[0]


def run(report) -> None:
    scale = os.environ.get("DESK_BENCH_SCALE", "small")
    url = os.environ.get("DESK_BENCH_DATABASE_URL")
    scratch = None
    if not url:
        scratch = tempfile.mkdtemp(prefix="desk-bench-inbox-")
        url = f"sqlite:///{scratch}/bench.sqlite3"
    engine = "postgresql" if url.startswith("postgresql") else "sqlite"
    sizes = SIZES[(scale, engine)]
    if os.environ.get("DESK_BENCH_INBOX_SIZES"):
        sizes = tuple(int(s) for s in os.environ["DESK_BENCH_INBOX_SIZES"].split(","))
    n = 100 if scale == "small" else 200
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "TESTING": True,
                      "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    with app.app_context():
        db.create_all()
    try:
        for size in sizes:
            with app.app_context():
                have = db.session.scalar(select(func.count(Ticket.id)))
                if have < size:
                    print(f"generating {size - have:,} tickets ({engine})", flush=True)
                    generate(size - have, progress=sys.stderr.isatty())
                have = db.session.scalar(select(func.count(Ticket.id)))
                db.session.remove()
            _measure(app, have, n, report)
    finally:
        with app.app_context():
            db.engine.dispose()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    results = []
    run(results)
    bad = [r for r in results if not r["ok"]]
    sys.exit(1 if bad else 0)
