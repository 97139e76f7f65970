"""The service report for a quarter: budget < 2 s over 1M tickets (PostgreSQL).

    python tests/perf/bench_report.py                          # small: 20k tickets, temporary SQLite
    DESK_BENCH_SCALE=large python tests/perf/bench_report.py   # 1M tickets on PostgreSQL
    DESK_BENCH_REPORT_SIZES=200000 DESK_BENCH_SCALE=large python tests/perf/bench_report.py

Each size gets a fresh database (on the server of DESK_BENCH_DATABASE_URL, default the local
desk/desk PostgreSQL). Tickets come from tests/perf/generate.py (spread over 180 days, so a
quarter holds about half of them); surveys (40 % of answered tickets, 70 % of them rated)
and activity events (one per three customers) are added in SQL.

Then the report roll-up is built once (timed on its own: what `desk scheduler` does after a
migration), and a busy minute of changes is made (first replies, resolutions, ratings,
customers coming back, new tickets), so the report has marked tickets and customers to
correct live, as it has between two refreshes in production. Timed: the whole report (every
figure, breakdown, trend and retention) for the last 90 days, all channels, RUNS times; then
the refresh that takes the minute's changes in. JSON/CSV rendering is left out (microseconds).
"""
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.perf.common import make_database, percentile  # noqa: E402

BUDGET_MS = 2000.0
RUNS = 5
NOW = datetime(2026, 3, 31, 12, 0, tzinfo=timezone.utc)


def _feedback_rows() -> None:
    """Surveys and activity events in bulk, in SQL (hash of the id decides who gets one)."""
    from sqlalchemy import text

    from desk.core.extensions import db
    pg = db.engine.dialect.name == "postgresql"
    hours14 = "interval '14 days'" if pg else None
    expires = f"t.resolved_at + {hours14}" if pg else "datetime(t.resolved_at, '+14 days')"
    answered = "t.resolved_at + interval '3 hours'" if pg else "datetime(t.resolved_at, '+3 hours')"
    later = "t.resolved_at + (t.id % 120) * interval '1 day'" if pg else \
        "datetime(t.resolved_at, '+' || (t.id % 120) || ' days')"
    db.session.execute(text(f"""
        INSERT INTO survey (ticket_id, customer_id, token_hash, language, state, created_at,
                            sent_at, expires_at, answered_at, rating, answered_via)
        SELECT t.id, t.customer_id, NULL, 'es', 'sent', t.resolved_at, t.resolved_at, {expires},
               CASE WHEN t.id % 10 < 7 THEN {answered} END,
               CASE WHEN t.id % 10 < 7 THEN 1 + (t.id * 7) % 5 END,
               CASE WHEN t.id % 10 < 7 THEN 'web' END
        FROM ticket t WHERE t.resolved_at IS NOT NULL AND t.first_response_at IS NOT NULL
          AND t.id % 5 < 2"""))
    db.session.execute(text(f"""
        INSERT INTO activity_event (customer_id, kind, occurred_at, source, external_id, data, created_at)
        SELECT t.customer_id, 'purchase', {later}, 'bench', 'b' || t.id, '{{}}', t.resolved_at
        FROM ticket t WHERE t.resolved_at IS NOT NULL AND t.id % 3 = 0"""))
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def _busy_minute() -> int:
    """What a busy desk writes between two refreshes: first replies and resolutions on the
    open backlog, survey ratings, customers coming back, new tickets. Returns the changes."""
    from sqlalchemy import insert, select, update

    from desk.core.extensions import db
    from desk.feedback.activity import ActivityEvent
    from desk.feedback.surveys import Survey
    from desk.inbox.tickets import Ticket
    from tests.perf.generate import generate
    waiting = select(Ticket.id).where(Ticket.status == "open", Ticket.first_response_at.is_(None)) \
        .order_by(Ticket.id).limit(5)
    agent = db.session.scalar(select(Ticket.assignee_id).where(Ticket.assignee_id.is_not(None)).limit(1))
    db.session.execute(update(Ticket).where(Ticket.id.in_(waiting))
                       .values(first_response_at=NOW, first_responder_id=agent, sla_state="late"))
    answered = select(Ticket.id).where(Ticket.status == "open", Ticket.first_response_at.is_not(None)) \
        .order_by(Ticket.id.desc()).limit(5)
    db.session.execute(update(Ticket).where(Ticket.id.in_(answered))
                       .values(status="resolved", resolved_at=NOW, resolution="replied"))
    unrated = select(Survey.id).where(Survey.rating.is_(None)).order_by(Survey.id.desc()).limit(2)
    db.session.execute(update(Survey).where(Survey.id.in_(unrated)).values(rating=5, answered_at=NOW))
    customers = db.session.scalars(select(Ticket.customer_id).order_by(Ticket.id.desc()).limit(3)).all()
    db.session.execute(insert(ActivityEvent), [
        {"customer_id": c, "kind": "purchase", "occurred_at": NOW, "source": "bench",
         "external_id": f"minute-{c}", "data": {}, "created_at": NOW} for c in customers])
    db.session.commit()
    generate(5, now=NOW, batch=5, progress=False)
    return 5 + 5 + 2 + len(customers) + 5


