"""Load run: webhooks at a steady rate while agents work the inbox, on the production stack.

    python tests/perf/run.py --only load              # rows land in tests/perf/reports/
    make load                                          # the same
    DESK_LOAD_RATE=150 DESK_LOAD_SECONDS=120 python tests/perf/load_run.py

The stack is the README's production one on loopback: a throwaway PostgreSQL database
migrated by `desk init-db`, a private redis-server, gunicorn (DESK_LOAD_WEB_WORKERS=4 gthread
workers with DESK_LOAD_THREADS=4 threads), two `desk worker` processes on every queue (one
also runs RQ's scheduler for delayed jobs) and one `desk scheduler`. Replies really go out
over HTTP: DESK_META_GRAPH_URL and DESK_WHATSAPP_GRAPH_URL point at tests/fakeplatform.py,
which counts every call. A Facebook page, an Instagram account, a WhatsApp number, 20 CM
users (DESK_LOAD_AGENTS) and the demo canned-reply library are set up first.

Why gthread: most of a request's time is spent waiting on PostgreSQL or Redis, and threads
let a worker serve the next request meanwhile, so one slow inbox search or a row lock held
by a worker does not stall every webhook queued behind it on that process; four processes
of four threads hold 16 requests for the memory of four (DESK_LOAD_WORKER_CLASS=sync to
compare: on 2 cores the two were within noise of each other).

Load, for DESK_LOAD_SECONDS (60):
- signed Meta deliveries (Messenger and Instagram DMs, Facebook and Instagram comments,
  WhatsApp messages; ~10 % carry several entries, ~5 % re-deliver an earlier post byte for
  byte; the texts are tests/perf/generate.py's, about 40 % of them alike complaints, so a
  crisis incident stays open) at DESK_LOAD_RATE events/s (50), open-loop: the schedule is
  fixed in advance and sent by tests/perf/openloop.py from a process of its own;
- each agent (after all have signed in through the login form, with its CSRF token) is a
  requests.Session doing what the pages do, with think time scaled by DESK_LOAD_THINK: the
  inbox page (and its 5 s poll), a filtered or searched list, a ticket page (suggestions on
  load, presence beat every 3 s, thread refresh every 10 s, notification badge every 15 s),
  claim, typing, a reply (the composer's fields: text, visibility, last_seen_id,
  canned_reply_id; often the first suggested canned reply), sometimes resolve. Agents stop
  early at DESK_LOAD_MAX_REQUESTS (100000) requests. The login limit is raised (every agent
  signs in from 127.0.0.1) and each request gets its own connection, as behind a proxy.
Queue lengths and inbound-event states are sampled every second. After the load the run
waits (at most DESK_LOAD_DRAIN_SECONDS, 180) for the queues to drain, stops the stack and
checks: every distinct platform message id sent is exactly one message; every stored event
is processed; every reply an agent posted exists once, reached the platform at most once
and was delivered (or is held for approval by an open crisis incident); no 5xx and no
request without an answer; tests/invariants.py I1-I6. Any of those failing fails the run
(non-zero exit); jobs that failed and were retried are listed, with the logs kept in
tests/perf/reports/load-logs-<time>/. DESK_LOAD_WORKER_QUEUES overrides the workers' queues.
"""
import html
import itertools
import json
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import requests
from redis import Redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakeplatform import FakePlatform  # noqa: E402
from tests.perf import openloop  # noqa: E402
from tests.perf.common import (  # noqa: E402
    make_database,
    meta_signature,
    percentile,
    start_gunicorn,
    start_redis,
)
from tests.perf.generate import EN, ES, FIRST, LAST, PRODUCTS  # noqa: E402

SECRET = "load-meta-secret"
PASSWORD = "load-password-1"
PAGE, IG_ACCOUNT, WA_BUSINESS, WA_PHONE = "555000222", "17841400000000001", "102290000000001", "106540000000001"
QUEUE_NAMES = ("inbound", "outbound", "default", "notify")
TOKEN = re.compile(r"\[load (\d{2}-\d{4})\]")


def setting(name: str, default):
    """A DESK_LOAD_* knob from the environment, of the default's type."""
    value = os.environ.get(f"DESK_LOAD_{name}")
    return type(default)(value) if value not in (None, "") else default


@dataclass
class Config:
    """The run's knobs (DESK_LOAD_*), read when it starts."""

    seconds: float = field(default_factory=lambda: setting("SECONDS", 60.0))
    rate: float = field(default_factory=lambda: setting("RATE", 50.0))
    agents: int = field(default_factory=lambda: setting("AGENTS", 20))
    max_requests: int = field(default_factory=lambda: setting("MAX_REQUESTS", 100_000))
    drain_seconds: float = field(default_factory=lambda: setting("DRAIN_SECONDS", 180.0))
    think: float = field(default_factory=lambda: setting("THINK", 1.0))
    web_workers: int = field(default_factory=lambda: setting("WEB_WORKERS", 4))
    worker_class: str = field(default_factory=lambda: setting("WORKER_CLASS", "gthread"))
    threads: int = field(default_factory=lambda: setting("THREADS", 4))
    seed: int = field(default_factory=lambda: setting("SEED", 1))
    queues: str = field(default_factory=lambda: setting("WORKER_QUEUES", ""))  # default: desk worker's


