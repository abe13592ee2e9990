"""Work queue port and its two implementations (durable job table, Redis Streams)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.store.db import UnitOfWork


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    ref: str
    deliveries: int


class WorkQueue(Protocol):
    """At-least-once delivery of jobs to workers; handlers make the effect exactly-once.

    ``reserve`` hands out new jobs and jobs whose worker died (lease expired); a job
    delivered more often than the cap is moved to the dead letters and reported by
    ``reserve`` in ``buried`` so the caller can record why.
    """

    def enqueue(self, uow: UnitOfWork, kind: str, ref: str) -> None: ...

    def reserve(self, worker: str, max_jobs: int, block_seconds: float) -> tuple[list[Job], list[Job]]: ...

    def ack(self, job: Job) -> None: ...

    def ack_with(self, uow: UnitOfWork, job: Job) -> None:
        """Acknowledge as part of the caller's transaction: done exactly when it commits."""
        ...

    def dead_letters(self, limit: int = 100) -> list[Job]: ...

    def ping(self) -> None: ...
