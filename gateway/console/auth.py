"""Admin login and sessions of the console.

Accounts come from configuration (``console.accounts``: argon2id password hashes, the
municipalities each admin administers, whether the admin may read raw originals). Login
attempts go through the token endpoint's throttle (rate limit and lockout per username and per
address; :mod:`gateway.api.throttle`). Sessions live on the server, in the gateway database
(the ``StateStore``, namespace ``console.session``) — shared by every process of the scale-out
profile, ended at once by a logout, and never readable from the cookie: the cookie holds a
random id, the store only its SHA-256. A session ends after ``idle_timeout_seconds`` without a
request and ``max_session_seconds`` after the login; the account is read from configuration on
every request, so removing an admin or a municipality takes effect at once.

CSRF: a synchronizer token per session, drawn with ``secrets``, sent in a hidden field of
every state-changing form and compared with ``hmac.compare_digest``; the login form (no session
yet) uses a double-submit token (cookie and field). Cookies are HttpOnly, SameSite=Strict,
Path=/console, Secure over https.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway import client_secrets
from gateway.config import ConsoleAccount, ConsoleSettings
from gateway.ports import StateStore

SESSION_COOKIE = "rg_console"
LOGIN_COOKIE = "rg_console_login"
NAMESPACE = "console.session"
REFRESH_SECONDS = 30  # the idle timer is written back at most this often (one write per page view otherwise)


@dataclass(frozen=True)
class Admin:
    """The admin behind a request: who, for which municipalities, with which permission."""

    username: str
    tenants: tuple[str, ...]
    may_view_originals: bool
    csrf: str
    session_key: str

    @property
    def actor(self) -> str:
        return f"console:{self.username}"

    def may_see(self, tenant_ars: str | None) -> bool:
        return tenant_ars is not None and tenant_ars in self.tenants


def tokens_match(expected: str, given: str) -> bool:
    """Constant-time comparison of two tokens (an empty one never matches)."""
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class ConsoleAuth:
    def __init__(self, settings: ConsoleSettings, state: StateStore, now: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._accounts = {a.username: a for a in settings.accounts}
        self._state = state
        self._now = now
        # unknown usernames are checked against this, so timing does not reveal which accounts exist
        self._decoy = client_secrets.hash_secret(secrets.token_urlsafe(16))

    @property
    def usernames(self) -> frozenset[str]:
        return frozenset(self._accounts)

    def check_password(self, username: str, password: str) -> ConsoleAccount | None:
        account = self._accounts.get(username)
        matches = client_secrets.verify_secret(account.password_hash if account else self._decoy, password)
        return account if matches and account is not None else None

    def start(self, account: ConsoleAccount) -> str:
        """A new session (a new id at every login: no session fixation); the cookie's value."""
        session_id = new_token()
        now = self._now()
        self._state.put(NAMESPACE, _key(session_id), {"user": account.username, "csrf": new_token(),
                                                      "started": now, "seen": now},
                        ttl_seconds=self._settings.idle_timeout_seconds)
        return session_id

    def admin(self, session_id: str) -> Admin | None:
        """The admin of a live session, or None (unknown, idle too long, too old, account gone)."""
        if not session_id or len(session_id) > 128:
            return None
        key = _key(session_id)
        value = self._state.get(NAMESPACE, key)
        if value is None:
            return None
        now = self._now()
        account = self._accounts.get(str(value.get("user")))
        started, seen = float(value.get("started", 0)), float(value.get("seen", 0))  # type: ignore[arg-type]
        if (account is None or now - started > self._settings.max_session_seconds
                or now - seen > self._settings.idle_timeout_seconds):
            self._state.delete(NAMESPACE, key)
            return None
        if now - seen > REFRESH_SECONDS:
            self._state.put(NAMESPACE, key, {**value, "seen": now}, ttl_seconds=self._settings.idle_timeout_seconds)
        return Admin(username=account.username, tenants=tuple(account.tenants),
                     may_view_originals=account.may_view_originals, csrf=str(value.get("csrf", "")), session_key=key)

    def end(self, admin: Admin) -> None:
        self._state.delete(NAMESPACE, admin.session_key)

    def end_id(self, session_id: str) -> None:
        """End the session a cookie names, whatever state it is in (unknown ids change nothing)."""
        if session_id and len(session_id) <= 128:
            self._state.delete(NAMESPACE, _key(session_id))