# ---------------------------------------------------------------- request accounting

class Recorder:
    """Every request's endpoint, status (0 = no answer) and latency; stops the run at the cap."""

    def __init__(self, cap: int, stop: threading.Event):
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter] = defaultdict(Counter)
        self.failures: list[str] = []  # 5xx and transport errors, with what was asked
        self.count, self.cap, self.stop = 0, cap, stop
        self.lock = threading.Lock()

    def call(self, session: requests.Session, method: str, path: str, endpoint: str,
             base: str, **kwargs) -> requests.Response | None:
        started = time.perf_counter()
        try:
            response = session.request(method, base + path, timeout=30, **kwargs)
            status = response.status_code
        except requests.RequestException as exc:
            response, status = None, 0
            error = f"{endpoint} {path}: {type(exc).__name__}: {exc}"
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.samples[endpoint].append(elapsed)
            self.statuses[endpoint][status] += 1
            self.count += 1
            if status == 0 or status >= 500:
                self.failures.append(error if status == 0 else f"{endpoint} {path}: {status} "
                                     f"{response.text[:300]!r}")
            if self.count >= self.cap:
                self.stop.set()
        return response


# ---------------------------------------------------------------- the webhook stream

@dataclass
class Post:
    """One signed Meta delivery."""

    body: bytes
    signature: str
    events: int
    ids: tuple[str, ...]  # the platform message ids inside
    redelivery: bool = False


class Deliveries:
    """Builds realistic Meta deliveries: five event shapes, repeat contacts, unique ids."""

    def __init__(self, rng: random.Random):
        self.rng, self.seq = rng, itertools.count(1)
        self.names = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(400)]

    def _text(self) -> str:
        words = {"n": self.rng.randint(10_000, 99_999), "d": self.rng.randint(2, 20),
                 "p": self.rng.choice(PRODUCTS), "s": self.rng.randint(35, 46)}
        return self.rng.choice(ES if self.rng.random() < 0.65 else EN).format(**words)

    def _contact(self) -> int:
        return min(int(self.rng.expovariate(1 / 80)), 399)  # some customers write again and again

    def messenger(self) -> tuple[str, dict, str]:
        n, who, stamp = next(self.seq), self._contact(), 1_760_000_000_000 + next(self.seq)
        mid = f"m_load{n}"
        return "page", {"id": PAGE, "time": stamp, "messaging": [{
            "sender": {"id": f"psid-{who}"}, "recipient": {"id": PAGE}, "timestamp": stamp,
            "message": {"mid": mid, "text": self._text()}}]}, mid

    def instagram_dm(self) -> tuple[str, dict, str]:
        n, who, stamp = next(self.seq), self._contact(), 1_760_000_000_000 + next(self.seq)
        mid = f"aWdfbG9hZA{n}"
        return "instagram", {"id": IG_ACCOUNT, "time": stamp, "messaging": [{
            "sender": {"id": f"igsid-{who}"}, "recipient": {"id": IG_ACCOUNT}, "timestamp": stamp,
            "message": {"mid": mid, "text": self._text()}}]}, mid

    def facebook_comment(self) -> tuple[str, dict, str]:
        n, who = next(self.seq), self._contact()
        post = f"{PAGE}_{9000 + self.rng.randrange(12)}"
        comment = f"{post.split('_')[1]}_{n}"
        return "page", {"id": PAGE, "time": 1_760_000_000 + n, "changes": [{"field": "feed", "value": {
            "from": {"id": f"fbuser-{who}", "name": self.names[who]}, "item": "comment",
            "comment_id": comment, "post_id": post, "verb": "add", "parent_id": post,
            "created_time": 1_760_000_000 + n, "message": self._text()}}]}, comment

    def instagram_comment(self) -> tuple[str, dict, str]:
        n, who = next(self.seq), self._contact()
        comment = f"1786{n:012d}"
        return "instagram", {"id": IG_ACCOUNT, "time": 1_760_000_000 + n, "changes": [{
            "field": "comments", "value": {
                "id": comment, "from": {"id": f"iguser-{who}", "username": f"cliente.{who}"},
                "text": self._text(),
                "media": {"id": f"1791800000{self.rng.randrange(12)}", "media_product_type": "FEED"}}}]}, comment

    def whatsapp(self) -> tuple[str, dict, str]:
        n, who = next(self.seq), self._contact()
        wamid, phone = f"wamid.load{n}", f"3460000{who:04d}"
        return "whatsapp_business_account", {"id": WA_BUSINESS, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "34600000000", "phone_number_id": WA_PHONE},
            "contacts": [{"profile": {"name": self.names[who]}, "wa_id": phone}],
            "messages": [{"from": phone, "id": wamid, "timestamp": str(1_760_000_000 + n),
                          "type": "text", "text": {"body": self._text()}}]}}]}, wamid

    def post(self) -> Post:
        """A fresh delivery: one entry, or 2-3 entries of one object (~10 %)."""
        maker = self.rng.choices([self.messenger, self.instagram_dm, self.facebook_comment,
                                  self.instagram_comment, self.whatsapp], [25, 20, 15, 20, 20])[0]
        size = self.rng.choice((2, 3)) if self.rng.random() < 0.10 else 1
        made = [maker() for _ in range(size)]
        body = json.dumps({"object": made[0][0], "entry": [entry for _o, entry, _id in made]}).encode()
        return Post(body, meta_signature(body, SECRET), size, tuple(mid for *_x, mid in made))


