"""What the gateway remembers between the steps of a login, in the StateStore (shared by all
processes): the requests it sent (so that only answers to them are accepted, each once) and the
one-time codes the portal exchanges for the login's result."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from gateway.ports import StateStore

REQUESTS = "citizen-login.requests"
USED = "citizen-login.requests-used"
CODES = "citizen-login.codes"
CODES_USED = "citizen-login.codes-used"
CODE_TTL_SECONDS = 120.0


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class PendingLogin:
    request_id: str
    relay: str
    tenant_ars: str
    idp: str
    minimum: str
    return_to: str
    kind: str  # "login" or "logout"


class PendingStore:
    def __init__(self, state: StateStore, ttl_seconds: float) -> None:
        self._state = state
        self._ttl = ttl_seconds

    def remember(self, pending: PendingLogin) -> None:
        # keyed by the RelayState token (random, sent along with the request); the request ID
        # is checked against InResponseTo
        self._state.add(REQUESTS, _digest(pending.relay), pending.__dict__, ttl_seconds=self._ttl)

    def take(self, relay: str) -> PendingLogin | None:
        """The pending request for ``relay``, once: a second answer to it finds nothing."""
        key = _digest(relay)
        found = self._state.get(REQUESTS, key)
        if found is None or not self._state.add(USED, key, {}, ttl_seconds=self._ttl):
            return None
        return PendingLogin(**{k: str(v) for k, v in found.items()})

    def issue_code(self, result: dict[str, Any]) -> str:
        code = secrets.token_urlsafe(32)
        self._state.add(CODES, _digest(code), result, ttl_seconds=CODE_TTL_SECONDS)
        return code

    def redeem(self, code: str) -> dict[str, Any] | None:
        key = _digest(code)
        found = self._state.get(CODES, key)
        if found is None or not self._state.add(CODES_USED, key, {"at": dt.datetime.now(dt.UTC).isoformat()},
                                                ttl_seconds=CODE_TTL_SECONDS):
            return None
        return found
