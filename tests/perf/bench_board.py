"""The SLA board: budget p95 < 100 ms at 1M tickets with ~110k open, flat from 100k.

    python tests/perf/bench_board.py                          # small: 2k then 20k, SQLite
    DESK_BENCH_SCALE=large DESK_BENCH_DATABASE_URL=postgresql+psycopg://desk:desk@127.0.0.1:5432/postgres \\
        python tests/perf/bench_board.py                      # 100k then 1M, a fresh PostgreSQL database

The same database grows from the first size to the second (tests/perf/generate.py: 85 % of
tickets resolved, an open backlog of the last three days in every SLA state). Three teams
and availability are set so that the board shows them. At each size, as a signed-in lead,
through the whole app: the board page, its body when something changed (what the 10-second
poll gets), and an unchanged poll; then, for reference, the per-key live states alone and
the same counts read the way the board did before (every open ticket). The kept counts are
compacted first (the scheduler does it every minute), then 6,000 uncompacted rows are added,
what a busy minute leaves (about 50 ticket changes a second).
"""
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from sqlalchemy import func, insert, select  # noqa: E402

from desk import create_app  # noqa: E402
from desk.core.clock import now as clock_now  # noqa: E402
from desk.core.extensions import db  # noqa: E402
from desk.inbox.tickets import Ticket  # noqa: E402
from tests.perf.common import make_database, percentile  # noqa: E402
from tests.perf.generate import generate  # noqa: E402

BUDGET_MS = 100.0
SIZES = {"small": (2_000, 20_000), "large": (100_000, 1_000_000)}
BUSY_MINUTE_ROWS = 6_000


def _teams():
    """Three teams over the generated agents, all of them online with room."""
    from desk.accounts.users import User
    from desk.channels.accounts import Channel
    from desk.routing import availability, teams
    if teams.teams():
        return
    lead = db.session.scalar(select(User).where(User.role == "lead"))
    agents = db.session.scalars(select(User).where(User.role == "cm")).all()
    channels = {c.platform: c.id for c in db.session.scalars(select(Channel))}
    now = clock_now()
    for name, chans, languages in (("Instagram", ["instagram"], []), ("España", [], ["es"]),
                                   ("Mensajes", ["whatsapp", "facebook", "x"], [])):
        teams.save_team(lead, now, team_id=None, name=name, channel_ids=[channels[c] for c in chans],
                        languages=languages, mode="least_loaded", return_on_offline=False,
                        member_ids=[a.id for a in agents])
    for agent in agents:
        teams.save_agent(lead, now, agent.id, capacity=40, languages=[], channel_ids=[])
        availability.set_status(agent.id, "online", agent, now)


