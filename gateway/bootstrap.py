"""Composition root: settings -> one gateway (stores, queue, adapters, pipeline, outbox, worker).

Nothing runs here. The intake entry points are the pipeline's ``receive`` (pull channels),
``intake`` (synchronous channels) and ``process`` (the worker's job), see
:mod:`gateway.intake.pipeline`; the worker loop is :mod:`gateway.worker`; the HTTP API is
built from a gateway by :func:`gateway.api.app.create_app`; read-only look-ups for the CLI
and the tests are :mod:`gateway.queries`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.adapter_registry import Adapters
from gateway.api.throttle import counters_for
from gateway.case.service import CaseService
from gateway.catalog import Catalog, RegistryLookup
from gateway.config import Settings
from gateway.errors import ConfigurationError
from gateway.events import audit_sealer
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
from gateway.replies.delivery import ReplyHandler
from gateway.replies.follow import ReplyFollower
from gateway.replies.ledger import OUTBOX_KIND, Ledger
from gateway.replies.service import ReplyService
from gateway.retention import Retention
from gateway.store import blob_gc
from gateway.store.blobs import FilesystemBlobStore
from gateway.store.crypto.data_keys import DataKeyRing
from gateway.store.crypto.setup import protect
from gateway.store.db import Database
from gateway.store.db_blobs import DatabaseBlobStore
from gateway.store.files import private_dir
from gateway.store.state_repo import SqlStateStore
from gateway.worker import Worker

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Gateway:
    settings: Settings
    db: Database
    blobs: blob_gc.CollectableBlobs  # encrypting (EncryptedBlobStore) once a master key is configured
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
    replies: ReplyService
    clock: Callable[[], dt.datetime]
    keys: DataKeyRing | None = None  # None: no master key configured, personal data in clear
    contexts: list[AdapterContext] = field(default_factory=list)

    @classmethod
    def create(cls, settings: Settings, clock: Callable[[], dt.datetime] = utcnow) -> Gateway:
        private_dir(settings.data_dir)
        db = Database(settings.effective_database_url, settings.durability)
        upgrade(settings.effective_database_url)
        stored: FilesystemBlobStore | DatabaseBlobStore = (
            DatabaseBlobStore(db) if settings.effective_blob_store == "database"
            else FilesystemBlobStore(settings.effective_blob_dir, durable=settings.durability == "full"))
        blobs, keys = protect(settings, db, stored)
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
        ledger = Ledger(webhooks=settings.webhooks, channels=adapters.reply_channels, settings=settings.replies)
        dispatcher = Dispatcher(db=db, settings=settings, clock=clock, health=recorder, handlers={
            "webhook": WebhookHandler(webhooks),
            "ack": AcknowledgeHandler(db, blobs, adapters),
            "reject": RejectHandler(db, blobs, adapters),
            "forward": forwarder,
            OUTBOX_KIND: ReplyHandler(db, blobs, adapters, ledger),
        })
        follower = ReplyFollower(db, adapters, ledger, settings.replies, clock, recorder)
        worker = Worker(settings=settings, adapters=adapters, pipeline=pipeline, queue=queue, dispatcher=dispatcher,
                        forwarder=forwarder, health=recorder, purge=state.purge_expired,
                        collect_blobs=lambda: blob_gc.collect(db, blobs, settings.blob_gc_grace_seconds),
                        follow_replies=follower.follow,
                        apply_retention=lambda: Retention(db, blobs, catalog, settings, clock).run(),
                        seal_audit=lambda: audit_sealer.seal(db))
        replies = ReplyService(db=db, blobs=blobs, state=state, catalog=catalog, adapters=adapters, settings=settings,
                               ledger=ledger, clock=clock)
        gateway = cls(settings=settings, db=db, blobs=blobs, mappings=mappings, catalog=catalog, adapters=adapters,
                      queue=queue, pipeline=pipeline, dispatcher=dispatcher, worker=worker,
                      cases=CaseService(db, settings, adapters, clock), queries=Queries(db), webhooks=webhooks,
                      state=state, replies=replies, clock=clock, health_recorder=recorder, keys=keys,
                      health=HealthService(db=db, adapters=adapters, webhooks=settings.webhooks,
                                           settings=settings.health, outbox_kinds=dispatcher.adapter_kinds,
                                           clock=clock))
        gateway.contexts = install_adapters(settings.adapters, gateway._context)
        _warn_unregistered_reply_channels(catalog, adapters)
        return gateway

    def _context(self, options: dict[str, Any]) -> AdapterContext:
        return AdapterContext(options=options, adapters=self.adapters, blobs=self.blobs,
                              receive=self.pipeline.receive, intake=self.pipeline.intake, state=self.state,
                              base_dir=self.settings.base_dir, multiline_patterns=self.mappings.multiline_patterns,
                              data_dir=self.settings.data_dir,
                              counters=lambda name: counters_for(self.settings, name))

    def close(self) -> None:
        self.webhooks.close()
        self.db.dispose()


def _warn_unregistered_reply_channels(catalog: Catalog, adapters: Adapters) -> None:
    """A reply channel the catalog names but no configured adapter registered is passed over when
    replies are routed (the next one, or the "send by post" task, takes the reply): say so once."""
    missing = sorted({name for _, _, name in catalog.reply_channel_uses()} - set(adapters.reply_channels))
    if missing:
        log.warning("reply channels named in the catalog but not configured (passed over): %s", ", ".join(missing))


def _queue(settings: Settings, db: Database, clock: Callable[[], dt.datetime]) -> WorkQueue:
    if settings.profile == "scaleout":
        if settings.effective_database_url.startswith("sqlite"):
            raise ConfigurationError("the scale-out profile needs RG_DATABASE_URL (PostgreSQL)")
        return RedisStreamQueue(settings.redis_url, settings.queue_name, settings.job_lease_seconds,
                                settings.intake_max_attempts)
    return TableQueue(db, settings.job_lease_seconds, settings.intake_max_attempts, clock)
