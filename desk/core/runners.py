"""RQ's worker and schedulers, kept running through Redis outages: they wait for Redis,
reconnect with backoff, log once when it goes away and once when it is back, never exit on
their own. With `queue`, the only module that knows RQ.

RQ 3.0.0 retries a lost connection only while a worker waits for a job; anywhere else
(starting, finishing a job, the scheduler of delayed jobs, the cron scheduler) a
ConnectionError ends the loop or the process. So each RQ loop runs inside a small loop here
that waits for Redis and starts it again.
"""
import logging
import signal
import time
from collections.abc import Callable
from uuid import uuid4

from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker, cron_scheduler_registry
from rq.cron import CronScheduler
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT as DATE_FORMAT
from rq.defaults import DEFAULT_LOGGING_FORMAT as LOG_FORMAT
from rq.scheduler import RQScheduler

log = logging.getLogger(__name__)
# Seconds between attempts, doubling: capped low so that Redis coming back is seen within
# 5 s (a PING costs nothing; RQ's own cap while waiting for a job is 60 s).
FIRST_PAUSE, MAX_PAUSE = 0.5, 5.0
# RQ's lines that come once per retry (or end its loop) while Redis is away.
RQ_OUTAGE_LINES = ("could not connect to Redis", "Redis connection timeout")


class Outage:
    """One process's view of Redis: a warning when it goes away, one when it is back."""

    def __init__(self, who: str):
        self.who, self.since = who, None

    def down(self, reason) -> None:
        """Redis failed: warn unless this outage was already told."""
        if self.since is None:
            self.since = time.monotonic()
            log.warning("%s: redis unavailable, waiting for it: %s", self.who, reason)

    def up(self) -> None:
        """Redis answered: say so if it had been away."""
        if self.since is not None:
            log.warning("%s: redis is back after %.0f s", self.who, time.monotonic() - self.since)
            self.since = None

    def filter(self, record: logging.LogRecord) -> bool:
        """A filter for RQ's logger: its line per retry becomes this outage's one line."""
        error = record.exc_info[1] if record.exc_info else None
        text = record.getMessage()
        if isinstance(error, RedisError) or any(line in text for line in RQ_OUTAGE_LINES):
            cause = [arg for arg in record.args or () if isinstance(arg, Exception)]
            self.down(error or (cause[0] if cause else text))
            return False
        return True


class Stop:
    """Whether SIGTERM or SIGINT asked this process to stop (call it to ask)."""

    def __init__(self):
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def request(self, *_signal) -> None:
        self.requested = True

    def listen(self) -> None:
        """Take SIGTERM and SIGINT back from RQ, whose handlers belong to a run that ended."""
        signal.signal(signal.SIGTERM, self.request)
        signal.signal(signal.SIGINT, self.request)


def pause(seconds: float, stop: Callable[[], bool]) -> None:
    """Sleep `seconds`, or less if a stop is asked for."""
    deadline = time.monotonic() + seconds
    while not stop() and time.monotonic() < deadline:
        time.sleep(0.1)


def wait_for_redis(connection: Redis, outage: Outage, stop: Callable[[], bool]) -> bool:
    """Block until Redis answers a PING (True) or a stop is asked for (False)."""
    seconds = FIRST_PAUSE
    while not stop():
        try:
            connection.ping()
        except RedisError as exc:
            outage.down(exc)
            pause(seconds, stop)
            seconds = min(seconds * 2, MAX_PAUSE)
        else:
            outage.up()
            return True
    return False


class DeskScheduler(RQScheduler):
    """RQ's scheduler of delayed jobs (the worker's child process), resumed after outages."""

    def __init__(self, *args, outage: Outage, **kwargs):
        super().__init__(*args, **kwargs)
        self.outage = outage

    def work(self):
        """RQ's loop until SIGTERM, waiting for Redis whenever it goes away."""
        while not self._stop_requested:
            try:
                super().work()
            except RedisError as exc:
                if not self._stop_requested:  # stopping: releasing the locks can fail, fine
                    self.outage.down(exc)
                    wait_for_redis(self.connection, self.outage, lambda: self._stop_requested)


