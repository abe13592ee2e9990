"""Durable job table (embedded profile): jobs live in the same SQLite file as the cases,
so enqueueing is part of the business transaction and a SIGKILL loses nothing.

An idle worker asks for jobs every 50 ms: it looks with a read first and takes the write
lock only when there is something to claim, and the statements are built once."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update

from gateway.queue import Job
from gateway.store.db import Database, UnitOfWork
from gateway.store.tables import jobs

_ENQUEUE = insert(jobs)
_ACK = delete(jobs).where(jobs.c.id == bindparam("job_id"))
_CLAIMABLE = or_(and_(jobs.c.state == "queued", jobs.c.available_at <= bindparam("now")),
                 and_(jobs.c.state == "running", jobs.c.lease_until <= bindparam("now")))
_ANY_CLAIMABLE = select(jobs.c.id).where(_CLAIMABLE).limit(1)
_CANDIDATES = select(jobs).where(_CLAIMABLE).order_by(jobs.c.id).limit(bindparam("limit"))
_BURY = update(jobs).where(jobs.c.id == bindparam("job_id")).values(state="dead", last_error="delivery cap reached")
# the claim: conditional, so a job another worker claimed meanwhile is not taken twice
_TAKE = (update(jobs).where(jobs.c.id == bindparam("job_id"), _CLAIMABLE)
         .values(state="running", attempts=jobs.c.attempts + 1, lease_until=bindparam("lease"),
                 locked_by=bindparam("worker")))


class TableQueue:
    def __init__(self, db: Database, lease_seconds: float, max_deliveries: int,
                 clock: Callable[[], dt.datetime]) -> None:
        self._db = db
        self._lease = dt.timedelta(seconds=lease_seconds)
        self._max = max_deliveries
        self._clock = clock

    def enqueue(self, uow: UnitOfWork, kind: str, ref: str) -> None:
        now = self._clock()
        uow.conn.execute(_ENQUEUE, {"kind": kind, "ref": ref, "state": "queued", "attempts": 0,
                                    "available_at": now, "created_at": now})

    def _claim(self, worker: str, limit: int) -> tuple[list[Job], list[Job]]:
        now = self._clock()
        with self._db.reading() as conn:
            if conn.execute(_ANY_CLAIMABLE, {"now": now}).first() is None:
                return [], []  # nothing to claim: no write transaction
        reserved: list[Job] = []
        buried: list[Job] = []
        with self._db.transaction() as uow:
            rows = uow.conn.execute(_CANDIDATES, {"now": now, "limit": limit}).mappings().all()
            for row in rows:
                job = Job(id=str(row["id"]), kind=row["kind"], ref=row["ref"], deliveries=row["attempts"] + 1)
                if job.deliveries > self._max:
                    uow.conn.execute(_BURY, {"job_id": row["id"]})
                    buried.append(job)
                    continue
                result = uow.conn.execute(_TAKE, {"job_id": row["id"], "now": now, "lease": now + self._lease,
                                                  "worker": worker})
                if result.rowcount == 1:
                    reserved.append(job)
        return reserved, buried

    def reserve(self, worker: str, max_jobs: int, block_seconds: float) -> tuple[list[Job], list[Job]]:
        deadline = time.monotonic() + block_seconds
        while True:
            # claim no more than asked for: a claimed job nobody runs would wait out its lease
            reserved, buried = self._claim(worker, max(1, max_jobs))
            if reserved or buried or time.monotonic() >= deadline:
                return reserved, buried
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def ack(self, job: Job) -> None:
        with self._db.transaction() as uow:
            self.ack_with(uow, job)

    def ack_with(self, uow: UnitOfWork, job: Job) -> None:
        uow.conn.execute(_ACK, {"job_id": int(job.id)})

    def dead_letters(self, limit: int = 100) -> list[Job]:
        with self._db.reading() as conn:
            rows = conn.execute(select(jobs).where(jobs.c.state == "dead").limit(limit)).mappings().all()
        return [Job(id=str(r["id"]), kind=r["kind"], ref=r["ref"], deliveries=r["attempts"]) for r in rows]

    def ping(self) -> None:
        self._db.ping()