def _busy_minute(rng):
    """Uncompacted rows as a minute of changes leaves them: +1/-1 pairs on existing keys."""
    from desk.sla.board_counts import BoardCount, compact, counts
    compact()
    keys = list(counts())
    rows = []
    for _ in range(BUSY_MINUTE_ROWS // 2):
        channel_id, language, assignee_id = rng.choice(keys)
        for sign in (1, -1):
            rows.append({"channel_id": channel_id, "language": language, "assignee_id": assignee_id,
                         "open": sign, "waiting": sign})
    db.session.execute(insert(BoardCount), rows)
    db.session.commit()


def _old_way(now):
    """The board's counts as it read them before: group every waiting and open ticket."""
    from sqlalchemy import and_, case
    from desk.sla.board import _waiting
    live = case((Ticket.sla_due_at <= now, "breached"), (Ticket.sla_warn_at <= now, "at_risk"),
                else_="on_track")
    db.session.execute(select(Ticket.channel_id, live, func.count()).where(_waiting())
                       .group_by(Ticket.channel_id, live)).all()
    waiting = _waiting()
    db.session.execute(select(
        Ticket.assignee_id, func.count(),
        func.sum(case((and_(waiting, live == "at_risk"), 1), else_=0)),
        func.sum(case((and_(waiting, live == "breached"), 1), else_=0)))
        .where(Ticket.status != "resolved").group_by(Ticket.assignee_id)).all()


def _timed(fn, n):
    samples = []
    for i in range(n + 5):
        started = time.perf_counter()
        fn()
        if i >= 5:  # warm-up: caches filled as in a running server
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def _measure(app, size, open_tickets, n, report):
    from desk.sla.board import keyed_states
    client = app.test_client()
    assert client.post("/login", data={"email": "agent4@bench.test",
                                       "password": "bench-password-1"}).status_code == 302
    page = client.get("/board")
    assert page.status_code == 200 and 'id="board-teams"' in page.text, page.status_code
    stamp = [page.text.split('data-stamp="', 1)[1].split('"', 1)[0]]

    def get(url, expect):
        response = client.get(url, headers={"HX-Request": "true"} if "poll" in url else {})
        assert response.status_code == expect, (url, response.status_code)

    def unchanged_poll():
        response = client.get(f"/board/poll?stamp={stamp[0]}", headers={"HX-Request": "true"})
        if response.status_code == 200:  # the stamp moves every 30 s (the sweep's tick)
            stamp[0] = response.text.split('data-stamp="', 1)[1].split('"', 1)[0]
        assert response.status_code in (200, 204)

    cases = [("board page", lambda: get("/board", 200), True),
             ("board poll: something changed (new body)", lambda: get("/board/poll?stamp=old", 200), True),
             ("board poll: nothing changed", unchanged_poll, True)]
    with app.app_context():
        cases += [("live states per key (the counts' query)", lambda: keyed_states(clock_now()), False),
                  ("before: counts read from every open ticket", lambda: _old_way(clock_now()), False)]
        for name, fn, budgeted in cases:
            samples = _timed(fn, n)
            p95 = percentile(samples, 95)
            report.append({"name": f"board: {name}", "n": n,
                           "median_ms": round(percentile(samples, 50), 3), "p95_ms": round(p95, 3),
                           "p99_ms": round(percentile(samples, 99), 3),
                           "budget": f"p95 < {BUDGET_MS:.0f} ms" if budgeted else "reference",
                           "ok": p95 < BUDGET_MS or not budgeted,
                           "data_size": f"{size:,} tickets, {open_tickets:,} open"})
            print(f"  {size:>9,} tickets ({open_tickets:,} open)  {name:<45} median "
                  f"{report[-1]['median_ms']:7.2f} ms  p95 {p95:7.2f} ms", flush=True)
            db.session.rollback()


def run(report) -> None:
    scale = os.environ.get("DESK_BENCH_SCALE", "small")
    url = os.environ.get("DESK_BENCH_DATABASE_URL")
    folder = tempfile.mkdtemp(prefix="desk-bench-board-")
    drop = lambda: None  # noqa: E731
    if url and url.startswith("postgresql"):
        url, drop = make_database("postgresql", folder, prefix="desk_bench_board")
    elif not url:
        url = f"sqlite:///{folder}/bench.sqlite3"
    sizes = SIZES[scale]
    if os.environ.get("DESK_BENCH_BOARD_SIZES"):
        sizes = tuple(int(s) for s in os.environ["DESK_BENCH_BOARD_SIZES"].split(","))
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "TESTING": True,
                      "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    rng = random.Random(5)
    try:
        with app.app_context():
            db.create_all()
        for size in sizes:
            with app.app_context():
                have = db.session.scalar(select(func.count(Ticket.id)))
                if have < size:
                    print(f"generating {size - have:,} tickets", flush=True)
                    generate(size - have, progress=sys.stderr.isatty())
                _teams()
                _busy_minute(rng)
                if db.engine.dialect.name == "postgresql":
                    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                        c.exec_driver_sql("VACUUM ANALYZE")  # as autovacuum leaves a quiet table
                have = db.session.scalar(select(func.count(Ticket.id)))
                open_tickets = db.session.scalar(select(func.count(Ticket.id)).where(Ticket.status != "resolved"))
                db.session.remove()
            _measure(app, have, open_tickets, 100 if scale == "small" else 200, report)
    finally:
        with app.app_context():
            db.engine.dispose()
        drop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    results = []
    run(results)
    sys.exit(1 if any(not r["ok"] for r in results) else 0)
