"""Redis stopped under real `desk worker --with-scheduler` and `desk scheduler` processes, and
processes started while Redis is down: they wait, reconnect and never exit; what waited in the
database becomes one message each, and a delayed job (a CSAT survey) goes out soon after Redis
is back. Each test ends with I1-I6 (tests/invariants.py)."""
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import select

from desk.accounts.users import User
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.core.queue import get_queue
from desk.feedback.surveys import Survey
from desk.inbox.actions import resolve
from tests.factories import add_agent_reply, make_channel, make_customer, make_ticket
from tests.faults.test_faults import PAGE, ROOT, envelope, keys, messaging, worker_env
from tests.invariants import assert_invariants
from tests.webhook_helpers import post_meta, statuses

pytestmark = pytest.mark.faults
# Short periods so that a test takes seconds: the re-sweep runs every 2 s and takes events
# waiting longer than 1 s; the survey goes out 3 s after the resolution.
INTERVALS = {"DESK_INBOUND_RESWEEP_SECONDS": "2", "DESK_INBOUND_STALE_SECONDS": "1"}
# Nothing leaves the machine: the survey's DM goes to a closed port, as in tests/conftest.py.
UNREACHABLE = ("META_GRAPH_URL", "WHATSAPP_GRAPH_URL", "X_API_URL", "BASE_URL")
SURVEY_DELAY = 3


@pytest.fixture
def desk_processes(app, tmp_path):
    """start(*args) runs `desk <args>` against the test database and Redis, output to a file;
    every process still running at the end gets SIGTERM and must stop within 20 s."""
    started = []

    def start(*args):
        log = tmp_path / f"{args[0]}-{len(started)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "desk", *args], cwd=ROOT, env=worker_env(app, **INTERVALS, **{
                f"DESK_{name}": app.config[name] for name in UNREACHABLE}),
            stdout=log.open("wb"), stderr=subprocess.STDOUT)
        process.log = log
        started.append(process)
        return process
    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"{process.args[3:]} did not stop on SIGTERM")


@pytest.fixture
def persisted_redis(redis_server):
    """The session's Redis, stopped with a snapshot (as a production Redis keeps its data), so
    delayed jobs survive the restart; the snapshot is removed afterwards."""
    def stop():
        Redis.from_url(redis_server.url).save()
        redis_server.stop()
    yield stop
    if redis_server.process.poll() is not None:  # the test failed before starting it again
        redis_server.start()
    (redis_server.folder / "dump.rdb").unlink(missing_ok=True)


def wait_until(condition, seconds: float, step: float = 0.2):
    """Poll `condition` until it is truthy or `seconds` passed; its last value."""
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(step)
    return value


def ready(redis_url: str) -> bool:
    """A worker registered, its scheduler for delayed jobs holding its lock, and the cron
    scheduler registered."""
    r = Redis.from_url(redis_url)
    return bool(r.scard("rq:workers") and r.exists("rq:scheduler-lock:default")
                and r.zcard("rq:cron_schedulers"))


def resolved_with_survey(channel, agent) -> int:
    """A DM ticket answered by `agent` and resolved now: its survey is scheduled in Redis."""
    # The polls before read through one transaction while the worker wrote: on SQLite a write
    # from that old snapshot is refused at once ("database is locked", no busy wait), so the
    # test's session starts a fresh one.
    db.session.rollback()
    ticket = make_ticket(channel=channel, customer=make_customer(platform="facebook"))
    add_agent_reply(ticket, agent)
    resolve(ticket.id, db.session.get(User, agent.id), clock_now())
    return ticket.id


def survey_state(ticket_id: int) -> Survey:
    db.session.expire_all()
    return db.session.scalar(select(Survey).where(Survey.ticket_id == ticket_id))


def outage_lines(process) -> list[str]:
    """The lines a process wrote about Redis being away (its own and RQ's retry lines)."""
    text = process.log.read_text(errors="replace")
    return [line for line in text.splitlines()
            if "redis unavailable" in line.lower() or "could not connect to redis" in line.lower()]


