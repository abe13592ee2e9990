"""Composition root: builds one running gateway from settings (either profile)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from gateway.case.model import Case
from gateway.cases import CaseService
from gateway.catalog import Catalog, RegistryLookup
from gateway.config import Settings
from gateway.errors import ConfigurationError
from gateway.intake.pipeline import INTAKE_JOB, IntakePipeline
from gateway.mapping import MappingRegistry
from gateway.migrations import upgrade
from gateway.outbox.dispatcher import Dispatcher
from gateway.outbox.webhooks import WebhookSender
from gateway.plugins import AdapterContext, install_adapters
from gateway.queue import Job, WorkQueue
from gateway.queue.redis_streams import RedisStreamQueue
from gateway.queue.table import TableQueue
from gateway.registry import Adapters
from gateway.store import case_repo, inbox_repo
from gateway.store.blobs import FilesystemBlobStore
from gateway.store.db import Database, UnitOfWork
from gateway.store.files import private_dir
from gateway.store.state_repo import SqlStateStore

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Gateway:
    settings: Settings
    db: Database
    blobs: FilesystemBlobStore
    mappings: MappingRegistry
    catalog: Catalog
    adapters: Adapters
    queue: WorkQueue
    pipeline: IntakePipeline
    dispatcher: Dispatcher
    cases: CaseService
    webhooks: WebhookSender
    clock: Callable[[], dt.datetime]
    state: SqlStateStore
    contexts: list[AdapterContext] = field(default_factory=list)
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{id(object())}")
    _api: FastAPI | None = None
    _last_poll: float = 0.0
    _last_purge: float = 0.0

    @classmethod
    def create(cls, settings: Settings, clock: Callable[[], dt.datetime] = utcnow) -> Gateway:
        private_dir(settings.data_dir)
        db = Database(settings.effective_database_url, settings.durability)
        upgrade(settings.effective_database_url)
        blobs = FilesystemBlobStore(settings.effective_blob_dir, durable=settings.durability == "full")
        mappings = MappingRegistry.load(settings.mappings_dir)
        index = RegistryLookup(mappings)
        catalog = Catalog.load(settings.catalog_dir, index)
        adapters = Adapters()
        queue: WorkQueue
        if settings.profile == "scaleout":
            if settings.effective_database_url.startswith("sqlite"):
                raise ConfigurationError("the scale-out profile needs RG_DATABASE_URL (PostgreSQL)")
            queue = RedisStreamQueue(settings.redis_url, settings.queue_name, settings.job_lease_seconds,
                                     settings.intake_max_attempts)
        else:
            queue = TableQueue(db, settings.job_lease_seconds, settings.intake_max_attempts, clock)
        pipeline = IntakePipeline(db=db, blobs=blobs, catalog=catalog, mappings=index, adapters=adapters,
                                  queue=queue, settings=settings, clock=clock)
        webhooks = WebhookSender(settings.webhooks, settings.webhook_timeout_seconds)
        dispatcher = Dispatcher(db=db, blobs=blobs, adapters=adapters, webhooks=webhooks, settings=settings,
                                clock=clock)
        gateway = cls(settings=settings, db=db, blobs=blobs, mappings=mappings, catalog=catalog, adapters=adapters,
                      queue=queue, pipeline=pipeline, dispatcher=dispatcher,
                      cases=CaseService(db, settings, adapters, clock), webhooks=webhooks, clock=clock,
                      state=SqlStateStore(db, clock))
        gateway.contexts = install_adapters(settings.adapters, gateway._context)
        return gateway

    def _context(self, options: dict[str, Any]) -> AdapterContext:
        return AdapterContext(options=options, adapters=self.adapters, blobs=self.blobs,
                              receive=self.pipeline.receive, intake=self.pipeline.intake, state=self.state,
                              base_dir=self.settings.base_dir)

    # -- API ------------------------------------------------------------------------------
    @property
    def api(self) -> FastAPI:
        if self._api is None:
            from gateway.api.app import create_app  # the API needs the finished gateway

            self._api = create_app(self)
        return self._api

    # -- worker ---------------------------------------------------------------------------
    def poll_sources(self, force: bool = False) -> int:
        if not force and time.monotonic() - self._last_poll < self.settings.poll_interval_seconds:
            return 0
        self._last_poll = time.monotonic()
        received = 0
        for name, source in self.adapters.sources.items():
            try:
                for message in source.poll():
                    if not self.pipeline.receive(message).duplicate:
                        received += 1
            except Exception as exc:  # one failing source must not stop the others
                log.warning("polling %s failed: %s", name, type(exc).__name__)
        return received

    def sweep(self) -> int:
        """Re-enqueue inbox entries whose retry time (or inline lease) has come."""
        now = self.clock()
        lease = now + dt.timedelta(seconds=self.settings.job_lease_seconds)
        with self.db.transaction() as uow:
            due = inbox_repo.claim_due(uow.conn, now, lease, 100)
            for inbox_id in due:
                self.queue.enqueue(uow, INTAKE_JOB, inbox_id)
        return len(due)

    def run_jobs(self, block_seconds: float = 0.0, max_jobs: int = 16) -> int:
        jobs, buried = self.queue.reserve(self.worker_id, max_jobs, block_seconds)
        for job in buried:
            self.pipeline.bury(job.ref, f"given up after {job.deliveries - 1} deliveries")
        for job in jobs:
            if not (job.kind == INTAKE_JOB and self._process(job)):
                self.queue.ack(job)
        return len(jobs) + len(buried)

    def _process(self, job: Job) -> bool:
        """Run an intake job; True when its acknowledgement joined the result's transaction."""
        acknowledged = False

        def finish(uow: UnitOfWork) -> None:
            nonlocal acknowledged
            self.queue.ack_with(uow, job)
            acknowledged = True

        self.pipeline.process(job.ref, finish=finish)
        return acknowledged

    def work_once(self, force_poll: bool = True, block_seconds: float = 0.0) -> int:
        done = self.poll_sources(force=force_poll)
        done += self.sweep()
        done += self.run_jobs(block_seconds)
        # right after the jobs' commits: their acknowledgements leave through the outbox claim
        done += self.dispatcher.run_due()
        done += self.dispatcher.follow_forwardings()
        if time.monotonic() - self._last_purge > 60:
            self._last_purge = time.monotonic()
            self.state.purge_expired()
        return done

    def work_until_idle(self, max_rounds: int = 50) -> int:
        total = 0
        for _ in range(max_rounds):
            done = self.work_once(force_poll=total == 0)
            total += done
            if done == 0:
                break
        return total

    def run_worker(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                done = self.work_once(force_poll=False, block_seconds=self.settings.worker_idle_seconds)
            except Exception:
                log.exception("worker round failed")
                done = 0
            if done == 0 and isinstance(self.queue, TableQueue):
                stop.wait(0.05)

    # -- queries used by tests and the CLI -------------------------------------------------
    def inbox_entry(self, channel: str, source_id: str) -> dict[str, Any] | None:
        with self.db.reading() as conn:
            return inbox_repo.find(conn, channel=channel, source_id=source_id)

    def case_by_source(self, channel: str, source_id: str) -> Case | None:
        entry = self.inbox_entry(channel, source_id)
        if entry is None or entry["case_id"] is None:
            return None
        with self.db.reading() as conn:
            return case_repo.get_case(conn, entry["case_id"])

    def close(self) -> None:
        self.webhooks.close()
        self.db.dispose()
