"""The assignment decision: budget p95 < 5 ms with 200 online agents and 10,000 open tickets,
and no growth with the number of closed tickets.

    python tests/perf/bench_routing.py                        # small: temporary SQLite
    DESK_BENCH_DATABASE_URL=postgresql+psycopg://desk:desk@127.0.0.1:5432/postgres \
        python tests/perf/bench_routing.py                    # the same on PostgreSQL
    DESK_BENCH_SCALE=large python tests/perf/bench_routing.py # PostgreSQL, up to 1M closed

One team of 200 online agents (capacity 60, about 50 open tickets each: every one has room),
10,000 open tickets already assigned, and 0 or more resolved tickets. Each sample stores one
new unassigned ticket (not timed), then times the decision (the team and its waiting tickets
in due order, the choice of a member with its lock, and the chosen agent's recount: from the
transaction's start to the decision made and held under the lock), then lets the lock go
(untimed), and then times `dispatch` whole (the same, plus the conditional UPDATE, the audit
row and the COMMIT that write the assignment down). Half the samples run round robin, half least loaded. Agents' loads are read from
the board's kept counts (desk/sla/board_counts.py): compacted after the load, as the
scheduler does every minute, and every COMPACT_EVERY samples.
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

BUDGET_MS = 5.0
AGENTS = 200
OPEN = 10_000
SAMPLES = 400
# Samples between compactions of the board counts that agents' loads are read from: each
# sample leaves three rows (a new ticket, its assignment), so up to 600 wait to be folded,
# more than a busy minute of assignments leaves between the scheduler's runs.
COMPACT_EVERY = 200
NOW0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def populate(db, closed: int, seed: int = 7) -> int:
    """Agents, one team, OPEN assigned open tickets and `closed` resolved ones; the team id."""
    from desk.accounts.users import User
    from desk.channels.accounts import Channel
    from desk.customers.models import Customer
    from desk.inbox.tickets import Ticket
    from desk.routing.models import Agent, Team, TeamMember
    rng = random.Random(seed)
    users = [User(email=f"cm{i}@bench.test", name=f"CM {i}", password_hash="x", role="cm")
             for i in range(AGENTS)]
    db.session.add_all(users)
    channels = [Channel(platform=p, account_id=f"acct-{p}", name=p) for p in ("instagram", "facebook", "x")]
    db.session.add_all(channels)
    db.session.add_all(Customer(display_name=f"Cliente {i}") for i in range(1000))
    db.session.commit()
    team = Team(name="Care", mode="least_loaded", channel_ids=[], languages=[],
                return_on_offline=True)
    team.members = [TeamMember(user_id=u.id) for u in users]
    db.session.add(team)
    db.session.add_all(Agent(user_id=u.id, status="online", idle=False, capacity=60, languages=[],
                             channel_ids=[], status_since=NOW0) for u in users)
    db.session.commit()
    rows = []
    for i in range(1, OPEN + closed + 1):
        is_open = i <= OPEN
        start = NOW0 - timedelta(minutes=rng.uniform(1, 60 * 24 * (1 if is_open else 300)))
        rows.append({"channel_id": channels[i % 3].id, "customer_id": 1 + i % 1000, "kind": "dm",
                     "thread_key": f"t{i}", "status": "open" if is_open else "resolved",
                     "priority": "normal", "subject": "¿Dónde está mi pedido?", "language": "es",
                     "assignee_id": users[i % AGENTS].id, "created_at": start, "updated_at": start,
                     "resolved_at": None if is_open else start + timedelta(hours=1),
                     "escalated": False, "sla_state": "on_track" if is_open else "met",
                     "sla_due_at": start + timedelta(hours=1)})
        if len(rows) == 20_000:
            db.session.execute(Ticket.__table__.insert(), rows)
            db.session.commit()
            rows = []
    if rows:
        db.session.execute(Ticket.__table__.insert(), rows)
        db.session.commit()
    from desk.sla.board_counts import compact
    compact()  # as the scheduler does every minute (BOARD_COMPACT_SECONDS)
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy import text
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    return team.id


def decide(team_id: int, now: datetime):
    """Who gets the first waiting ticket (routing/decision.py: the team, its next waiting
    ticket, the choice, the chosen agent's lock and recount; one function call on PostgreSQL),
    from the transaction's start to the decision held under the lock; not the UPDATE, the
    audit row and the COMMIT that write it down (the dispatch figure has them)."""
    from desk.routing import decision
    return decision.next_assignment(team_id, now, []).agent_id


def measure(backend: str, closed: int) -> list[dict]:
    from sqlalchemy import text

    from desk import create_app
    from desk.core.extensions import db
    from desk.inbox.tickets import Ticket
    from desk.routing.assignment import dispatch
    from desk.routing.models import Team
    from desk.sla.board_counts import compact
    folder = tempfile.mkdtemp(prefix="bench-routing-")
    redis, redis_url = start_redis(folder)
    url, drop = make_database(backend, folder, "desk_bench_routing")
    try:
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "DATABASE_URL": url,
                          "REDIS_URL": redis_url, "RATELIMIT_STORAGE_URI": "memory://"})
        with app.app_context():
            db.create_all()
            started = time.perf_counter()
            team_id = populate(db, closed)
            load_s = time.perf_counter() - started
            samples, decisions, handed = [], [], 0
            for step in range(SAMPLES + 20):
                now = NOW0 + timedelta(seconds=step)
                if step == SAMPLES // 2 + 20:
                    db.session.get(Team, team_id).mode = "round_robin"
                if step % COMPACT_EVERY == 0:
                    compact()
                db.session.add(Ticket(channel_id=1 + step % 3, customer_id=1 + step % 1000,
                                      kind="dm", thread_key=f"new{step}", status="open",
                                      priority="normal", subject="hola", language="es",
                                      created_at=now, updated_at=now, sla_state="on_track",
                                      sla_due_at=now + timedelta(hours=1)))
                db.session.commit()
                t = time.perf_counter()
                decided = decide(team_id, now)  # the decision alone
                decision_ms = (time.perf_counter() - t) * 1000
                # Nothing was written: let the lock go. A COMMIT, as a dispatch ends (psycopg
                # forgets its prepared statements on a ROLLBACK: see assignment._release).
                db.session.commit()
                t = time.perf_counter()
                handed += len(dispatch(team_id, now))
                if step >= 20:  # the first ones warm the caches
                    samples.append((time.perf_counter() - t) * 1000)
                    decisions.append(decision_ms)
                    assert decided is not None
            reference = []  # the machine's pace: one trivial round trip to the database
            for _ in range(200):
                t = time.perf_counter()
                db.session.execute(text("SELECT 1"))
                reference.append((time.perf_counter() - t) * 1000)
            db.session.rollback()
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()
        redis.terminate()
        redis.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
    assert handed == SAMPLES + 20, handed
    size = f"{AGENTS} online agents, {OPEN:,} open and {closed:,} closed tickets ({backend})"
    rows = []
    for name, values in (("assignment decision", decisions),
                         ("dispatch of one ticket (decision, update, audit, commit)", samples)):
        print(f"   {closed:,} closed, {name}: median {percentile(values, 50):.2f} ms, "
              f"p95 {percentile(values, 95):.2f} ms, p99 {percentile(values, 99):.2f} ms "
              f"(loaded in {load_s:.0f} s)", flush=True)
        row = {"name": f"{name}, {closed:,} closed", "n": len(values),
               "median_ms": round(percentile(values, 50), 2), "p95_ms": round(percentile(values, 95), 2),
               "p99_ms": round(percentile(values, 99), 2), "data_size": size}
        rows.append(row)
    rows.append({"name": f"reference: SELECT 1 round trip, {closed:,} closed", "n": len(reference),
                 "median_ms": round(percentile(reference, 50), 3),
                 "p95_ms": round(percentile(reference, 95), 3),
                 "p99_ms": round(percentile(reference, 99), 3), "data_size": size,
                 "budget": "reported (the machine's pace)", "ok": True})
    print(f"   reference SELECT 1: median {percentile(reference, 50):.3f} ms, "
          f"p95 {percentile(reference, 95):.3f} ms", flush=True)
    rows[0].update(budget=f"p95 < {BUDGET_MS:.0f} ms", ok=rows[0]["p95_ms"] < BUDGET_MS)
    rows[1].update(budget="reported (not budgeted)", ok=True)
    return rows


def sizes() -> tuple[str, list[int]]:
    scale = os.environ.get("DESK_BENCH_SCALE", "small")
    custom = os.environ.get("DESK_BENCH_ROUTING_CLOSED")
    if scale == "large":
        return "postgresql", [int(s) for s in (custom or "0,1000000").split(",")]
    backend = "postgresql" if os.environ.get("DESK_BENCH_DATABASE_URL") else "sqlite"
    return backend, [int(s) for s in (custom or "0,100000").split(",")]


def run(report: list) -> None:
    backend, closed_sizes = sizes()
    for closed in closed_sizes:
        report.extend(measure(backend, closed))


if __name__ == "__main__":
    rows: list[dict] = []
    run(rows)
    for r in rows:
        print(r)
