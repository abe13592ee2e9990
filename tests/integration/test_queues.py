"""Work queues against real SQLite and Redis: leases, take-over of dead workers, dead letters."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import pytest

from gateway.migrations import upgrade
from gateway.queue.redis_streams import GROUP, RedisStreamQueue
from gateway.queue.table import TableQueue
from gateway.store.db import Database


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def table_queue(tmp_path: Path) -> TableQueue:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    upgrade(url)
    return TableQueue(Database(url), lease_seconds=0.3, max_deliveries=3, clock=now)


def test_table_queue_hands_a_job_to_one_worker_until_its_lease_expires(table_queue: TableQueue) -> None:
    with table_queue._db.transaction() as uow:
        table_queue.enqueue(uow, "intake", "a")
    first, _ = table_queue.reserve("w1", 10, 0)
    second, _ = table_queue.reserve("w2", 10, 0)
    assert [j.ref for j in first] == ["a"] and second == []
    time.sleep(0.35)  # w1 died: its lease runs out
    taken_over, _ = table_queue.reserve("w2", 10, 0)
    assert [(j.ref, j.deliveries) for j in taken_over] == [("a", 2)]
    table_queue.ack(taken_over[0])
    assert table_queue.reserve("w3", 10, 0) == ([], [])


def test_table_queue_buries_a_job_past_the_delivery_cap(table_queue: TableQueue) -> None:
    with table_queue._db.transaction() as uow:
        table_queue.enqueue(uow, "intake", "poison")
    for _ in range(3):
        jobs, buried = table_queue.reserve("w", 10, 0)
        assert len(jobs) == 1 and buried == []
        time.sleep(0.35)
    jobs, buried = table_queue.reserve("w", 10, 0)
    assert jobs == [] and [j.ref for j in buried] == ["poison"]
    assert [j.ref for j in table_queue.dead_letters()] == ["poison"]


def test_table_queue_enqueue_is_part_of_the_transaction(table_queue: TableQueue) -> None:
    with pytest.raises(RuntimeError), table_queue._db.transaction() as uow:
        table_queue.enqueue(uow, "intake", "rolled-back")
        raise RuntimeError("business transaction failed")
    assert table_queue.reserve("w", 10, 0) == ([], [])


@pytest.fixture
def stream_queue(redis_url: str) -> RedisStreamQueue:
    return RedisStreamQueue(redis_url, f"rgq-{uuid.uuid4().hex[:8]}", lease_seconds=0.3, max_deliveries=3)


def test_stream_queue_takes_over_entries_of_a_dead_consumer(stream_queue: RedisStreamQueue) -> None:
    stream_queue.publish("intake", "a")
    first, _ = stream_queue.reserve("w1", 10, 0.1)
    assert [j.ref for j in first] == ["a"]
    assert stream_queue.reserve("w2", 10, 0.05) == ([], [])
    time.sleep(0.35)
    taken, _ = stream_queue.reserve("w2", 10, 0.05)  # XAUTOCLAIM
    assert [(j.ref, j.deliveries) for j in taken] == [("a", 2)]
    stream_queue.ack(taken[0])
    assert stream_queue.reserve("w3", 10, 0.05) == ([], [])
    pending = stream_queue._redis.xpending(stream_queue.stream, GROUP)
    assert pending["pending"] == 0


def test_stream_queue_moves_poison_entries_to_dead_stream_before_ack(stream_queue: RedisStreamQueue) -> None:
    stream_queue.publish("intake", "poison")
    stream_queue.reserve("w", 10, 0.1)
    for _ in range(2):
        time.sleep(0.35)
        jobs, _ = stream_queue.reserve("w", 10, 0.05)
        assert len(jobs) == 1
    time.sleep(0.35)
    jobs, buried = stream_queue.reserve("w", 10, 0.05)
    assert jobs == [] and [j.ref for j in buried] == ["poison"]
    assert [j.ref for j in stream_queue.dead_letters()] == ["poison"]
    assert stream_queue._redis.xpending(stream_queue.stream, GROUP)["pending"] == 0


def test_stream_queue_reports_redis_outage_as_transient() -> None:
    from gateway.errors import UpstreamUnavailable

    queue = RedisStreamQueue("redis://127.0.0.1:1/0", "x", 1, 3)
    with pytest.raises(UpstreamUnavailable):
        queue.ping()
    with pytest.raises(UpstreamUnavailable):
        queue.publish("intake", "x")


def test_stream_queue_recovers_when_redis_lost_its_data(stream_queue: RedisStreamQueue) -> None:
    """A Redis restarted without persistence has neither the stream nor its consumer group: the
    workers go on (the group is made again) and new entries flow; the lost ones are the inbox
    sweeper's to enqueue again (tests/integration/test_service_restarts.py)."""
    stream_queue.publish("intake", "before")
    jobs, _ = stream_queue.reserve("w", 10, 0.05)
    assert [j.ref for j in jobs] == ["before"]
    stream_queue._redis.delete(stream_queue.stream)  # what a restart without persistence leaves
    assert stream_queue.reserve("w", 10, 0.05) == ([], [])
    stream_queue.publish("intake", "after")
    jobs, _ = stream_queue.reserve("w", 10, 0.05)
    assert [j.ref for j in jobs] == ["after"]
    stream_queue.ack(jobs[0])
