"""Rate limit and lockout of the SAML endpoints per client address, on the gateway's own throttle
(``gateway/api/throttle.py``, the token endpoint's): the counters come from the adapter context,
so they live in Redis in the scale-out profile and in process memory otherwise.

Every request to the login start, the ACS and the SLO endpoint counts against the address's
``requests_per_minute`` (each start signs a request and stores it; each answer may cost a
signature check and a decryption). Each answer a check rejects — signature, decryption,
audience, time, replay, ``InResponseTo``, unknown ``RelayState``, malformed XML — counts as a
failure; ``max_failures`` of them within the window lock the address out: its requests are then
refused with 429 before the body is read, so a forger can neither keep the gateway verifying nor
keep guessing. A refusal by the identity provider (cancelled, level not reached) is a verified
answer, not a failure. Only the address is a key (as the token endpoint keeps it: in the
counters' names, with their time to live, never logged); nothing of the message is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread

from adapters.citizen_login.options import RateLimits
from gateway.api.throttle import Counters, TokenThrottle
from gateway.config import TokenLimits
from gateway.errors import InvalidPayload
from gateway.identity import LoginRejected

COUNTERS = "citizen-login-limits"
# what the checks raise for an answer they refuse (safexml: malformed XML, DTDs, entities, size)
REJECTIONS = (LoginRejected, InvalidPayload)


class AddressThrottle:
    """The gateway's throttle with the client address as its only key (no client ids here)."""

    def __init__(self, limits: RateLimits, counters: Counters) -> None:
        per_address = TokenLimits(requests_per_minute=limits.requests_per_minute,
                                  max_failures_per_address=limits.max_failures,
                                  max_failures_per_client=limits.max_failures,  # unused: no known clients
                                  failure_window_seconds=limits.failure_window_seconds,
                                  lockout_seconds=limits.lockout_seconds)
        self._throttle = TokenThrottle(per_address, counters, frozenset(), what="login requests from this address")

    def admit(self, address: str) -> None:
        """Raises TooManyRequests while the address is locked out or over its rate."""
        self._throttle.admit("", address)

    def failed(self, address: str) -> None:
        self._throttle.failed("", address)

    @asynccontextmanager
    async def counting_rejections(self, address: str) -> AsyncIterator[None]:
        """Counts a rejection raised inside as the address's failure (then lets it through).
        In a thread: Redis counters block."""
        try:
            yield
        except REJECTIONS:
            await anyio.to_thread.run_sync(self.failed, address)
            raise
