"""Process-wide set-up for long-running servers and workers; child processes kept running."""
import gc
import logging
import subprocess
import threading
import time

log = logging.getLogger(__name__)


def freeze_startup_objects() -> None:
    """For a server or worker process, once its app is built: take every object alive now
    out of the garbage collector's reach (gc.freeze).

    Full collections otherwise walk the app's hundreds of thousands of long-lived objects
    (routes, templates, mappers, the suggestion engine) and stall requests for tens of
    milliseconds: at 500 webhooks a second on two cores the acknowledgement p99 went from
    111-119 ms to 12-34 ms with this (tests/perf/bench_ingest.py).
    """
    gc.collect()
    gc.freeze()


class Child:
    """One command kept running: started again after it exits, the pause doubling (from
    `first_pause` up to 30 s) while it keeps dying young, so a broken one cannot spin."""

    def __init__(self, command: list[str], env: dict, first_pause: float = 1.0):
        self.command, self.env, self.first_pause = command, env, first_pause
        self.pause, self.process, self.started, self.restart_at = first_pause, None, 0.0, None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, env=self.env)
        self.started, self.restart_at = time.monotonic(), None

    def check(self) -> None:
        """Notice an exit (logged once) and start the command again when its pause is over."""
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.start()
            return
        if self.process.poll() is None:
            return
        if now - self.started > 60:  # it had been running well: a fresh start
            self.pause = self.first_pause
        self.restart_at = now + self.pause
        log.warning("%s exited with %s; starting it again in %.0f s",
                    " ".join(self.command[-2:]), self.process.returncode, self.pause)
        self.pause = min(self.pause * 2, 30.0)


class Children:
    """Commands run as child processes, restarted when they exit, stopped together."""

    def __init__(self, children: list[Child]):
        self.children, self._stopping = children, threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> "Children":
        for child in self.children:
            child.start()
        self._watcher.start()
        return self

    def _watch(self) -> None:
        while not self._stopping.wait(0.2):
            for child in self.children:
                child.check()

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM to every child, then wait for each (SIGKILL after `timeout` seconds)."""
        self._stopping.set()
        if self._watcher.is_alive():  # a stop during start() finds it not started yet
            self._watcher.join()
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in running:
            process.terminate()
        for process in running:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
