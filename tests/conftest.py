"""Shared fixtures: a private Redis, a throwaway database (SQLite or PostgreSQL), the app,
clients that carry CSRF tokens, users, an in-process RQ worker, and a live server.

DESK_TEST_DB=sqlite|postgresql picks the database; `make test` runs the suite on both.
Under CI=true a missing required part (Redis, PostgreSQL, Chromium) fails instead of skipping.
"""
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
import uuid
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from redis import Redis
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from desk import create_app
from desk.core.extensions import db
from tests.fakeplatform import FakePlatform

CI = os.environ.get("CI") == "true"
DB_BACKEND = os.environ.get("DESK_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "DESK_TEST_POSTGRES_URL", "postgresql+psycopg://desk:desk@127.0.0.1:5432/postgres")
PASSWORD = "correct horse battery"
CHROMIUM = os.environ.get("DESK_CHROMIUM", "/usr/bin/chromium")


def require(condition: bool, reason: str) -> None:
    """Skip a test whose part is missing; under CI=true that is a failure instead."""
    if condition:
        return
    if CI:
        pytest.fail(f"required under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if CI and reporter and reporter.stats.get("skipped") and session.exitstatus == 0:
        reporter.write_line("CI=true: skipped tests count as failures here", red=True)
        session.exitstatus = 1


# --- Redis -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A private redis-server on a unix socket (no TCP), for the whole test session."""
    exe = shutil.which("redis-server")
    require(exe is not None, "redis-server is not installed (apt-get install redis-server)")
    folder = tmp_path_factory.mktemp("redis")
    sock = folder / "redis.sock"
    server = RedisProcess(exe, folder, sock)
    server.start()
    yield server
    server.stop()


class RedisProcess:
    """A redis-server child process that tests may stop and start again (fault tests)."""

    def __init__(self, exe, folder, sock):
        self.exe, self.folder, self.sock = exe, folder, sock
        self.url = f"unix://{sock}"
        self.limiter_url = f"redis+unix://{sock}"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [self.exe, "--port", "0", "--unixsocket", str(self.sock), "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = Redis.from_url(self.url)
        for _ in range(250):
            try:
                if client.ping():
                    return
            except Exception:
                time.sleep(0.02)
        raise RuntimeError("private redis-server did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_url(redis_server):
    return redis_server.url


# --- Database --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A fresh, empty database for this test session."""
    if DB_BACKEND == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'desk.sqlite3'}"
        return
    assert DB_BACKEND == "postgresql", f"DESK_TEST_DB must be sqlite or postgresql, not {DB_BACKEND}"
    import psycopg
    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        require(False, f"PostgreSQL not reachable at {admin}: {exc}")
    name = f"desk_test_{uuid.uuid4().hex[:12]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture
def new_database_url(tmp_path):
    """Factory: new_database_url() -> the URL of another empty database (dropped afterwards)."""
    made = []

    def make():
        if DB_BACKEND == "sqlite":
            return f"sqlite:///{tmp_path / f'desk-{uuid.uuid4().hex[:8]}.sqlite3'}"
        import psycopg
        name = f"desk_extra_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    yield make
    if made:
        import psycopg
        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as admin:
            for name in made:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(new_database_url):
    return new_database_url()


def app_config(database_url: str, redis_server) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_server.url,
        "RATELIMIT_STORAGE_URI": redis_server.limiter_url,
        # Cheap argon2id: the suite signs in hundreds of times (desk/core/config.py).
        "PASSWORD_HASH_TIME_COST": 1, "PASSWORD_HASH_MEMORY_KIB": 1024,
        "META_APP_SECRET": "meta-app-secret",
        "META_VERIFY_TOKEN": "meta-verify-token",
        "X_CONSUMER_SECRET": "x-consumer-secret",
        "BASE_URL": "http://desk.test",
        # Nothing leaves the machine: platform calls not pointed at a fake are refused at once.
        "META_GRAPH_URL": "http://127.0.0.1:9/graph",
        "WHATSAPP_GRAPH_URL": "http://127.0.0.1:9/wa",
        "X_API_URL": "http://127.0.0.1:9/x",
    }


@pytest.fixture(scope="session")
def app(database_url, redis_server):
    """The app on the session's database, schema created from the models."""
    application = create_app(app_config(database_url, redis_server))
    application.test_client_class = DeskClient
    with application.app_context():
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request):
    """After a test that used the app: empty every table and the Redis database."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        for attempt in range(5):
            try:
                _empty(tables)
                break
            except DBAPIError as exc:
                # A browser test's page may still be polling the live server: its request
                # and TRUNCATE can deadlock, and PostgreSQL aborts one of them. Try again.
                if attempt == 4 or "deadlock" not in str(exc).lower():
                    raise
                time.sleep(0.2)
    server = request.getfixturevalue("redis_server")
    if server.process and server.process.poll() is None:
        Redis.from_url(server.url).flushdb()


# Tables the change-mark triggers write to while other tables are emptied: emptied last.
MARK_TABLES = ("report_dirty_ticket", "report_dirty_customer", "board_count")


def _empty(tables: list[str]) -> None:
    """Empty `tables` (children first) and restart their ids. On PostgreSQL only the tables
    that hold rows are emptied and only the used sequences restarted: a TRUNCATE of every
    table cost ~250 ms a test, four minutes a run."""
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            probe = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")"
                                       for t in tables)
            used = set(conn.execute(text(probe)).scalars())
            tables = [t for t in tables if t in used]
            sequences = conn.execute(text(
                "SELECT schemaname || '.' || sequencename FROM pg_sequences "
                "WHERE last_value IS NOT NULL")).scalars().all()
        else:
            sequences = []
        for table in [t for t in tables if t not in MARK_TABLES] + list(MARK_TABLES):
            conn.execute(text(f'DELETE FROM "{table}"'))
        for sequence in sequences:
            conn.execute(text("SELECT setval(:s, 1, false)"), {"s": sequence})


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app
        db.session.remove()


class DeskClient(FlaskClient):
    """A test client that sends a valid CSRF header on unsafe requests unless csrf=False."""

    def open(self, *args, csrf: bool = True, **kwargs):
        method = (kwargs.get("method") or "GET").upper()
        if csrf and method not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)

    def csrf_token(self) -> str:
        """The signed token Flask-WTF expects for this client's session."""
        with self.session_transaction() as session:
            raw = session.setdefault("csrf_token", secrets.token_hex(20))
        serializer = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token")
        return serializer.dumps(raw)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_user(app):
    """Factory: make_user(role="cm", email=None, name=None) -> committed User."""
    from desk.accounts.users import create_user

    def make(role="cm", email=None, name=None, locale=None):
        with app.app_context():
            email = email or f"{role}-{uuid.uuid4().hex[:6]}@desk.test"
            user = create_user(email, name or f"{role.upper()} Tester", PASSWORD, role, locale)
            db.session.refresh(user)
            db.session.expunge(user)
            return user
    return make


@pytest.fixture
def login(client):
    """login(user) signs the test client in; returns the response."""
    def sign_in(user, password=PASSWORD, active_client=None):
        return (active_client or client).post(
            "/login", data={"email": user.email, "password": password})
    return sign_in


@pytest.fixture
def run_jobs(app, redis_server):
    """Run every queued job in-process (RQ SimpleWorker, burst); fail on failed jobs."""
    from rq import SimpleWorker
    from rq.registry import FailedJobRegistry

    from desk.core.queue import QUEUES, get_queue

    def run(allow_failures: bool = False) -> int:
        connection = Redis.from_url(redis_server.url)
        queues = [get_queue(name, connection) for name in QUEUES]
        worker = SimpleWorker(queues, connection=connection)
        with app.app_context():
            worker.work(burst=True)
        failed = [job_id for q in queues for job_id in FailedJobRegistry(queue=q).get_job_ids()]
        if failed and not allow_failures:
            from rq.job import Job
            details = [Job.fetch(job_id, connection=connection).latest_result() for job_id in failed]
            raise AssertionError(f"jobs failed: {[getattr(d, 'exc_string', d) for d in details]}")
        return worker.successful_job_count
    return run


# --- Mail ----------------------------------------------------------------------------

class MailInbox:
    """What the loopback SMTP server received: (recipients, email.message.Message) pairs."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp_server(app, monkeypatch):
    """aiosmtpd on a free loopback port, wired into DESK_SMTP_*."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = MailInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", port)
    monkeypatch.setitem(app.config, "MAIL_FROM", "desk@desk.test")
    yield inbox
    controller.stop()


# --- Live server and browser -----------------------------------------------------------

@pytest.fixture(scope="session")
def live_server(app):
    """The app served over HTTP on loopback in a background thread."""
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    require(os.path.exists(CHROMIUM), f"{CHROMIUM} is missing (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def artifacts_dir():
    """Where browser tests keep their screenshots (test-artifacts/, git-ignored)."""
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "test-artifacts")
    os.makedirs(path, exist_ok=True)
    return path


# --- The platforms -------------------------------------------------------------------

@pytest.fixture
def fake_platform(app):
    """tests/fakeplatform.py on loopback, with the desk's platform URLs pointed at it and
    retries without waiting."""
    platform = FakePlatform().start()
    keys = ("META_GRAPH_URL", "WHATSAPP_GRAPH_URL", "X_API_URL", "OUTBOUND_RETRY_INTERVALS",
            "SANDBOX")
    saved = {k: app.config[k] for k in keys}
    app.config.update(META_GRAPH_URL=platform.url + "/graph", WHATSAPP_GRAPH_URL=platform.url + "/wa",
                      X_API_URL=platform.url + "/x", OUTBOUND_RETRY_INTERVALS="0,0,0",
                      SANDBOX=False)
    yield platform
    app.config.update(saved)
    platform.stop()
