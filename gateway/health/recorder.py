"""Records every call the core makes to an adapter and keeps its circuit breaker.

The worker wraps each call (a source's poll, an outbox delivery through an acknowledger,
sender, reply channel or webhook, a sender's follow-up) in :meth:`HealthRecorder.call` or asks
:meth:`HealthRecorder.permit` first and reports with :meth:`HealthRecorder.record` — generic:
no adapter knows about it. State lives in the database (``adapter_health``), so every worker
process shares the breakers and the API process reads what they recorded.

Cheap to keep: each process holds a snapshot of all rows (re-read at most once a second), so a
call to a healthy adapter costs no query; its successes are written at most every
``write_interval_seconds`` (an outbox delivery's in the transaction that marks the row done);
failures and every change of the circuit are written at once.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection

from gateway.config import HealthSettings
from gateway.errors import CircuitOpen
from gateway.health import breaker, store
from gateway.health.model import AdapterKey, Breaker, ErrorSummary, Verdict
from gateway.store.db import Database

T = TypeVar("T")
REFRESH_SECONDS = 1.0


@dataclass
class _Held:
    """Successes of a healthy adapter not written yet."""

    calls: int
    last_success_at: dt.datetime | None
    since: float


class HealthRecorder:
    def __init__(self, db: Database, settings: HealthSettings, clock: Callable[[], dt.datetime],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.db, self.settings, self.clock, self.monotonic = db, settings, clock, monotonic
        self._lock = threading.Lock()
        self._snapshot: dict[AdapterKey, Breaker] = {}
        self._held: dict[AdapterKey, _Held] = {}
        self._refreshed = float("-inf")

    # -- what the worker asks -------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Re-read every breaker (other workers change them) and write successes held long enough."""
        if not force and self.monotonic() - self._refreshed < REFRESH_SECONDS:
            return
        self._refreshed = self.monotonic()
        due = []
        with self._lock:
            for key, held in list(self._held.items()):
                if self.monotonic() - held.since >= self.settings.write_interval_seconds:
                    due.append((key, self._held.pop(key)))
        if due:
            with self.db.transaction() as uow:
                for key, held in due:
                    self._write(uow.conn, key, held, False, None)
        with self.db.reading() as conn:
            snapshot = store.load_all(conn)
        with self._lock:
            self._snapshot = snapshot

    def known(self) -> dict[AdapterKey, Breaker]:
        with self._lock:
            return dict(self._snapshot)

    def permit(self, key: AdapterKey) -> bool:
        """Whether a call to ``key`` may be made now: always while its circuit is closed; once its
        cool-down is over, to the one caller that takes the probe."""
        now = self.clock()
        with self._lock:
            state = self._snapshot.get(key)
        if state is None or state.circuit == "closed":
            return True
        if not breaker.may_probe(state, now):
            return False
        with self.db.transaction() as uow:
            taken = store.claim_probe(uow.conn, key, now, now + dt.timedelta(
                seconds=self.settings.probe_timeout_seconds))
            current = store.load(uow.conn, key)
        if current is not None:
            with self._lock:
                self._snapshot[key] = current
        return taken

    def resume_at(self, key: AdapterKey) -> dt.datetime | None:
        """When work for ``key`` that may not run now should be tried again (None: now)."""
        now = self.clock()
        with self._lock:
            state = self._snapshot.get(key)
        if state is None or state.circuit == "closed":
            return None
        if state.circuit == "open" and state.retry_at is not None and state.retry_at > now:
            return state.retry_at
        # another worker holds the probe: look again shortly rather than wait out its whole timeout
        return now + dt.timedelta(seconds=min(self.settings.cooldown_seconds, 5.0))

    def open_until(self) -> dict[AdapterKey, dt.datetime]:
        """The adapters whose circuit is open and still cooling down, with the end of it."""
        now = self.clock()
        with self._lock:
            return {key: state.retry_at for key, state in self._snapshot.items()
                    if state.circuit == "open" and state.retry_at is not None and state.retry_at > now}

    # -- what the worker reports ----------------------------------------------------------------
    def record(self, key: AdapterKey, verdict: Verdict | None, exc: BaseException | None = None,
               conn: Connection | None = None) -> None:
        """Report how a call ended. With ``conn`` the change joins the caller's transaction."""
        if verdict is None:
            return
        now = self.clock()
        with self._lock:
            state = self._snapshot.get(key)
            held = self._held.pop(key, None) or _Held(0, None, self.monotonic())
            held.calls += 1
            if verdict == "ok":
                held.last_success_at = now
            if verdict != "failed" and state is not None and state.healthy \
                    and self.monotonic() - held.since < self.settings.write_interval_seconds:
                self._held[key] = held  # nothing changes but counters: written later, with others
                return
        error = ErrorSummary.of(exc) if exc is not None and verdict == "failed" else None
        if conn is not None:
            self._write(conn, key, held, verdict == "failed", error)
            return
        with self.db.transaction() as uow:
            self._write(uow.conn, key, held, verdict == "failed", error)

    def _write(self, conn: Connection, key: AdapterKey, held: _Held, failed: bool,
               error: ErrorSummary | None) -> None:
        now = self.clock()
        current = store.load_for_update(conn, key, now)
        changed = breaker.after(current, now, self.settings, calls=held.calls, failed=failed,
                                success_at=held.last_success_at, error=error)
        store.save(conn, key, changed)
        with self._lock:
            self._snapshot[key] = changed

    def flush(self) -> None:
        """Write every success held back (the worker stops)."""
        with self._lock:
            held, self._held = self._held, {}
        if held:
            with self.db.transaction() as uow:
                for key, item in held.items():
                    self._write(uow.conn, key, item, False, None)

    # -- wrappers -------------------------------------------------------------------------------
    def call(self, key: AdapterKey, action: Callable[[], T]) -> T:
        """Run one call to an adapter through its breaker: :class:`CircuitOpen` (a transient
        error) without calling it while its circuit is open; the outcome recorded either way."""
        if not self.permit(key):
            raise CircuitOpen(f"the circuit of {key} is open", adapter=str(key))
        try:
            result = action()
        except Exception as exc:
            self.record(key, breaker.classify(exc), exc)
            raise
        self.record(key, "ok")
        return result

    def iterate(self, key: AdapterKey, produce: Callable[[], Iterable[T]]) -> Iterator[T]:
        """The items of an adapter's iterable (a source's poll): nothing while its circuit is open;
        an exception the adapter raises is recorded and passed on; running to its end is a success.
        A consumer that stops early (its own step failed) records nothing."""
        if not self.permit(key):
            return
        try:
            iterator = iter(produce())
            while True:
                try:
                    item = next(iterator)
                except StopIteration:
                    break
                yield item
        except GeneratorExit:
            raise
        except Exception as exc:
            self.record(key, breaker.classify(exc), exc)
            raise
        self.record(key, "ok")
