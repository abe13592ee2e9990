"""Sandbox Zustelldienst on a real loopback port, and the channel wired against it.

Adapter state (sender progress, callback replays) lives in a real gateway database, as in
production: wirings that share one are like gateway processes that share one database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.fitconnect.sandbox.app import create_app
from adapters.fitconnect.sandbox.config import demo_config
from adapters.fitconnect.sandbox.state import Sandbox
from adapters.fitconnect.testing import SandboxEnv
from gateway.migrations import upgrade
from gateway.store.db import Database
from gateway.store.state_repo import SqlStateStore
from tests.support.servers import serve_app


def sql_state(url: str) -> SqlStateStore:
    upgrade(url)
    return SqlStateStore(Database(url), lambda: dt.datetime.now(dt.UTC))


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Sandbox]]:
    app = create_app(demo_config())
    with serve_app(app, health_path="/health") as url:
        yield url, app.state.sandbox


@pytest.fixture(scope="module")
def sqlite_state(tmp_path_factory: pytest.TempPathFactory) -> SqlStateStore:
    return sql_state(f"sqlite:///{tmp_path_factory.mktemp('state') / 'gateway.db'}")


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_state(request: pytest.FixtureRequest, tmp_path: Path) -> SqlStateStore:
    """A fresh gateway database of either profile (PostgreSQL: the scale-out profile)."""
    if request.param == "sqlite":
        return sql_state(f"sqlite:///{tmp_path / 'shared.db'}")
    return sql_state(request.getfixturevalue("pg_url"))


@pytest.fixture
def env(served: tuple[str, Sandbox], tmp_path: Path, sqlite_state: SqlStateStore) -> SandboxEnv:
    return SandboxEnv(served[0], served[1], tmp_path, sqlite_state)
