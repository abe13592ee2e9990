"""Gateways on real stores: SQLite (embedded) and PostgreSQL + Redis (scale-out)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.bootstrap import Gateway
from gateway.config import Settings
from gateway.migrations import upgrade
from gateway.ports import InboundMessage
from gateway.store.db import Database
from tests.conftest import TENANT, make_settings


def envelope(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant": TENANT, "service": "99108008001000", "form": "test-hund",
        "submitted_at": "2026-11-21T09:30:00+01:00",
        "data": {"halter": {"vorname": "Erika", "nachname": "Mustermann", "geburtsdatum": "12.08.1964"},
                 "hund": {"name": "Bello", "wurfdatum": "2025-03-01", "gefaehrlich": False}},
    }
    body.update(overrides)
    return body


def portal_message(source_id: str | None = None, **overrides: Any) -> InboundMessage:
    return InboundMessage(channel="portal", source_id=source_id or f"req:{uuid.uuid4()}",
                          payload=json.dumps(envelope(**overrides)).encode(), media_type="application/json",
                          received_at=dt.datetime.now(dt.UTC), tenant_ars=TENANT)


@pytest.fixture(params=["embedded", "scaleout"])
def profile_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "embedded":
        return make_settings(tmp_path)
    pg = request.getfixturevalue("pg_url")
    redis_url = request.getfixturevalue("redis_url")
    return make_settings(tmp_path, profile="scaleout", database_url=pg, redis_url=redis_url,
                         queue_name=f"rgtest-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def gw(profile_settings: Settings) -> Iterator[Gateway]:
    gateway = Gateway.create(profile_settings)
    yield gateway
    gateway.close()


# A database at the newest revision, on SQLite and on PostgreSQL (the audit chain's tests).
@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def _migrated(url: str) -> Iterator[Database]:
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    yield from _migrated(db_url)


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    yield from _migrated(pg_url)