def test_worker_and_scheduler_ride_out_a_redis_outage(
        app, app_ctx, client, redis_server, persisted_redis, desk_processes, make_user,
        monkeypatch):
    channel = make_channel("facebook", PAGE)
    agent = make_user("cm")
    scheduler = desk_processes("scheduler")
    worker = desk_processes("worker", "--with-scheduler")
    assert wait_until(lambda: ready(redis_server.url), 60), "the processes did not start"
    monkeypatch.setitem(app.config, "CSAT_DELAY_SECONDS", SURVEY_DELAY)
    ticket_id = resolved_with_survey(channel, agent)
    assert get_queue("default").scheduled_job_registry.count == 1
    persisted_redis()
    bodies = [envelope(messaging(f"m_out_{i}", f"psid-{i % 3}")) for i in range(6)]
    assert [post_meta(client, body).status_code for body in bodies + bodies[:2]] == [200] * 8
    time.sleep(SURVEY_DELAY + 2)  # the survey falls due while Redis is away
    assert survey_state(ticket_id).state == "scheduled"
    assert statuses() == {"received": 6}
    redis_server.start()
    back = clock_now()
    sent = wait_until(lambda: survey_state(ticket_id).state == "sent", 90, step=0.5)
    done = wait_until(lambda: statuses() == {"processed": 6}, 60, step=0.5)
    assert scheduler.poll() is None, "desk scheduler exited:\n" + scheduler.log.read_text()
    assert worker.poll() is None, "desk worker exited:\n" + worker.log.read_text()
    assert sent, f"survey not sent after Redis came back:\n{worker.log.read_text()}"
    assert survey_state(ticket_id).sent_at - back < timedelta(minutes=1)
    assert done, f"events still waiting: {statuses()}"
    assert_invariants(accepted=keys(), messages={f"m_out_{i}" for i in range(6)},
                      now=clock_now())
    # One line when Redis goes away, per process (the worker's scheduler is a second one).
    assert [line.split(":")[0] for line in outage_lines(scheduler)] == ["scheduler"]
    said = Counter(line.split(":")[0] for line in outage_lines(worker))
    assert said["worker"] == 1 and max(said.values()) == 1, said


def test_a_worker_and_a_scheduler_started_while_redis_is_down_wait_for_it(
        app, app_ctx, client, redis_server, desk_processes, make_user, monkeypatch):
    channel = make_channel("facebook", PAGE)
    agent = make_user("cm")
    redis_server.stop()
    try:
        bodies = [envelope(messaging(f"m_wait_{i}", f"psid-{i}")) for i in range(3)]
        assert [post_meta(client, body).status_code for body in bodies] == [200] * 3
        scheduler = desk_processes("scheduler")
        worker = desk_processes("worker", "--with-scheduler")
        time.sleep(8)  # long enough to start, find Redis away and (before the fix) exit
        assert scheduler.poll() is None, "desk scheduler exited:\n" + scheduler.log.read_text()
        assert worker.poll() is None, "desk worker exited:\n" + worker.log.read_text()
    finally:
        redis_server.start()
    assert wait_until(lambda: statuses() == {"processed": 3}, 60, step=0.5), statuses()
    assert wait_until(lambda: ready(redis_server.url), 30)
    monkeypatch.setitem(app.config, "CSAT_DELAY_SECONDS", 1)
    ticket_id = resolved_with_survey(channel, agent)
    assert wait_until(lambda: survey_state(ticket_id).state == "sent", 30, step=0.5), \
        worker.log.read_text()
    assert scheduler.poll() is None and worker.poll() is None
    assert_invariants(accepted=keys(), messages={f"m_wait_{i}" for i in range(3)},
                      now=clock_now())


def _children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_desk_run_stopped_with_sigterm_stops_its_worker_and_scheduler(app, desk_processes):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = desk_processes("run", "--port", str(port))
    assert wait_until(lambda: len(_children_of(run.pid)) >= 2, 30), run.log.read_text()
    children = _children_of(run.pid)
    run.terminate()
    run.wait(timeout=20)
    alive = lambda: [pid for pid in children if Path(f"/proc/{pid}").exists()]  # noqa: E731
    assert wait_until(lambda: alive() == [], 20), (alive(), run.log.read_text())
