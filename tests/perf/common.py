"""What the benchmarks share: percentiles, a throwaway database and a private Redis."""
import os
import shutil
import subprocess
import time
import uuid

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