def _timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return (time.perf_counter() - started) * 1000, result


def bench_size(n: int, backend: str) -> list[dict]:
    from desk import create_app
    from desk.core.extensions import db
    from desk.reports.periods import ReportFilter
    from desk.reports.refresh import refresh_rollup
    from desk.reports.service import service_report
    from tests.perf.generate import generate
    with tempfile.TemporaryDirectory() as folder:
        url, drop = make_database(backend, folder, "desk_bench_report")
        try:
            app = create_app({"TESTING": True, "SECRET_KEY": "bench", "DATABASE_URL": url,
                              "REDIS_URL": "redis://127.0.0.1:1/0"})
            with app.app_context():
                db.create_all()
                generate(n, now=NOW, batch=10_000, progress=sys.stderr.isatty())
                _feedback_rows()
                build_ms, _ = _timed(lambda: refresh_rollup(NOW))
                changes = _busy_minute()
                quarter = ReportFilter(start=NOW - timedelta(days=90), end=NOW, granularity="week")
                samples = []
                for _ in range(RUNS):
                    db.session.remove()
                    elapsed, report = _timed(lambda: service_report(quarter, NOW))
                    samples.append(elapsed)
                db.session.remove()
                refresh_ms, taken = _timed(lambda: refresh_rollup(NOW))
                volume = report.totals.volume
        finally:
            drop()
    size = f"{n} tickets ({volume} in the quarter)"
    return [
        {"name": f"service report, a quarter ({backend})", "n": RUNS,
         "median_ms": round(percentile(samples, 50), 1), "p95_ms": round(percentile(samples, 95), 1),
         "p99_ms": round(percentile(samples, 99), 1), "budget": f"< {BUDGET_MS:.0f} ms at 1M tickets",
         "ok": percentile(samples, 95) < BUDGET_MS,
         "data_size": f"{size}; roll-up built, {changes} changes pending"},
        {"name": f"report roll-up: full build ({backend})", "n": 1, "median_ms": round(build_ms, 1),
         "p95_ms": round(build_ms, 1), "p99_ms": round(build_ms, 1), "budget": "none (once, in a job)",
         "ok": True, "data_size": size},
        {"name": f"report roll-up: refresh after a busy minute ({backend})", "n": 1,
         "median_ms": round(refresh_ms, 1), "p95_ms": round(refresh_ms, 1), "p99_ms": round(refresh_ms, 1),
         "budget": "none (every REPORT_ROLLUP_SECONDS, in a job)", "ok": True,
         "data_size": f"{size}; {taken.tickets} tickets, {taken.customers} customers taken in"},
    ]


def run(report: list) -> None:
    """Append one result per size (small: SQLite 20k; large: PostgreSQL 1M)."""
    if os.environ.get("DESK_BENCH_SCALE") == "large":
        sizes = os.environ.get("DESK_BENCH_REPORT_SIZES", "1000000")
        backend = "postgresql"
    else:
        sizes, backend = os.environ.get("DESK_BENCH_REPORT_SIZES", "20000"), "sqlite"
    for size in [int(s) for s in sizes.split(",") if s.strip()]:
        report.extend(bench_size(size, backend))


if __name__ == "__main__":
    results: list = []
    run(results)
    for result in results:
        print(result)
