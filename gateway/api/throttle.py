"""Rate limit and lockout of the token endpoint, per client id and per client address.

Two rules, each for both keys:
- at most ``requests_per_minute`` token requests in a fixed one-minute window (bounds the
  argon2 work anyone can make the gateway do);
- ``max_failures_*`` failed logins within ``failure_window_seconds`` lock the key out for
  ``lockout_seconds``: every token request for it is then answered 429 without looking at the
  secret, so guessing stops and costs no hashing.
Per client id only for registered clients: counters for made-up ids would only fill memory
(the address rule covers those). A lockout per client id lets an attacker lock a client out
for ``lockout_seconds``; that is the price of stopping a distributed guess at one secret.

Counters: :class:`MemoryCounters` (embedded profile: one process) or :class:`RedisCounters`
(scale-out: every process shares them); :func:`counters_for` picks them by the profile. The
admin console's login and the citizen login's SAML endpoints (through ``AdapterContext.counters``)
use the same throttle with counters of their own.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis
from starlette.requests import Request

from gateway.config import Settings, TokenLimits
from gateway.errors import TooManyRequests, UpstreamUnavailable

MINUTE = 60


def client_address(request: Request) -> str:
    """The key a client is counted by: its IPv4 address, or the /64 network of its IPv6 address
    (one host usually has a whole /64 to pick addresses from; counting each one apart would let
    it escape every limit). Behind a reverse proxy, set uvicorn's ``FORWARDED_ALLOW_IPS`` to
    the proxy's address, so the peer is the client and not the proxy — never ``*``: then any
    client could name the address it is counted by."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class Counters(Protocol):
    def hit(self, key: str, window: int) -> tuple[int, float]:
        """Count one event in the key's current window: the count so far and the seconds left."""
        ...

    def lock(self, key: str, seconds: int) -> None: ...

    def locked_for(self, key: str) -> float:
        """Seconds the key stays locked (0: not locked)."""
        ...

    def reset(self, key: str) -> None: ...


class MemoryCounters:
    """Fixed windows in this process's memory, bounded: expired entries are dropped when it grows."""

    MAX_KEYS = 100_000

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._windows: dict[str, tuple[int, float]] = {}
        self._locks: dict[str, float] = {}
        self._mutex = threading.Lock()
        self._now = now

    def _prune(self, now: float) -> None:
        if len(self._windows) + len(self._locks) < self.MAX_KEYS:
            return
        self._windows = {k: v for k, v in self._windows.items() if v[1] > now}
        self._locks = {k: v for k, v in self._locks.items() if v > now}
        if len(self._windows) >= self.MAX_KEYS:  # still full of live windows: forget the oldest half
            for key in list(self._windows)[: self.MAX_KEYS // 2]:
                del self._windows[key]

    def hit(self, key: str, window: int) -> tuple[int, float]:
        now = self._now()
        with self._mutex:
            count, ends = self._windows.get(key, (0, 0.0))
            if ends <= now:
                self._prune(now)
                count, ends = 0, now + window
            self._windows[key] = (count + 1, ends)
        return count + 1, ends - now

    def lock(self, key: str, seconds: int) -> None:
        with self._mutex:
            self._locks[key] = self._now() + seconds

    def locked_for(self, key: str) -> float:
        until = self._locks.get(key)
        return max(0.0, until - self._now()) if until is not None else 0.0

    def reset(self, key: str) -> None:
        with self._mutex:
            self._windows.pop(key, None)


class RedisCounters:
    """The same windows as Redis keys with a time to live, shared by every gateway process."""

    def __init__(self, url: str, prefix: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix

    def _guarded(self, call: str) -> UpstreamUnavailable:
        return UpstreamUnavailable(f"the rate limiter's store is not reachable ({call})")

    def hit(self, key: str, window: int) -> tuple[int, float]:
        name = self._prefix + "w:" + key
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.incr(name)
            pipe.expire(name, window, nx=True)
            pipe.pttl(name)
            count, _, ttl_ms = pipe.execute()
        except redis.RedisError:
            raise self._guarded("hit") from None
        return int(count), max(0.0, int(ttl_ms) / 1000)

    def lock(self, key: str, seconds: int) -> None:
        try:
            self._redis.set(self._prefix + "l:" + key, b"1", ex=seconds)
        except redis.RedisError:
            raise self._guarded("lock") from None

    def locked_for(self, key: str) -> float:
        try:
            ttl_ms = int(self._redis.pttl(self._prefix + "l:" + key))  # -2: no such key
        except redis.RedisError:
            raise self._guarded("locked_for") from None
        return ttl_ms / 1000 if ttl_ms > 0 else 0.0

    def reset(self, key: str) -> None:
        try:
            self._redis.delete(self._prefix + "w:" + key)
        except redis.RedisError:
            raise self._guarded("reset") from None

    def close(self) -> None:
        self._redis.close()


def counters_for(settings: Settings, name: str) -> Counters:
    """Counters of their own under ``name``: in Redis in the scale-out profile (every process
    counts together), in this process's memory otherwise."""
    if settings.profile == "scaleout":
        return RedisCounters(settings.redis_url, f"{settings.queue_name}:{name}:")
    return MemoryCounters()


class TokenThrottle:
    """``what`` names the requests in the 429's detail (the token endpoint's by default)."""

    def __init__(self, limits: TokenLimits, counters: Counters, known_clients: frozenset[str], *,
                 what: str = "token requests") -> None:
        self._limits = limits
        self._counters = counters
        self._known = known_clients
        self._what = what

    def _keys(self, client_id: str, address: str) -> list[tuple[str, int]]:
        keys = [(f"addr:{address}", self._limits.max_failures_per_address)]
        if client_id in self._known:
            keys.append((f"client:{client_id}", self._limits.max_failures_per_client))
        return keys

    def admit(self, client_id: str, address: str) -> None:
        """Raises TooManyRequests while a key is locked out or over its request rate."""
        keys = self._keys(client_id, address)
        for key, _ in keys:
            remaining = self._counters.locked_for(key)
            if remaining > 0:
                raise TooManyRequests(f"too many failed {self._what}; try again later",
                                      retry_after=math.ceil(remaining))
        for key, _ in keys:
            count, left = self._counters.hit("req:" + key, MINUTE)
            if count > self._limits.requests_per_minute:
                raise TooManyRequests(f"too many {self._what}; try again later", retry_after=max(1, math.ceil(left)))

    def failed(self, client_id: str, address: str) -> None:
        for key, allowed in self._keys(client_id, address):
            count, _ = self._counters.hit("fail:" + key, self._limits.failure_window_seconds)
            if count >= allowed:
                self._counters.lock(key, self._limits.lockout_seconds)

    def succeeded(self, client_id: str) -> None:
        """A right secret ends the client's run of failures (not the address's: one client's
        success must not reset the guesses another made from there)."""
        if client_id in self._known:
            self._counters.reset(f"fail:client:{client_id}")
