"""Webhook acknowledgement latency through gunicorn, and events -> tickets per second by one worker.

    python tests/perf/bench_ingest.py                 # small: 5 s at 500 events/s
    python tests/perf/run.py --only ingest --scale large

Budgets (docs/architecture.md): webhook acknowledged (verify + durable insert + enqueue) p99 < 50 ms at
500 events/s; one worker turns >= 300 events/s into tickets. A private redis-server and the
app under gunicorn run on loopback; signed Messenger deliveries (one event each, 200 contacts,
5 % duplicates) are posted open-loop at a steady rate. The database is
DESK_BENCH_DATABASE_URL, else a throwaway PostgreSQL database on 127.0.0.1 (role desk/desk),
else a temporary SQLite file.
"""
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from tests.perf import openloop  # noqa: E402
from tests.perf.common import percentile, start_redis  # noqa: E402

SECRET = "bench-meta-secret"
PAGE = "555000111"
RATE = 500
SECONDS = {"small": 5, "large": 20}
ACK_BUDGET_MS = 50.0
WARMUP = 200  # posts in the second before the measured ones
WORKER_BUDGET = 300.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Database:
    """The benchmark's database URL, created (and dropped) when it is a throwaway one."""

    def __init__(self, folder: str):
        self.url = os.environ.get("DESK_BENCH_DATABASE_URL")
        self.admin, self.name = None, None
        if self.url:
            return
        try:
            import psycopg
            admin = psycopg.connect("postgresql://desk:desk@127.0.0.1:5432/postgres",
                                    autocommit=True, connect_timeout=3)
        except Exception:
            self.url = f"sqlite:///{folder}/bench.sqlite3"
            return
        self.admin, self.name = admin, f"desk_bench_{uuid.uuid4().hex[:10]}"
        admin.execute(f'CREATE DATABASE "{self.name}"')
        self.url = f"postgresql+psycopg://desk:desk@127.0.0.1:5432/{self.name}"

    def drop(self):
        if self.admin:
            self.admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.admin.close()


def environment(database_url: str, redis_url: str) -> dict:
    return {**os.environ, "DESK_DATABASE_URL": database_url, "DESK_REDIS_URL": redis_url,
            "DESK_RATELIMIT_STORAGE_URI": redis_url.replace("unix://", "redis+unix://"),
            "DESK_SECRET_KEY": "bench", "DESK_META_APP_SECRET": SECRET, "PYTHONPATH": str(ROOT)}


def prepare(env: dict) -> None:
    """Schema and one connected Facebook page, in a child process with the bench environment."""
    script = ("from desk import create_app\nfrom desk.core.extensions import db\n"
              "from desk.channels.accounts import add_channel\napp = create_app()\n"
              "with app.app_context():\n    db.create_all()\n"
              f"    add_channel('facebook', '{PAGE}', 'Bench page')\n")
    subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=ROOT)


def delivery(i: int) -> bytes:
    contact = i % 200
    mid = f"m_{i - 1 if i % 20 == 19 else i}"  # 5 % are re-deliveries of the previous event
    stamp = 1_760_000_000_000 + i
    return json.dumps({"object": "page", "entry": [{"id": PAGE, "time": stamp, "messaging": [{
        "sender": {"id": f"psid-{contact}"}, "recipient": {"id": PAGE}, "timestamp": stamp,
        "message": {"mid": mid, "text": f"Hola, ¿dónde está mi pedido {i}? 📦"}}]}]}).encode()


def post_steadily(port: int, indexes: range, rate: int) -> openloop.Result:
    """Signed deliveries posted open loop at `rate` per second (tests/perf/openloop.py)."""
    prepared = []
    for i in indexes:
        body = delivery(i)
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        prepared.append(openloop.http_request("127.0.0.1", port, "/webhooks/meta", body, {
            "Content-Type": "application/json", "X-Hub-Signature-256": signature}))
    return openloop.post_open_loop("127.0.0.1", port, prepared, rate)


def cpu_seconds_of_children(pid: int) -> float:
    """User + system CPU seconds used so far by the child processes of `pid` (Linux /proc)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def drain_with_one_worker(env: dict) -> dict:
    """One RQ SimpleWorker (burst) on the inbound queue, in a child process; its figures."""
    script = r"""
