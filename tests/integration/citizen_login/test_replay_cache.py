"""The replay cache on the real stores: the gateway database (SQLite, embedded profile) and
Redis (scale-out). An assertion ID is accepted once while it is valid, again after expiry."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import redis

from adapters.citizen_login.replay import RedisReplayCache, StateReplayCache
from gateway.migrations import upgrade
from gateway.store.db import Database
from gateway.store.state_repo import SqlStateStore


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def test_sqlite_state_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade(url)
    clock = Clock()
    db = Database(url)
    try:
        cache = StateReplayCache(SqlStateStore(db, clock))
        assert cache.first_use("https://idp", "_a1", 300) is True
        assert cache.first_use("https://idp", "_a1", 300) is False
        assert cache.first_use("https://other-idp", "_a1", 300) is True
        clock.now += dt.timedelta(seconds=301)
        assert cache.first_use("https://idp", "_a1", 300) is True
    finally:
        db.dispose()


def test_redis(redis_url: str) -> None:
    cache = RedisReplayCache(redis.Redis.from_url(redis_url), prefix=f"test:{uuid.uuid4().hex}:")
    assert cache.first_use("https://idp", "_a1", 1.0) is True
    assert cache.first_use("https://idp", "_a1", 1.0) is False
    time.sleep(1.1)
    assert cache.first_use("https://idp", "_a1", 1.0) is True

