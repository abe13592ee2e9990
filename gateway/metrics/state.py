"""Gauges read from the database at scrape time: the state every process shares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, get_args

from sqlalchemy import func, select

from gateway.health import backlog
from gateway.health.model import Circuit, State
from gateway.health.overview import HealthService
from gateway.store.db import Database
from gateway.store.tables import inbox

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

INBOX_STATES = ("received", "retry", "quarantined", "dead")  # all on ix_inbox_state; not the done ones


class StateCollector:
    def __init__(self, db: Database, health: HealthService) -> None:
        self.db, self.health = db, health

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.metrics_core import GaugeMetricFamily

        statuses = self.health.overview()
        with self.db.reading() as conn:
            messages = conn.execute(select(inbox.c.channel, inbox.c.state, func.count())
                                    .where(inbox.c.state.in_(INBOX_STATES))
                                    .group_by(inbox.c.channel, inbox.c.state)).all()
            rows = backlog.outbox_by_target(conn)

        def gauge(name: str, text: str, labels: list[str]) -> Any:
            return GaugeMetricFamily(name, text, labels=labels)

        queue = gauge("rg_queue_depth", "Work waiting: open inbox messages by channel (stage intake) and pending "
                      "outbox rows by kind (stage delivery)", ["stage", "name"])
        by_state = gauge("rg_inbox_messages", "Inbox messages not yet done, by channel and state", ["channel", "state"])
        outbox_rows = gauge("rg_outbox_rows", "Outbox rows waiting or dead, by kind, target and state (a reply "
                            "channel's deliveries under its handler's kind)", ["kind", "target", "state"])
        # every channel and outbox kind, so that an empty queue reads 0 rather than vanishing
        waiting: dict[tuple[str, str], float] = {("intake", channel): 0 for channel in self.health.adapters.channels}
        waiting.update({("delivery", kind): 0 for kind in self.health.outbox_kinds()})
        for channel, state, count in messages:
            by_state.add_metric([channel, state], count)
            if state in ("received", "retry"):
                waiting[("intake", channel)] = waiting.get(("intake", channel), 0) + count
        for (kind, target), part in sorted(rows.items()):
            outbox_rows.add_metric([kind, target, "pending"], part.waiting)
            outbox_rows.add_metric([kind, target, "dead"], part.dead)
            waiting[("delivery", kind)] = waiting.get(("delivery", kind), 0) + part.waiting
        for (stage, name), count in sorted(waiting.items()):
            queue.add_metric([stage, name], count)
        yield from (queue, by_state, outbox_rows)
        yield from self._adapters(statuses, gauge)

    @staticmethod
    def _adapters(statuses: list[Any], gauge: Any) -> Iterator[Metric]:
        labels = ["kind", "name"]
        state = gauge("rg_adapter_state", "Adapter state: 1 for the current one of ok, degraded, down",
                      [*labels, "state"])
        circuit = gauge("rg_adapter_circuit", "Circuit breaker: 1 for the current one of closed, open, half_open",
                        [*labels, "circuit"])
        failures = gauge("rg_adapter_consecutive_failures", "Failed calls since the last success", labels)
        rate = gauge("rg_adapter_error_rate", "Failed calls / calls in the recent window", labels)
        waiting = gauge("rg_adapter_backlog", "Messages or deliveries waiting for the adapter", labels)
        lag = gauge("rg_adapter_lag_seconds", "Age of the oldest of them (0: none waits)", labels)
        dead = gauge("rg_adapter_dead_letters", "Dead letters of the adapter", labels)
        success = gauge("rg_adapter_last_success_timestamp_seconds", "Unix time of the last success (0: none yet)",
                        labels)
        for status in statuses:
            key = [status.kind, status.name]
            for option in get_args(State):
                state.add_metric([*key, option], 1.0 if status.state == option else 0.0)
            for option in get_args(Circuit):
                circuit.add_metric([*key, option], 1.0 if status.circuit == option else 0.0)
            failures.add_metric(key, status.consecutive_failures)
            rate.add_metric(key, status.error_rate)
            waiting.add_metric(key, status.backlog)
            lag.add_metric(key, status.lag_seconds or 0.0)
            dead.add_metric(key, status.dead_letters)
            success.add_metric(key, status.last_success_at.timestamp() if status.last_success_at else 0.0)
        yield from (state, circuit, failures, rate, waiting, lag, dead, success)
