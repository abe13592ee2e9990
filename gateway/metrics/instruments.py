"""The event counters and histograms, made on first use (prometheus-client is imported only
then: see :mod:`gateway.metrics`). Label values are channel, service, kind and adapter names,
LeiKa keys and outcomes — never anything of an applicant."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

# from a synchronous portal intake (milliseconds) to a pull channel's message that waited out a
# backoff (minutes); deliveries likewise
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


@dataclass(frozen=True)
class Instruments:
    registry: CollectorRegistry
    intake: Counter
    intake_seconds: Histogram
    deliveries: Counter
    delivery_seconds: Histogram
    retries: Counter
    dead_letters: Counter


@functools.cache
def instruments() -> Instruments:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry(auto_describe=True)

    def counter(name: str, text: str, labels: list[str]) -> Counter:
        return Counter(name, text, labels, registry=registry)

    return Instruments(
        registry=registry,
        intake=counter("rg_intake", "Messages taken in, by channel, service (LeiKa key, 'unknown' before routing) "
                       "and outcome (committed, quarantined, refused, retry, dead)", ["channel", "service", "outcome"]),
        intake_seconds=Histogram("rg_intake_seconds", "From receipt to the commit of the case, by channel",
                                 ["channel"], buckets=BUCKETS, registry=registry),
        deliveries=counter("rg_outbox_deliveries", "Outbox deliveries (acknowledgements, rejections, webhooks, "
                           "forwardings, replies), by kind, target and outcome (delivered, retry, dead, postponed "
                           "while the target's circuit is open)", ["kind", "target", "outcome"]),
        delivery_seconds=Histogram("rg_outbox_delivery_seconds", "From the commit that wrote an outbox row to its "
                                   "delivery, by kind and target (kind ack: commit to acknowledgement upstream)",
                                   ["kind", "target"], buckets=BUCKETS, registry=registry),
        retries=counter("rg_retries", "Retries scheduled, by stage (intake: by channel; delivery: by outbox kind)",
                        ["stage", "name"]),
        dead_letters=counter("rg_dead_letters", "Dead letters made, by stage (intake: by channel; delivery: by "
                             "outbox kind)", ["stage", "name"]),
    )


def intake(channel: str, service: str | None, outcome: str) -> None:
    instruments().intake.labels(channel, service or "unknown", outcome).inc()
    if outcome == "retry":
        instruments().retries.labels("intake", channel).inc()
    elif outcome == "dead":
        instruments().dead_letters.labels("intake", channel).inc()


def committed(channel: str, service: str, seconds: float) -> None:
    """A case committed ``seconds`` after its message was received."""
    intake(channel, service, "committed")
    instruments().intake_seconds.labels(channel).observe(max(seconds, 0.0))


def delivery(kind: str, target: str, outcome: str, seconds: float | None = None) -> None:
    tools = instruments()
    tools.deliveries.labels(kind, target, outcome).inc()
    if outcome == "delivered" and seconds is not None:
        tools.delivery_seconds.labels(kind, target).observe(max(seconds, 0.0))
    elif outcome == "retry":
        tools.retries.labels("delivery", kind).inc()
    elif outcome == "dead":
        tools.dead_letters.labels("delivery", kind).inc()


def collectors() -> list[Any]:
    """What a scrape reads of the events: every process's files, or this process's memory."""
    from gateway.metrics import directory

    path = directory.current()
    if path is None:
        return [instruments().registry]
    from prometheus_client.multiprocess import MultiProcessCollector

    return [MultiProcessCollector(None, path=str(path))]  # type: ignore[no-untyped-call]
