"""The replay cache: each assertion ID is accepted once for as long as the assertion is valid.

Two stores behind one small interface: the gateway's own database through the StateStore port
(SQLite in the embedded profile, PostgreSQL in scale-out) and Redis (``SET NX PX``) for
scale-out deployments that keep such short-lived keys out of the database.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import redis

from gateway.ports import StateStore

NAMESPACE = "citizen-login.assertions"


def _key(issuer: str, assertion_id: str) -> str:
    # the issuer is part of the key: two identity providers may use the same ID scheme
    return hashlib.sha256(f"{issuer}\n{assertion_id}".encode()).hexdigest()


class ReplayCache(Protocol):
    def first_use(self, issuer: str, assertion_id: str, ttl_seconds: float) -> bool:
        """True the first time an assertion is seen, False for every repeat within the TTL."""
        ...


class StateReplayCache:
    def __init__(self, state: StateStore) -> None:
        self._state = state

    def first_use(self, issuer: str, assertion_id: str, ttl_seconds: float) -> bool:
        return self._state.add(NAMESPACE, _key(issuer, assertion_id), {}, ttl_seconds=max(ttl_seconds, 1.0))


class RedisReplayCache:
    def __init__(self, client: redis.Redis, prefix: str = "rg:citizen-login:assertion:") -> None:
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> RedisReplayCache:
        return cls(redis.Redis.from_url(url))

    def first_use(self, issuer: str, assertion_id: str, ttl_seconds: float) -> bool:
        milliseconds = max(int(ttl_seconds * 1000), 1000)
        return bool(self._client.set(self._prefix + _key(issuer, assertion_id), b"1", nx=True, px=milliseconds))