def schedule(rate: float, seconds: float, rng: random.Random) -> list[Post]:
    """Deliveries holding `rate` × `seconds` events; ~5 % repeat one of the last 200 posts."""
    maker, posts, events = Deliveries(rng), [], 0
    while events < rate * seconds:
        if posts and rng.random() < 0.05:  # the platform delivers an earlier post again
            post = replace(rng.choice(posts[-200:]), redelivery=True)
        else:
            post = maker.post()
        posts.append(post)
        events += post.events
    return posts


class WebhookStream:
    """The posts sent open-loop, evenly spaced over `seconds` (tests/perf/openloop.py), from a
    process of its own so that the agents' threads cannot make it late."""

    def __init__(self, posts: list[Post], port: int, seconds: float):
        self.posts, self.port, self.seconds = posts, port, seconds
        self.prepared = [openloop.http_request("127.0.0.1", port, "/webhooks/meta", post.body, {
            "Content-Type": "application/json", "X-Hub-Signature-256": post.signature}) for post in posts]
        self.result: openloop.Result | None = None
        self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self.pool.submit(int).result()  # the child is up before the clock starts

    def start(self) -> None:
        self.future = self.pool.submit(openloop.post_open_loop, "127.0.0.1", self.port, self.prepared,
                                       len(self.prepared) / self.seconds, timeout=30)

    def join(self) -> None:
        self.result = self.future.result()
        self.pool.shutdown()

    def record(self, recorder: "Recorder") -> None:
        """Latencies (from each post's due time) and statuses into the request table."""
        endpoint = "POST /webhooks/meta"
        recorder.samples[endpoint].extend(self.result.latencies_ms)
        recorder.statuses[endpoint].update(self.result.statuses)
        failed = [s for s in self.result.statuses if s == 0 or s >= 500]
        if failed:
            recorder.failures.append(f"{endpoint}: {len(failed)} answers {dict(Counter(failed))}")

    @property
    def all_acknowledged(self) -> bool:
        return self.result is not None and self.result.statuses.count(200) == len(self.posts)


# ---------------------------------------------------------------- the agents

FILTERS = [("view=unassigned", 30), ("view=unassigned&platform=instagram", 8),
           ("view=unassigned&platform=facebook", 6), ("view=unassigned&platform=whatsapp", 6),
           ("view=unassigned&kind=dm", 8), ("view=unassigned&sort=oldest", 8), ("view=mine", 10),
           ("q=pedido", 8), ("q=talla", 4), ("q=refund", 4), ("view=at_risk", 4), ("language=en", 4)]
FREE_TEXT = ["¡Hola! Lo revisamos ahora mismo y te escribimos por DM.",
             "Gracias por escribirnos, ¿nos pasas el número de pedido?",
             "Hi! We're checking right now and will get back to you shortly."]


def hidden_value(page: str, name: str) -> str | None:
    """The value of the <input name=...> on a page, whatever the attribute order."""
    for tag in re.findall(r"<input\b[^>]*>", page):
        if f'name="{name}"' in tag:
            found = re.search(r'value="([^"]*)"', tag)
            return html.unescape(found.group(1)) if found else ""
    return None


