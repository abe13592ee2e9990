"""One scrape: the event counters of every process and the state from the database, in
Prometheus' text format."""

from __future__ import annotations

from gateway.health.overview import HealthService
from gateway.metrics import instruments
from gateway.metrics.state import StateCollector
from gateway.store.db import Database


def render(db: Database, health: HealthService) -> tuple[bytes, str]:
    """The page and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    for collector in instruments.collectors():
        registry.register(collector)
    registry.register(StateCollector(db, health))
    return generate_latest(registry), CONTENT_TYPE_LATEST
