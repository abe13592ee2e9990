"""Redis Streams queue (scale-out profile).

One stream, one consumer group; workers read with XREADGROUP and confirm with XACK.
Entries of a worker that died are taken over with XAUTOCLAIM once idle longer than the
lease. An entry delivered more often than the cap is copied to the dead-letter stream
*before* it is acknowledged, so it is never lost between the two.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from gateway.errors import UpstreamUnavailable
from gateway.queue import Job
from gateway.store.db import UnitOfWork

log = logging.getLogger(__name__)

GROUP = "workers"


class RedisStreamQueue:
    def __init__(self, url: str, name: str, lease_seconds: float, max_deliveries: int) -> None:
        self._redis: redis.Redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10,
                                                        socket_connect_timeout=5)
        self.stream = f"{name}:jobs"
        self.dead_stream = f"{name}:jobs:dead"
        self._lease_ms = int(lease_seconds * 1000)
        self._max = max_deliveries
        self._group_ready = False

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self._redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def enqueue(self, uow: UnitOfWork, kind: str, ref: str) -> None:
        # Published only after commit; if the process dies in between, the inbox sweeper
        # re-enqueues the entry once its visibility time has passed.
        uow.after_commit(lambda: self.publish(kind, ref))

    def publish(self, kind: str, ref: str) -> None:
        try:
            self._ensure_group()
            self._redis.xadd(self.stream, {"kind": kind, "ref": ref})
        except redis.RedisError as exc:
            raise UpstreamUnavailable(f"redis: {type(exc).__name__}") from None

    def _deliveries(self, entry_ids: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry_id in entry_ids:
            pending: Any = self._redis.xpending_range(self.stream, GROUP, min=entry_id, max=entry_id, count=1)
            counts[entry_id] = int(pending[0]["times_delivered"]) if pending else 1
        return counts

    def reserve(self, worker: str, max_jobs: int, block_seconds: float) -> tuple[list[Job], list[Job]]:
        try:
            return self._reserve(worker, max_jobs, block_seconds)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise UpstreamUnavailable(f"redis: {type(exc).__name__}") from None
            # Redis lost its data (restarted without persistence, failed over): the stream and its
            # group are gone. Make the group again; the inbox sweeper re-enqueues the lost entries.
            log.warning("the consumer group of %s is gone; creating it again", self.stream)
            self._group_ready = False
            try:
                return self._reserve(worker, max_jobs, block_seconds)
            except redis.RedisError as again:
                raise UpstreamUnavailable(f"redis: {type(again).__name__}") from None
        except redis.RedisError as exc:
            raise UpstreamUnavailable(f"redis: {type(exc).__name__}") from None

    def _reserve(self, worker: str, max_jobs: int, block_seconds: float) -> tuple[list[Job], list[Job]]:
        self._ensure_group()
        claimed: Any = self._redis.xautoclaim(self.stream, GROUP, worker, self._lease_ms, "0-0", count=max_jobs)
        entries = list(claimed[1])
        if not entries:
            read: Any = self._redis.xreadgroup(GROUP, worker, {self.stream: ">"}, count=max_jobs,
                                               block=max(1, int(block_seconds * 1000)))
            entries = list(read[0][1]) if read else []
        counts = self._deliveries([entry_id for entry_id, _ in entries])
        reserved, buried = [], []
        for entry_id, fields in entries:
            if not fields:  # deleted meanwhile
                self._redis.xack(self.stream, GROUP, entry_id)
                continue
            job = Job(id=entry_id, kind=fields["kind"], ref=fields["ref"], deliveries=counts[entry_id])
            if job.deliveries > self._max:
                self._redis.xadd(self.dead_stream, {"kind": job.kind, "ref": job.ref, "id": entry_id,
                                                    "deliveries": str(job.deliveries)})
                self._redis.xack(self.stream, GROUP, entry_id)
                buried.append(job)
            else:
                reserved.append(job)
        return reserved, buried

    def ack(self, job: Job) -> None:
        try:
            self._redis.xack(self.stream, GROUP, job.id)
            self._redis.xdel(self.stream, job.id)
        except redis.RedisError as exc:
            raise UpstreamUnavailable(f"redis: {type(exc).__name__}") from None

    def ack_with(self, uow: UnitOfWork, job: Job) -> None:
        """Redis is not part of the database transaction: acknowledge once it has committed.
        Should that fail, the job comes back and finds its message finished."""

        def ack_quietly() -> None:
            try:
                self.ack(job)
            except UpstreamUnavailable:
                log.warning("acknowledging job %s failed; it will be delivered again", job.id)

        uow.after_commit(ack_quietly)

    def dead_letters(self, limit: int = 100) -> list[Job]:
        entries: Any = self._redis.xrange(self.dead_stream, count=limit)
        return [Job(id=fields.get("id", entry_id), kind=fields["kind"], ref=fields["ref"],
                    deliveries=int(fields.get("deliveries", "0"))) for entry_id, fields in entries]

    def ping(self) -> None:
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise UpstreamUnavailable(f"redis: {type(exc).__name__}") from None
