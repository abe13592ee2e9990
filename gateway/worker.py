"""The worker loop: poll the pull sources (``receive``), run the intake jobs (``process``), then
the outbox round that sends what those commits owe the outside (acknowledgements, webhooks,
forwardings, replies to applicants), then the follow-up on what was sent (forwardings, replies),
the periodic clean-ups, and last the sealing of the audit entries written so far into their hash
chains (gateway.events.audit_sealer). Every step is safe with several workers at once (claims,
leases, and the chains' head rows the sealers take turns on).

``rathaus-gateway worker`` runs it; ``serve`` and ``up`` start that command as a process of
its own beside the API (:mod:`gateway.worker_process`)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable

from gateway.adapter_registry import Adapters
from gateway.config import Settings
from gateway.errors import UpstreamUnavailable
from gateway.health.model import SOURCE, AdapterKey
from gateway.health.recorder import HealthRecorder
from gateway.intake.pipeline import INTAKE_JOB, IntakePipeline
from gateway.outbox.dispatcher import Dispatcher
from gateway.outbox.forwarding import Forwarder
from gateway.ports import AnnouncingSource, InboundMessage
from gateway.queue import Job, WorkQueue
from gateway.store.db import UnitOfWork

log = logging.getLogger(__name__)

PURGE_EVERY_SECONDS = 60


class Worker:
    def __init__(self, *, settings: Settings, adapters: Adapters, pipeline: IntakePipeline, queue: WorkQueue,
                 dispatcher: Dispatcher, forwarder: Forwarder, health: HealthRecorder, purge: Callable[[], object],
                 collect_blobs: Callable[[], object], follow_replies: Callable[[], int] = lambda: 0,
                 apply_retention: Callable[[], object] = lambda: None,
                 seal_audit: Callable[[], int] = lambda: 0) -> None:
        self.settings, self.adapters, self.pipeline, self.queue = settings, adapters, pipeline, queue
        self.dispatcher, self.forwarder, self._purge, self._collect_blobs = dispatcher, forwarder, purge, collect_blobs
        self.health = health
        self.follow_replies = follow_replies
        self.id = f"{socket.gethostname()}-{os.getpid()}-{id(self)}"
        self._last_poll = self._last_purge = float("-inf")
        self._polled: dict[str, float] = {}  # source -> when its last poll ended
        self._last_blob_gc = time.monotonic()  # not in the first round after a start
        self._apply_retention = apply_retention
        self._last_retention = time.monotonic()  # likewise
        self.seal_audit = seal_audit

    def poll_sources(self, force: bool = False) -> int:
        """Fetch what the pull sources hold and ``receive`` each message (durable, queued).

        A source is polled at most every ``poll_interval_seconds`` of its own (if it has that
        attribute) after its last poll ended — so each poll is a real one, and its outcome tells
        its circuit breaker something — and not while its breaker is open."""
        due = force or time.monotonic() - self._last_poll >= self.settings.poll_interval_seconds
        if due:
            self._last_poll = time.monotonic()
        received = 0
        for name, source in self.adapters.sources.items():
            interval = float(getattr(source, "poll_interval_seconds", 0.0))
            if due and time.monotonic() - self._polled.get(name, float("-inf")) >= interval:
                received += self._fetch(name, source.poll)
                self._polled[name] = time.monotonic()
            elif isinstance(source, AnnouncingSource) and source.announced():
                received += self._fetch(name, source.poll_announced)
        return received

    def _fetch(self, name: str, poll: Callable[[], Iterable[InboundMessage]]) -> int:
        received = 0
        try:
            for message in self.health.iterate(AdapterKey(SOURCE, name), poll):
                if not self.pipeline.receive(message).duplicate:
                    received += 1
        except Exception as exc:  # one failing source must not stop the others
            log.warning("polling %s failed: %s", name, type(exc).__name__)
        return received

    def run_jobs(self, block_seconds: float = 0.0, max_jobs: int = 16) -> int:
        jobs, buried = self.queue.reserve(self.id, max_jobs, block_seconds)
        for job in buried:
            self.pipeline.bury(job.ref, f"given up after {job.deliveries - 1} deliveries")
        for job in jobs:
            if not (job.kind == INTAKE_JOB and self._process(job)):
                self.queue.ack(job)
        return len(jobs) + len(buried)

    def _process(self, job: Job) -> bool:
        """Run an intake job; True when the job ended in the transaction of its result."""
        ended = False

        def finish(uow: UnitOfWork) -> None:
            nonlocal ended
            self.queue.ack_with(uow, job)
            ended = True

        self.pipeline.process(job.ref, finish=finish)
        return ended

    def run_once(self, force_poll: bool = True, block_seconds: float = 0.0) -> int:
        """One round; the number of steps it did (0: nothing was due)."""
        self.health.refresh()  # what other workers recorded about the adapters
        done = self.poll_sources(force=force_poll)
        try:
            done += self.pipeline.requeue_due()
            done += self.run_jobs(block_seconds)
        except UpstreamUnavailable as exc:
            # the job queue is away (Redis restarting): the outbox and the rest need only the database,
            # so they go on; the inbox sweeper enqueues again what the queue lost
            log.warning("the job queue is unavailable (%s); intake jobs wait", type(exc).__name__)
        # right after the jobs' commits: their acknowledgements leave through the ordinary outbox claim
        done += self.dispatcher.run_due()
        done += self.forwarder.follow()
        done += self.follow_replies()  # deliveries to applicants whose remote state may still change
        if time.monotonic() - self._last_purge > PURGE_EVERY_SECONDS:
            self._last_purge = time.monotonic()
            self._purge()
        if time.monotonic() - self._last_blob_gc > self.settings.blob_gc_interval_seconds:
            self._last_blob_gc = time.monotonic()
            self._collect_blobs()
        if time.monotonic() - self._last_retention > self.settings.retention.interval_seconds:
            self._last_retention = time.monotonic()
            self._apply_retention()
        # last: what this round wrote (and what other processes committed) joins its chain; an index
        # look-up when nothing is unsealed, and a count > 0 makes the loop go round again at once
        try:
            done += self.seal_audit()
        except Exception as exc:  # the database away: the entries wait, unsealed, for the next round
            log.warning("sealing the audit log failed: %s", type(exc).__name__)
        return done

    def run_until_idle(self, max_rounds: int = 50) -> int:
        total = 0
        for _ in range(max_rounds):
            done = self.run_once(force_poll=total == 0)
            total += done
            if done == 0:
                break
        return total

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                done = self.run_once(force_poll=False, block_seconds=self.settings.worker_idle_seconds)
            except Exception:
                log.exception("worker round failed")
                done = 0
            if done == 0:
                stop.wait(0.05)
        try:
            self.health.flush()
        except Exception:  # the store is gone: the counts held back are lost, nothing else
            log.warning("adapter health could not be written at the end")
