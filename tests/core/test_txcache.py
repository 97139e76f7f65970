"""Per-transaction values (desk.core.txcache) and jobs enqueued after commit, around savepoints."""
from sqlalchemy import select

from desk.core import queue
from desk.core.extensions import db
from desk.escalation.settings import EscalationSettings, current_settings
from desk.sla.policies import SlaPolicy, ordered_policies


def test_settings_are_read_once_per_transaction_and_a_write_is_seen(app_ctx):
    first = current_settings()
    assert current_settings() is first  # no second query in the same transaction
    row = db.session.get(EscalationSettings, 1) or EscalationSettings(id=1)
    row.crisis_burst = 9
    db.session.add(row)
    db.session.flush()  # writing the model forgets the cached value
    assert current_settings().crisis_burst == 9
    db.session.commit()
    assert current_settings().crisis_burst == 9


def test_a_released_savepoint_keeps_the_value_and_commit_forgets_it(app_ctx):
    policies = ordered_policies()
    with db.session.begin_nested():
        db.session.execute(select(1))
    assert ordered_policies() is policies
    db.session.commit()
    assert ordered_policies() is not policies


def test_a_new_policy_in_the_same_transaction_is_matched(app_ctx):
    before = len(ordered_policies())
    db.session.add(SlaPolicy(name="VIP", position=1, first_response_minutes=15,
                             next_response_minutes=30, active=True))
    db.session.flush()
    assert len(ordered_policies()) == before + 1


def test_jobs_wait_for_the_outer_commit_not_a_savepoint(app_ctx, monkeypatch):
    sent = []
    monkeypatch.setattr(queue, "enqueue", lambda name, job, *a, **k: sent.append(job))
    queue.enqueue_after_commit("default", "workers.first")
    with db.session.begin_nested():
        queue.enqueue_after_commit("default", "workers.second")
    assert sent == []  # released savepoint: nothing is committed yet
    try:
        with db.session.begin_nested():
            queue.enqueue_after_commit("default", "workers.doomed")
            raise RuntimeError("one event of a batch fails")
    except RuntimeError:
        pass
    with db.session.begin_nested():
        with db.session.begin_nested():
            queue.enqueue_after_commit("default", "workers.inner")  # released into its parent
        queue.enqueue_after_commit("default", "workers.third")
    db.session.commit()
    assert sent == ["workers.first", "workers.second", "workers.inner", "workers.third"]


def test_a_rolled_back_savepoint_drops_the_jobs_of_its_inner_savepoints(app_ctx, monkeypatch):
    sent = []
    monkeypatch.setattr(queue, "enqueue", lambda name, job, *a, **k: sent.append(job))
    queue.enqueue_after_commit("default", "workers.kept")
    try:
        with db.session.begin_nested():  # a whole batch, retried one event at a time
            with db.session.begin_nested():
                queue.enqueue_after_commit("default", "workers.doomed_inner")
            queue.enqueue_after_commit("default", "workers.doomed")
            raise RuntimeError("the batch fails")
    except RuntimeError:
        pass
    db.session.commit()
    assert sent == ["workers.kept"]


def test_jobs_are_dropped_when_the_transaction_rolls_back(app_ctx, monkeypatch):
    sent = []
    monkeypatch.setattr(queue, "enqueue", lambda name, job, *a, **k: sent.append(job))
    db.session.execute(select(1))  # jobs follow the writes of a transaction
    queue.enqueue_after_commit("default", "workers.first")
    db.session.rollback()
    db.session.commit()
    assert sent == []
