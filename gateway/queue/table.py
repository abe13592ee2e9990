"""Durable job table (embedded profile): jobs live in the same SQLite file as the cases,
so enqueueing is part of the business transaction and a SIGKILL loses nothing."""

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
        claimable = or_(and_(jobs.c.state == "queued", jobs.c.available_at <= now),
                        and_(jobs.c.state == "running", jobs.c.lease_until <= now))
        reserved: list[Job] = []
        buried: list[Job] = []
        with self._db.transaction() as uow:
            rows = uow.conn.execute(select(jobs).where(claimable).order_by(jobs.c.id).limit(limit)).mappings().all()
            for row in rows:
                job = Job(id=str(row["id"]), kind=row["kind"], ref=row["ref"], deliveries=row["attempts"] + 1)
                if job.deliveries > self._max:
                    uow.conn.execute(update(jobs).where(jobs.c.id == row["id"])
                                     .values(state="dead", last_error="delivery cap reached"))
                    buried.append(job)
                    continue
                result = uow.conn.execute(
                    update(jobs).where(jobs.c.id == row["id"], claimable)
                    .values(state="running", attempts=jobs.c.attempts + 1, lease_until=now + self._lease,
                            locked_by=worker))
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