class Agent(threading.Thread):
    """One community manager in a browser: the requests the desk's pages make, with think time."""

    def __init__(self, index: int, base: str, recorder: Recorder, stop: threading.Event,
                 go: threading.Event, think: float, seed: int):
        super().__init__(daemon=True)
        self.index, self.base, self.recorder, self.stop, self.go = index, base, recorder, stop, go
        self.signed_in = threading.Event()
        self.think, self.rng = think, random.Random(seed * 1000 + index)
        self.session = requests.Session()
        # A connection per request, as gunicorn sees it behind the README's reverse proxy; a
        # reused idle connection races gunicorn's 2 s keep-alive close and loses a POST.
        self.session.headers["Connection"] = "close"
        self.replies: dict[str, int] = {}  # token -> the reply POST's status (0: no answer)
        self.crash: str | None = None
        self.sequence = itertools.count(1)

    def get(self, path: str, endpoint: str, fragment: bool = False):
        headers = {"HX-Request": "true"} if fragment else {}
        return self.recorder.call(self.session, "GET", path, endpoint, self.base, headers=headers)

    def post(self, path: str, endpoint: str, data=None, allow_redirects=True):
        return self.recorder.call(self.session, "POST", path, endpoint, self.base, data=data or {},
                                  headers={"HX-Request": "true"}, allow_redirects=allow_redirects)

    def dwell(self, mean_seconds: float, beats: list[tuple[float, callable]]) -> None:
        """Think for a while on a page; the page's own timers (`beats`) keep firing meanwhile."""
        duration = min(self.rng.expovariate(1 / mean_seconds), 4 * mean_seconds) * self.think
        end = time.monotonic() + duration
        due = [time.monotonic() + interval for interval, _fire in beats]
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= end:
                return
            for i, (interval, fire) in enumerate(beats):
                if now >= due[i]:
                    fire()
                    due[i] = now + interval
            self.stop.wait(max(0.0, min([end, *due]) - time.monotonic()))

    def sign_in(self) -> bool:
        page = self.get("/login", "GET /login")
        token = hidden_value(page.text, "csrf_token") if page is not None else None
        answer = self.post("/login", "POST /login", allow_redirects=False, data={
            "csrf_token": token or "", "email": f"agent{self.index:02d}@load.test", "password": PASSWORD})
        return answer is not None and answer.status_code == 302

    def run(self):
        try:
            signed_in = self.sign_in()
            self.signed_in.set()
            if not signed_in:
                self.crash = "sign-in failed"
                return
            self.go.wait()
            while not self.stop.is_set():
                self.one_ticket()
        except Exception:  # an agent that breaks is a finding, not a reason to stop the run
            self.crash = traceback.format_exc()
            self.signed_in.set()

    def one_ticket(self) -> None:
        inbox = self.get("/inbox", "GET /inbox")
        if inbox is None or inbox.status_code != 200:
            self.stop.wait(1)
            return
        token = re.search(r'"X-CSRFToken": "([^"]+)"', inbox.text)
        if token:
            self.session.headers["X-CSRFToken"] = token.group(1)
        poll = re.search(r'id="inbox-poller"[^>]*hx-get="([^"]+)"', inbox.text)
        self.get("/notifications/badge", "GET /notifications/badge", fragment=True)
        if poll:
            url = html.unescape(poll.group(1))
            self.dwell(2.0, [(5.0, lambda: self.get(url, "GET /inbox/poll", fragment=True))])
        query = self.rng.choices([f for f, _w in FILTERS], [w for _f, w in FILTERS])[0]
        listing = self.get(f"/inbox/list?{query}", "GET /inbox/list", fragment=True)
        ids = re.findall(r'data-ticket-id="(\d+)"', listing.text) if listing is not None else []
        if not ids:
            self.dwell(2.0, [])
            return
        ticket = int(self.rng.choice(ids[:8]))
        self.work_on(ticket)

    def work_on(self, ticket: int) -> None:
        base = f"/tickets/{ticket}"
        page = self.get(base, "GET /tickets/<id>")
        if page is None or page.status_code != 200:
            return
        seen = hidden_value(page.text, "last_seen_id")
        options = re.findall(r'name="visibility" value="(\w+)"', page.text)
        suggestions = self.get(f"{base}/suggestions", "GET /tickets/<id>/suggestions", fragment=True)
        beat = (3.0, lambda: self.post(f"{base}/presence", "POST /tickets/<id>/presence"))
        page_timers = [beat, (10.0, lambda: self.get(f"{base}/thread", "GET /tickets/<id>/thread", fragment=True)),
                       (15.0, lambda: self.get("/notifications/badge", "GET /notifications/badge", fragment=True))]
        beat[1]()
        self.dwell(3.0, page_timers)  # reading the thread
        if self.stop.is_set() or not options or seen is None:
            return
        if self.rng.random() < 0.85:
            claimed = self.post(f"{base}/claim", "POST /tickets/<id>/claim")
            if claimed is None or claimed.status_code != 200:
                return  # a colleague took it first (409): back to the inbox
        self.post(f"{base}/typing", "POST /tickets/<id>/typing")
        self.dwell(4.0, page_timers)  # typing
        if self.stop.is_set():
            return
        offered = re.findall(r'data-reply-id="(\d+)" data-text="([^"]*)"',
                             suggestions.text if suggestions is not None else "")
        canned, text = "", self.rng.choice(FREE_TEXT)
        if offered and self.rng.random() < 0.7:
            canned, text = offered[0][0], html.unescape(offered[0][1])
        token = f"{self.index:02d}-{next(self.sequence):04d}"
        answer = self.post(f"{base}/reply", "POST /tickets/<id>/reply", data={
            "last_seen_id": seen, "canned_reply_id": canned, "visibility": options[0],
            "text": f"{text} [load {token}]"})
        self.replies[token] = answer.status_code if answer is not None else 0
        if answer is not None and answer.status_code == 200 and self.rng.random() < 0.3:
            self.post(f"{base}/resolve", "POST /tickets/<id>/resolve")


# ---------------------------------------------------------------- the stack