import json, time
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import func, select
from desk import create_app
from desk.core.extensions import db
from desk.intake.events import InboundEvent
from desk.core.queue import get_queue
from desk.inbox.tickets import Message, Ticket
app = create_app()
with app.app_context():
    connection = Redis.from_url(app.config["REDIS_URL"])
    queue = get_queue("inbound", connection)
    jobs = queue.count
    worker = SimpleWorker([queue], connection=connection)
    started, started_cpu = time.perf_counter(), time.process_time()
    worker.work(burst=True)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    done = db.session.scalar(select(func.count()).select_from(InboundEvent).where(
        InboundEvent.status == "processed"))
    print(json.dumps({"jobs": jobs, "seconds": elapsed, "cpu_seconds": cpu, "events": done,
                      "tickets": db.session.scalar(select(func.count()).select_from(Ticket)),
                      "messages": db.session.scalar(select(func.count()).select_from(Message))}))
"""
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=ROOT,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(report: list) -> None:
    scale = os.environ.get("DESK_BENCH_SCALE", "small")
    total = RATE * SECONDS.get(scale, 5)
    folder = tempfile.mkdtemp(prefix="desk-bench-")
    database = Database(folder)
    redis, redis_url = start_redis(folder)
    gunicorn = None
    try:
        env = environment(database.url, redis_url)
        prepare(env)
        port = free_port()
        gunicorn = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-w", str(max(2, os.cpu_count() or 2) * 2),
             "-b", f"127.0.0.1:{port}", "--log-level", "warning", "desk.wsgi:app"],
            env=env, cwd=ROOT)
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                requests.get(base + "/webhooks/meta", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        # Each worker's first posts open its database and Redis connections and fill its
        # caches, as a running server has them: a short slow start, not measured.
        post_steadily(port, range(total, total + WARMUP), WARMUP)
        cpu_before = cpu_seconds_of_children(gunicorn.pid)
        posted = post_steadily(port, range(total), RATE)
        server_cpu_ms = (cpu_seconds_of_children(gunicorn.pid) - cpu_before) * 1000 / total
        latencies, elapsed, statuses = posted.latencies_ms, posted.elapsed_s, posted.statuses
        p99 = percentile(latencies, 99)
        kind = database.url.split(":")[0]
        report.append({"name": "webhook ack latency (gunicorn, signed Meta)", "n": len(latencies),
                       "median_ms": round(percentile(latencies, 50), 2),
                       "p95_ms": round(percentile(latencies, 95), 2), "p99_ms": round(p99, 2),
                       "budget": f"p99 < {ACK_BUDGET_MS:.0f} ms at {RATE}/s",
                       "ok": p99 < ACK_BUDGET_MS and statuses.count(200) == total,
                       "data_size": f"{total} posts in {elapsed:.1f} s ({total / elapsed:.0f}/s), "
                                    f"{statuses.count(200)} ok, {posted.late_starts} sent late "
                                    f"by the generator, {server_cpu_ms:.2f} ms of gunicorn CPU "
                                    f"per post, {kind}"})
        drained = drain_with_one_worker(env)
        per_second = drained["events"] / drained["seconds"] if drained["seconds"] else 0.0
        per_event_ms = 1000 / per_second if per_second else 0.0
        report.append({"name": "events -> tickets, one worker", "n": drained["events"],
                       "median_ms": round(per_event_ms, 3), "p95_ms": "", "p99_ms": "",
                       "budget": f">= {WORKER_BUDGET:.0f} events/s",
                       "ok": per_second >= WORKER_BUDGET,
                       "data_size": f"{per_second:.0f} events/s; "
                                    f"{drained['cpu_seconds'] * 1000 / max(drained['events'], 1):.2f} ms "
                                    f"of worker CPU per event; {drained['jobs']} jobs, "
                                    f"{drained['tickets']} tickets, {drained['messages']} messages, {kind}"})
    finally:
        if gunicorn:
            gunicorn.terminate()
            gunicorn.wait(timeout=30)
        redis.terminate()
        redis.wait(timeout=10)
        database.drop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    results: list = []
    run(results)
    for row in results:
        print(json.dumps(row, ensure_ascii=False))
