"""Composition root: settings -> one gateway (stores, queue, adapters, pipeline, outbox, worker).

Nothing runs here. The intake entry points are the pipeline's ``receive`` (pull channels),
``intake`` (synchronous channels) and ``process`` (the worker's job), see
:mod:`gateway.intake.pipeline`; the worker loop is :mod:`gateway.worker`; the HTTP API is
built from a gateway by :func:`gateway.api.app.create_app`; read-only look-ups for the CLI
and the tests are :mod:`gateway.queries`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.adapter_registry import Adapters
from gateway.case.service import CaseService
from gateway.catalog import Catalog, RegistryLookup
from gateway.config import Settings
from gateway.errors import ConfigurationError
from gateway.health.overview import HealthService
from gateway.health.recorder import HealthRecorder
from gateway.intake.pipeline import IntakePipeline
from gateway.mapping import MappingRegistry
from gateway.migrations import upgrade
from gateway.outbox.dispatcher import Dispatcher
from gateway.outbox.forwarding import Forwarder
from gateway.outbox.upstream import AcknowledgeHandler, RejectHandler
from gateway.outbox.webhooks import WebhookHandler, WebhookSender
from gateway.plugins import AdapterContext, install_adapters
from gateway.queries import Queries
from gateway.queue import WorkQueue
from gateway.queue.redis_streams import RedisStreamQueue
from gateway.queue.table import TableQueue
from gateway.store import blob_gc
from gateway.store.blobs import FilesystemBlobStore
from gateway.store.db import Database
from gateway.store.files import private_dir
from gateway.store.state_repo import SqlStateStore
from gateway.worker import Worker


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
    worker: Worker
    cases: CaseService
    queries: Queries
    webhooks: WebhookSender
    state: SqlStateStore
    health: HealthService  # the read side of adapter health (API, metrics, console)
    health_recorder: HealthRecorder  # the circuit breakers every call to an adapter goes through
    clock: Callable[[], dt.datetime]
    contexts: list[AdapterContext] = field(default_factory=list)

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
        queue = _queue(settings, db, clock)
        state = SqlStateStore(db, clock)
        pipeline = IntakePipeline(db=db, blobs=blobs, catalog=catalog, mappings=index, adapters=adapters,
                                  queue=queue, settings=settings, clock=clock)
        webhooks = WebhookSender(settings.webhooks, settings.webhook_timeout_seconds)
        recorder = HealthRecorder(db, settings.health, clock)
        forwarder = Forwarder(db, blobs, adapters, clock, recorder)
        dispatcher = Dispatcher(db=db, settings=settings, clock=clock, health=recorder, handlers={
            "webhook": WebhookHandler(webhooks),
            "ack": AcknowledgeHandler(db, blobs, adapters),
            "reject": RejectHandler(db, blobs, adapters),
            "forward": forwarder,
        })
        worker = Worker(settings=settings, adapters=adapters, pipeline=pipeline, queue=queue, dispatcher=dispatcher,
                        forwarder=forwarder, health=recorder, purge=state.purge_expired,
                        collect_blobs=lambda: blob_gc.collect(db, blobs, settings.blob_gc_grace_seconds))
        gateway = cls(settings=settings, db=db, blobs=blobs, mappings=mappings, catalog=catalog, adapters=adapters,
                      queue=queue, pipeline=pipeline, dispatcher=dispatcher, worker=worker,
                      cases=CaseService(db, settings, adapters, clock), queries=Queries(db), webhooks=webhooks,
                      state=state, clock=clock, health_recorder=recorder,
                      health=HealthService(db=db, adapters=adapters, webhooks=settings.webhooks,
                                           settings=settings.health, outbox_kinds=dispatcher.adapter_kinds,
                                           clock=clock))
        gateway.contexts = install_adapters(settings.adapters, gateway._context)
        return gateway

    def _context(self, options: dict[str, Any]) -> AdapterContext:
        return AdapterContext(options=options, adapters=self.adapters, blobs=self.blobs,
                              receive=self.pipeline.receive, intake=self.pipeline.intake, state=self.state,
                              base_dir=self.settings.base_dir, multiline_patterns=self.mappings.multiline_patterns)

    def close(self) -> None:
        self.webhooks.close()
        self.db.dispose()


def _queue(settings: Settings, db: Database, clock: Callable[[], dt.datetime]) -> WorkQueue:
    if settings.profile == "scaleout":
        if settings.effective_database_url.startswith("sqlite"):
            raise ConfigurationError("the scale-out profile needs RG_DATABASE_URL (PostgreSQL)")
        return RedisStreamQueue(settings.redis_url, settings.queue_name, settings.job_lease_seconds,
                                settings.intake_max_attempts)
    return TableQueue(db, settings.job_lease_seconds, settings.intake_max_attempts, clock)