class DeskWorker(SimpleWorker):
    """RQ's in-process worker that tells a stop asked for from a crash, notices Redis coming
    back, and runs delayed jobs with a DeskScheduler."""

    max_connection_wait_time = MAX_PAUSE  # RQ's retry while waiting for a job

    def __init__(self, *args, stop: Stop, outage: Outage, scheduler_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.stop, self.outage, self.scheduler_name = stop, outage, scheduler_name

    def request_stop(self, signum, frame):
        """RQ's warm shutdown, remembered for run_worker."""
        self.stop.request()
        super().request_stop(signum, frame)

    def heartbeat(self, timeout=None, pipeline=None):
        """RQ's; one that reached Redis ends an outage."""
        super().heartbeat(timeout, pipeline=pipeline)
        if pipeline is None:  # it reached Redis
            self.outage.up()

    def teardown(self):
        """RQ's, finished without Redis: the scheduler child and the pubsub thread stop."""
        try:
            super().teardown()
        except RedisError as exc:
            self.outage.down(exc)
            if self.pubsub_thread:
                self.pubsub_thread.stop()

    def _start_scheduler(self, burst=False, logging_level="INFO", date_format=DATE_FORMAT,
                         log_format=LOG_FORMAT):
        """RQ's, with a DeskScheduler that keeps this process's scheduler name, so that after
        a restart it takes its own lock back at once instead of waiting for it to expire."""
        if burst:  # enqueues what is due, in this process, and returns
            return super()._start_scheduler(burst, logging_level, date_format, log_format)
        self.scheduler = DeskScheduler(
            self.queues, connection=self.connection, name=self.scheduler_name,
            outage=Outage("worker's scheduler of delayed jobs"),
            logging_level=logging_level or self.log.level, date_format=date_format,
            log_format=log_format, serializer=self.serializer)
        if self.scheduler.acquire_locks():
            self.scheduler.start()


def run_worker(queues: list[str], connection: Redis, burst: bool = False,
               with_scheduler: bool = False, logging_level: str = "INFO") -> None:
    """Work `queues` until SIGTERM or SIGINT (burst: until they are empty), starting RQ's
    worker again, once Redis answers, whenever something ends it."""
    stop, outage = Stop(), Outage("worker")
    logging.getLogger("rq.worker").addFilter(outage.filter)
    scheduler_name = uuid4().hex
    while True:
        stop.listen()
        if not wait_for_redis(connection, outage, stop):
            return
        try:
            worker = DeskWorker(queues, connection=connection, stop=stop, outage=outage,
                                scheduler_name=scheduler_name)
            worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=logging_level)
        except RedisError as exc:  # RQ's start-up (registering) is outside its loop
            outage.down(exc)
        if stop() or (burst and outage.since is None):
            return
        if outage.since is None:  # ended by something else: a pause, so that it cannot spin
            log.warning("worker: the RQ worker stopped unasked; starting it again")
            pause(MAX_PAUSE, stop)


class DeskCron(CronScheduler):
    """RQ's cron scheduler that remembers a stop asked for and can be started again."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stop = Stop()

    def _request_stop(self, signum, frame):
        """RQ's (raises StopRequested), remembered for run_cron."""
        self.stop.request()
        super()._request_stop(signum, frame)

    def register_birth(self) -> None:
        """RQ's, after removing this process's own entry that an outage left behind (RQ
        refuses to register a name twice)."""
        self.connection.zrem(cron_scheduler_registry.get_registry_key(), self.name)
        super().register_birth()


def run_cron(scheduler: DeskCron) -> None:
    """Run `scheduler` until SIGTERM or SIGINT, waiting out Redis outages; its jobs keep their
    times, so those that fell due meanwhile are enqueued as soon as Redis is back."""
    outage = Outage("scheduler")
    while True:
        scheduler.stop.listen()
        if not wait_for_redis(scheduler.connection, outage, scheduler.stop):
            return
        try:
            scheduler.start()
            return
        except RedisError as exc:
            if scheduler.stop():
                return
            outage.down(exc)