class Stack:
    """Database, Redis, fake platform, gunicorn, two RQ workers and the scheduler."""

    def __init__(self, config: Config):
        self.config = config
        self.folder = tempfile.mkdtemp(prefix="desk-load-")
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.logs: dict[str, Path] = {}
        self.open_logs: list = []
        self.url, self.drop = make_database("postgresql", self.folder, prefix="desk_bench_load")
        self.redis, self.redis_url = start_redis(self.folder)
        self.fake = FakePlatform().start()
        self.env = {**os.environ, "DESK_DATABASE_URL": self.url, "DESK_REDIS_URL": self.redis_url,
                    "DESK_RATELIMIT_STORAGE_URI": self.redis_url.replace("unix://", "redis+unix://"),
                    "DESK_SECRET_KEY": "load-run", "DESK_META_APP_SECRET": SECRET,
                    "DESK_META_GRAPH_URL": self.fake.url + "/graph",
                    "DESK_WHATSAPP_GRAPH_URL": self.fake.url + "/wa", "DESK_SANDBOX": "false",
                    # every agent signs in from 127.0.0.1: the per-IP login limit is for attackers
                    "DESK_LOGIN_RATE_LIMIT": "1000 per minute", "PYTHONPATH": str(ROOT)}
        self.base = ""

    def desk(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "desk", *args]

    def log(self, name: str):
        self.logs[name] = Path(self.folder) / f"{name}.log"
        self.open_logs.append(open(self.logs[name], "w"))
        return self.open_logs[-1]

    def prepare(self) -> None:
        """Schema by `desk init-db`, then channels, agents and canned replies."""
        subprocess.run(self.desk("init-db"), env=self.env, cwd=ROOT, check=True, capture_output=True)
        script = f"""
from pathlib import Path
from desk import create_app
from desk.accounts.users import create_user
from desk.channels.accounts import add_channel
from desk.core.clock import now
from desk.replies.library import import_library
app = create_app()
with app.app_context():
    add_channel("facebook", "{PAGE}", "Zapatería Sol")
    add_channel("instagram", "{IG_ACCOUNT}", "@zapateriasol")
    add_channel("whatsapp", "{WA_PHONE}", "Zapatería Sol WhatsApp")
    for i in range({self.config.agents}):
        create_user(f"agent{{i:02d}}@load.test", f"Agent {{i:02d}}", "{PASSWORD}", "cm")
    create_user("smm@load.test", "Social Manager", "{PASSWORD}", "smm")
    import_library(Path("desk/demo/canned-replies.json").read_text(encoding="utf-8"), now())
"""
        subprocess.run([sys.executable, "-c", script], env=self.env, cwd=ROOT, check=True)

    def start(self) -> None:
        c = self.config
        web, self.base = start_gunicorn(self.env, c.web_workers, c.worker_class, c.threads,
                                        log=self.log("gunicorn"))
        self.processes.append(("gunicorn", web))
        queues = ["--queues", c.queues] if c.queues else []
        for name, args in (("worker-1", ["worker", *queues]),
                           ("worker-2", ["worker", *queues, "--with-scheduler"]),
                           ("scheduler", ["scheduler"])):
            self.processes.append((name, subprocess.Popen(self.desk(*args), env=self.env, cwd=ROOT,
                                                          stdout=self.log(name), stderr=subprocess.STDOUT)))

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by each process of the stack (with its children) and by this
        database's PostgreSQL backends, from /proc: where the machine's cores went."""
        tick = os.sysconf("SC_CLK_TCK")
        stats = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)

        def tree(pid: int) -> float:
            return stats.get(pid, (0, 0.0))[1] + sum(tree(child) for child, (parent, _cpu) in stats.items()
                                                     if parent == pid)
        used = {name: round(tree(process.pid), 1) for name, process in self.processes}
        name = self.url.rsplit("/", 1)[1]
        with psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"),
                             autocommit=True) as conn:
            backends = [row[0] for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))]
        used["postgresql backends"] = round(sum(stats.get(pid, (0, 0.0))[1] for pid in backends), 1)
        used["redis"] = round(tree(self.redis.pid), 1)
        used["load generator"] = round(time.process_time(), 1)
        return used

    def stop(self) -> None:
        for _name, process in self.processes:
            if process.poll() is None:
                process.terminate()
        for _name, process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []

    def errors(self) -> dict[str, Counter]:
        """Per process, the errors it logged: failed jobs and web exceptions by final exception."""
        found = {}
        for name, path in self.logs.items():
            text = path.read_text(errors="replace") if path.exists() else ""
            # An RQ job failure or a Flask "Exception on /path" entry runs up to the next timestamp.
            entries = re.findall(r"(?:exception raised while executing|Exception on ).*\n(?:(?!\d\d:\d\d:\d\d |\[\d{4}-).*\n)*",
                                 text)
            kinds = Counter()
            for entry in entries:
                finals = [line for line in entry.splitlines()
                          if re.match(r"^[\w.]+(Error|Exception|Detected|Timeout|Exit)\b[\w.]*: ", line)]
                kinds[(finals[-1] if finals else entry.splitlines()[0])[:200]] += 1
            if kinds:
                found[name] = kinds
        return found

    def close(self, keep_logs: Path | None) -> None:
        self.stop()
        [log.close() for log in self.open_logs]
        self.fake.stop()
        self.redis.terminate()
        self.redis.wait(timeout=10)
        self.drop()
        if keep_logs:
            keep_logs.mkdir(parents=True, exist_ok=True)
            for path in self.logs.values():
                if path.exists():
                    shutil.copy(path, keep_logs / path.name)
        shutil.rmtree(self.folder, ignore_errors=True)


# ---------------------------------------------------------------- sampling and draining

class Sampler(threading.Thread):
    """Every second: RQ queue lengths, jobs running, inbound events by state, sends in flight."""

    def __init__(self, stack: Stack):
        super().__init__(daemon=True)
        self.redis = Redis.from_url(stack.redis_url)
        self.dsn = stack.url.replace("postgresql+psycopg://", "postgresql://")
        self.samples: list[dict] = []
        self.finished = threading.Event()

    def sample(self, conn) -> dict:
        from rq import Queue
        from rq.registry import StartedJobRegistry
        row = {"t": time.perf_counter()}
        for name in QUEUE_NAMES:
            row[name] = Queue(name, connection=self.redis).count
            row["running"] = row.get("running", 0) + StartedJobRegistry(name, connection=self.redis).count
        states = dict(conn.execute("SELECT status, count(*) FROM inbound_event GROUP BY status").fetchall())
        row["events"] = states
        row["sending"] = conn.execute(
            "SELECT count(*) FROM message WHERE direction = 'out' AND delivery_state IN "
            "('pending', 'sending', 'retrying')").fetchone()[0]
        return row

    def run(self):
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.finished.is_set():
                self.samples.append(self.sample(conn))
                self.finished.wait(1.0)

    def event_waits(self) -> list[float]:
        """Per event, ms from the second it was stored to the second it was done (FIFO estimate)."""
        def first_reaching(counts):
            times, k = [], 0
            for t, n in counts:
                while k < n:
                    times.append(t)
                    k += 1
            return times
        stored = first_reaching((s["t"], sum(s["events"].values())) for s in self.samples)
        done = first_reaching((s["t"], sum(n for state, n in s["events"].items() if state not in
                                           ("received", "enqueued"))) for s in self.samples)
        return [(d - a) * 1000 for a, d in zip(stored, done)]

    def idle(self) -> bool:
        """The last two samples show nothing queued, running, waiting or being sent."""
        if len(self.samples) < 2:
            return False
        return all(sum(s[q] for q in QUEUE_NAMES) == 0 and s["running"] == 0 and s["sending"] == 0
                   and s["events"].get("received", 0) + s["events"].get("enqueued", 0) == 0
                   for s in self.samples[-2:])


# ---------------------------------------------------------------- the end checks

def expected_events(posts: list[Post]) -> set[tuple[str, str]]:
    """(source, dedupe key) of every event in these posts, as the desk computes them."""
    from desk.channels import meta
    from desk.intake.events import _dedupe_key
    return {("meta", _dedupe_key(e.dedupe_key)) for post in posts for e in meta.split(json.loads(post.body))}


def check(stack: Stack, posts: list[Post], replies: dict[str, int]) -> dict:
    """What was lost, duplicated, left unprocessed or sent twice; I1-I6.

    Every post counts as acknowledged: one that was not is a failure of its own, and the
    platform would deliver it again (a message counted lost may then be one of those)."""
    from sqlalchemy import func, select

    from desk import create_app
    from desk.core.extensions import db
    from desk.inbox.tickets import Message, Ticket
    from desk.intake.events import InboundEvent
    from tests.invariants import assert_invariants

    app = create_app({"DATABASE_URL": stack.url, "REDIS_URL": stack.redis_url, "SECRET_KEY": "load-run",
                      "RATELIMIT_STORAGE_URI": stack.env["DESK_RATELIMIT_STORAGE_URI"]})
    sent_ids = {mid for post in posts for mid in post.ids}
    result: dict = {}
    with app.app_context():
        stored = dict(db.session.execute(
            select(Message.platform_message_id, func.count()).where(
                Message.direction == "in", Message.platform_message_id.is_not(None))
            .group_by(Message.platform_message_id)).all())
        result["messages_expected"] = len(sent_ids)
        result["messages_lost"] = sorted(sent_ids - set(stored))
        result["messages_duplicated"] = {k: n for k, n in stored.items() if n > 1}
        result["messages_unexpected"] = sorted(set(stored) - sent_ids)
        result["events"] = dict(db.session.execute(
            select(InboundEvent.status, func.count()).group_by(InboundEvent.status)).all())
        result["tickets"] = db.session.scalar(select(func.count()).select_from(Ticket))
        result["messages"] = db.session.scalar(select(func.count()).select_from(Message))

        rows = db.session.execute(select(
            Message.text, Message.delivery_state, Message.sent_at, Message.delivered_at).where(
            Message.direction == "out", Message.author_id.is_not(None))).all()
        in_desk: dict[str, list[str]] = defaultdict(list)
        result["reply_to_send_ms"] = []  # reply stored -> its send job started (queue wait)
        for text, state, created, delivered in rows:
            found = TOKEN.search(text or "")
            if found:
                in_desk[found.group(1)].append(state)
                if delivered is not None:
                    result["reply_to_send_ms"].append((delivered - created).total_seconds() * 1000)
        calls = Counter(found.group(1) for call in list(stack.fake.calls)
                        for found in [TOKEN.search(json.dumps(call["json"], ensure_ascii=False))] if found)
        outcome = Counter()
        problems: list[str] = []
        for token, status in replies.items():
            states, sent = in_desk.get(token, []), calls.get(token, 0)
            if sent > 1:
                problems.append(f"reply {token} reached the platform {sent} times")
            if len(states) > 1:
                problems.append(f"reply {token} stored {len(states)} times")
            if status == 200 and not states:
                problems.append(f"reply {token} acknowledged but not stored")
            if 400 <= status < 500 and states:
                problems.append(f"reply {token} refused ({status}) but stored")
            for state in states[:1]:
                outcome[state] += 1
                if state == "delivered" and sent != 1:
                    problems.append(f"reply {token} delivered after {sent} platform calls")
                if state == "held" and sent:
                    problems.append(f"reply {token} held for approval yet sent")
                if state not in ("delivered", "held"):
                    problems.append(f"reply {token} ended {state}")
        result["replies_posted"] = len(replies)
        result["replies_by_answer"] = dict(Counter(replies.values()))
        result["replies_by_state"] = dict(outcome)
        result["reply_problems"] = problems
        result["platform_calls"] = len(stack.fake.calls)
        try:
            assert_invariants(accepted=expected_events(posts), messages=sent_ids, platform=stack.fake)
            result["invariants"] = "I1-I6 hold"
        except AssertionError as exc:
            result["invariants"] = f"FAILED: {exc}"
        db.session.remove()
        db.engine.dispose()
    return result


# ---------------------------------------------------------------- the run

def machine_load() -> str:
    load = os.getloadavg()
    return f"load average {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} on {os.cpu_count()} cores"


def summarise(config: Config, recorder: Recorder, stream: WebhookStream, posts: list[Post],
              sampler: Sampler, load_window: tuple[float, float], drain_seconds: float,
              checks: dict, crashes: list[str], errors: dict, load_before: str,
              cpu: dict[str, float]) -> list[dict]:
    rows = []
    started, ended = load_window
    elapsed = max(ended - started, 1e-9)
    for endpoint in sorted(recorder.samples):
        samples, statuses = recorder.samples[endpoint], recorder.statuses[endpoint]
        server_errors = sum(n for code, n in statuses.items() if code >= 500 or code == 0)
        others = ", ".join(f"{n}×{code or 'no answer'}" for code, n in sorted(statuses.items()) if code != 200)
        rows.append({"name": f"load: {endpoint}", "n": len(samples),
                     "median_ms": round(percentile(samples, 50), 1),
                     "p95_ms": round(percentile(samples, 95), 1), "p99_ms": round(percentile(samples, 99), 1),
                     "budget": "no 5xx, no transport error", "ok": server_errors == 0,
                     "data_size": f"{len(samples) / elapsed:.1f}/s; {others or 'all 200'}"})
    sent = stream.result
    events_sent = sum(post.events for post in posts)
    achieved = events_sent / max(sent.elapsed_s, 1e-9)
    rows.append({"name": "load: webhook stream (open loop)", "n": len(sent.statuses),
                 "median_ms": "", "p95_ms": "", "p99_ms": "",
                 "budget": f">= 95 % of {config.rate:g} events/s, all acknowledged",
                 "ok": achieved >= 0.95 * config.rate and stream.all_acknowledged,
                 "data_size": f"{events_sent} events in {len(posts)} posts over {sent.elapsed_s:.1f} s "
                              f"({achieved:.1f} events/s); {sum(p.redelivery for p in posts)} re-deliveries, "
                              f"{sum(p.events > 1 and not p.redelivery for p in posts)} multi-entry; "
                              f"{sent.statuses.count(200)} acknowledged; {sent.late_starts} sent late "
                              f"by the generator"})
    during = [s for s in sampler.samples if started <= s["t"] <= ended]
    processed_at_end = during[-1]["events"].get("processed", 0) if during else 0
    processed_at_start = during[0]["events"].get("processed", 0) if during else 0
    processed = checks["events"].get("processed", 0)
    unprocessed = sum(n for state, n in checks["events"].items() if state in ("received", "enqueued", "failed"))
    rows.append({"name": "load: events processed", "n": processed, "median_ms": "", "p95_ms": "", "p99_ms": "",
                 "budget": "every stored event processed", "ok": unprocessed == 0,
                 "data_size": f"{(processed_at_end - processed_at_start) / elapsed:.1f} events/s during "
                              f"the load; queues drained {drain_seconds:.1f} s after it; states "
                              f"{checks['events']}; {checks['tickets']} tickets, {checks['messages']} messages"})
    waits = sampler.event_waits()
    rows.append({"name": "load: webhook -> ticket (estimate, 1 s resolution)", "n": len(waits),
                 "median_ms": round(percentile(waits, 50)), "p95_ms": round(percentile(waits, 95)),
                 "p99_ms": round(percentile(waits, 99)), "budget": "(figures)", "ok": True,
                 "data_size": "horizontal distance between the stored and the processed event counts"})
    sends = checks["reply_to_send_ms"]
    rows.append({"name": "load: reply -> send job started", "n": len(sends),
                 "median_ms": round(percentile(sends, 50)), "p95_ms": round(percentile(sends, 95)),
                 "p99_ms": round(percentile(sends, 99)), "budget": "(figures)", "ok": True,
                 "data_size": "Message.delivered_at - sent_at of the agents' replies: time in the outbound queue"})
    depth = {q: [s[q] for s in sampler.samples if s["t"] <= ended] or [0] for q in QUEUE_NAMES}
    waiting = [s["events"].get("received", 0) + s["events"].get("enqueued", 0)
               for s in sampler.samples if s["t"] <= ended] or [0]
    rows.append({"name": "load: queue depth (1 s samples)", "n": len(waiting),
                 "median_ms": "", "p95_ms": "", "p99_ms": "", "budget": "(figures)", "ok": True,
                 "data_size": "; ".join(f"{q} max {max(v)} mean {sum(v) / len(v):.1f}" for q, v in depth.items())
                              + f"; events waiting max {max(waiting)} mean {sum(waiting) / len(waiting):.1f}"})
    lost, doubled = checks["messages_lost"], checks["messages_duplicated"]
    integrity_ok = (not lost and not doubled and not checks["messages_unexpected"]
                    and not checks["reply_problems"] and checks["invariants"] == "I1-I6 hold")
    rows.append({"name": "load: nothing lost or duplicated", "n": checks["messages_expected"],
                 "median_ms": "", "p95_ms": "", "p99_ms": "", "budget": "0 lost, 0 duplicated, I1-I6",
                 "ok": integrity_ok,
                 "data_size": f"messages lost {len(lost)}, duplicated {len(doubled)}; replies posted "
                              f"{checks['replies_posted']} (answers {checks['replies_by_answer']}, states "
                              f"{checks['replies_by_state']}), problems {len(checks['reply_problems'])}; "
                              f"{checks['platform_calls']} platform calls; {checks['invariants']}",
                 "detail": {"lost": lost[:20], "duplicated": dict(list(doubled.items())[:20]),
                            "unexpected": checks["messages_unexpected"][:20],
                            "reply_problems": checks["reply_problems"][:50]}})
    total = recorder.count
    failed_jobs = sum(sum(kinds.values()) for name, kinds in errors.items() if name != "gunicorn")
    rows.append({"name": "load: job failures (retried)", "n": failed_jobs, "median_ms": "", "p95_ms": "",
                 "p99_ms": "", "budget": "(figures: a retried job loses nothing, see the checks)", "ok": True,
                 "data_size": "; ".join(f"{name}: " + ", ".join(f"{n}× {kind}" for kind, n in kinds.items())
                                        for name, kinds in errors.items()) or "none"})
    rows.append({"name": "load: whole run", "n": total, "median_ms": "", "p95_ms": "", "p99_ms": "",
                 "budget": "no agent broke", "ok": not crashes,
                 "data_size": f"{total / elapsed:.1f} requests/s over {elapsed:.1f} s; {config.agents} agents, "
                              f"gunicorn {config.web_workers}×{config.worker_class}"
                              f"{f'×{config.threads} threads' if config.worker_class == 'gthread' else ''}, "
                              f"2 RQ workers, PostgreSQL; before: {load_before}; after: {machine_load()}; "
                              f"CPU seconds until drained: {cpu}",
                 "detail": {"agent_crashes": crashes[:5], "failures": recorder.failures[:20],
                            "errors": {k: dict(v) for k, v in errors.items()}}})
    return rows


def run(report: list) -> None:
    config = Config()
    load_before = machine_load()
    stack = Stack(config)
    failed = True
    try:
        stack.prepare()
        stack.start()
        posts = schedule(config.rate, config.seconds, random.Random(config.seed))
        stop = threading.Event()
        recorder = Recorder(config.max_requests, stop)
        sampler = Sampler(stack)
        sampler.start()
        go = threading.Event()
        agents = [Agent(i, stack.base, recorder, stop, go, config.think, config.seed)
                  for i in range(config.agents)]
        [agent.start() for agent in agents]  # the shift starts: everyone signs in first
        [agent.signed_in.wait(120) for agent in agents]
        stream = WebhookStream(posts, int(stack.base.rsplit(":", 1)[1]), config.seconds)
        started = time.perf_counter()
        stream.start()
        go.set()
        stop.wait(config.seconds)
        stop.set()
        stream.join()
        [agent.join(60) for agent in agents]
        ended = time.perf_counter()
        stream.record(recorder)
        deadline = ended + config.drain_seconds
        while time.perf_counter() < deadline and not sampler.idle():
            time.sleep(0.5)
        drained = time.perf_counter() - ended
        sampler.finished.set()
        sampler.join(10)
        cpu = stack.cpu_seconds()
        stack.stop()
        replies = {token: status for agent in agents for token, status in agent.replies.items()}
        checks = check(stack, posts, replies)
        crashes = [f"agent {a.index}: {a.crash}" for a in agents if a.crash]
        rows = summarise(config, recorder, stream, posts, sampler, (started, ended), drained, checks,
                         crashes, stack.errors(), load_before, cpu)
        report.extend(rows)
        failed = not all(row["ok"] for row in rows) or bool(stack.errors())
        for failure in recorder.failures[:20]:
            print(f"failed request: {failure}", file=sys.stderr)
    finally:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")
        keep = HERE / "reports" / f"load-logs-{stamp}" if failed else None
        stack.close(keep_logs=keep)
        if keep:  # the tracebacks behind a failure or a failed job
            print(f"server and worker logs kept in {keep}", file=sys.stderr)


if __name__ == "__main__":
    results: list = []
    run(results)
    for row in results:
        print(json.dumps({k: v for k, v in row.items() if k != "detail"}, ensure_ascii=False))
    sys.exit(0 if results and all(row["ok"] for row in results) else 1)
