"""Adapter state in the gateway database, on both profiles' databases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.migrations import upgrade
from gateway.store.db import Database
from gateway.store.state_repo import SqlStateStore


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def store_and_clock(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[SqlStateStore, Clock]:
    url = f"sqlite:///{tmp_path / 's.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    upgrade(url)
    clock = Clock()
    return SqlStateStore(Database(url), clock), clock


def test_put_get_and_overwrite(store_and_clock: tuple[SqlStateStore, Clock]) -> None:
    store, _ = store_and_clock
    assert store.get("fitconnect.sender", "case|dest") is None
    store.put("fitconnect.sender", "case|dest", {"submissionId": "s1"})
    store.put("fitconnect.sender", "case|dest", {"submissionId": "s1", "submitted": True})
    assert store.get("fitconnect.sender", "case|dest") == {"submissionId": "s1", "submitted": True}
    assert store.get("other", "case|dest") is None


def test_add_refuses_a_present_key_until_it_expires(store_and_clock: tuple[SqlStateStore, Clock]) -> None:
    store, clock = store_and_clock
    assert store.add("callbacks", "sig-1", {}, ttl_seconds=300)
    assert not store.add("callbacks", "sig-1", {}, ttl_seconds=300)
    clock.now += dt.timedelta(seconds=301)
    assert store.get("callbacks", "sig-1") is None
    assert store.add("callbacks", "sig-1", {}, ttl_seconds=300)
    assert store.add("callbacks", "sig-2", {"n": 1})
    assert not store.add("callbacks", "sig-2", {"n": 2})
    assert store.get("callbacks", "sig-2") == {"n": 1}


def test_expired_entries_are_purged(store_and_clock: tuple[SqlStateStore, Clock]) -> None:
    store, clock = store_and_clock
    store.add("callbacks", "old", {}, ttl_seconds=10)
    store.add("callbacks", "young", {}, ttl_seconds=1000)
    store.put("sender", "kept", {"x": 1})
    clock.now += dt.timedelta(seconds=11)
    assert store.purge_expired() == 1
    assert store.purge_expired() == 0
    assert store.get("callbacks", "young") == {} and store.get("sender", "kept") == {"x": 1}
