"""What the benchmarks share: percentiles, a throwaway database, a private Redis, gunicorn."""
import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent.parent

PG_ADMIN = os.environ.get("DESK_BENCH_DATABASE_URL",
                          "postgresql+psycopg://desk:desk@127.0.0.1:5432/postgres")


def percentile(samples, q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0 for no samples."""
    ordered = sorted(samples)
    if not ordered:
        return 0.0
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def make_database(backend: str, folder: str, prefix: str = "desk_bench"):
    """(url, drop) for a fresh SQLite file in `folder` or a fresh PostgreSQL database."""
    if backend == "sqlite":
        return f"sqlite:///{folder}/bench.sqlite3", lambda: None
    import psycopg
    admin = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, drop


def start_redis(folder: str) -> tuple[subprocess.Popen, str]:
    """A private redis-server on a unix socket in `folder`: (process, URL)."""
    sock = os.path.join(folder, "redis.sock")
    process = subprocess.Popen([shutil.which("redis-server"), "--port", "0", "--unixsocket", sock,
                                "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                                "--dir", folder],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(250):
        if os.path.exists(sock):
            break
        time.sleep(0.02)
    return process, f"unix://{sock}"


def free_port() -> int:
    """A TCP port on loopback that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def meta_signature(body: bytes, secret: str) -> str:
    """The X-Hub-Signature-256 header Meta puts on a delivery of `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def start_gunicorn(env: dict, workers: int, worker_class: str = "sync", threads: int = 1,
                   log=None) -> tuple[subprocess.Popen, str]:
    """The app under gunicorn on a free loopback port, answering: (process, base URL)."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "gunicorn"), "-w", str(workers), "-k", worker_class,
               "--threads", str(threads), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
               "desk.wsgi:app"]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            requests.get(base + "/healthz", timeout=5)
            return process, base
        except requests.RequestException:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("gunicorn did not answer within 30 s")
