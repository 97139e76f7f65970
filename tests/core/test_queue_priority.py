"""Which work a worker on every queue takes first (found by tests/perf/load_run.py)."""
from redis import Redis
from rq import SimpleWorker

from desk.commands.core import worker as worker_command
from desk.core.queue import get_queue


def test_a_worker_on_every_queue_sends_replies_before_it_takes_inbound_work(app_ctx, redis_server):
    """Under a webhook backlog a reply waits at most for the job in hand, not for the backlog."""
    names = next(p.default for p in worker_command.params if p.name == "queues").split(",")
    connection = Redis.from_url(redis_server.url)
    inbound = get_queue("inbound", connection).enqueue_call("workers.inbound.process_events", args=([],))
    outbound = get_queue("outbound", connection).enqueue_call("workers.outbound.sweep_interrupted")
    SimpleWorker([get_queue(name, connection) for name in names], connection=connection).work(burst=True)
    inbound.refresh()
    outbound.refresh()
    assert inbound.get_status() == outbound.get_status() == "finished"
    assert outbound.ended_at <= inbound.started_at
