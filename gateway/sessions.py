"""Citizen sessions: a signed, short-lived token per login, bounded by its trust level.

After a login the portal backend holds a session token (HS256, header ``kid`` = the issuing
service's name). Every use checks two limits that depend on the login's trust level — the
total lifetime since the login and the idle time since the last use — and a revocation list
(local logout). :meth:`SessionService.refresh` returns a new token with the idle clock reset;
the login time never moves.

=============  ===========  =========
trust level    at most      idle
=============  ===========  =========
niedrig        12 h         60 min
substantiell   2 h          30 min
hoch           30 min       5 min
=============  ===========  =========

The token carries what an application needs (pseudonym, trust level, identity provider, how the
login was proved, postbox handle) and nothing else of the person; names and addresses are
handed to the portal once, at the login's end.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from gateway.case.model import TrustLevel
from gateway.identity import CitizenSessionInvalid, LoginIdentity
from gateway.ports import StateStore

ALGORITHMS = ["HS256"]
MAX_TOKEN_BYTES = 4096
REVOKED = "citizen-sessions.revoked"


@dataclass(frozen=True)
class SessionLimits:
    lifetime: dt.timedelta
    idle: dt.timedelta


LIMITS: dict[TrustLevel, SessionLimits] = {
    TrustLevel.NIEDRIG: SessionLimits(dt.timedelta(hours=12), dt.timedelta(minutes=60)),
    TrustLevel.SUBSTANTIELL: SessionLimits(dt.timedelta(hours=2), dt.timedelta(minutes=30)),
    TrustLevel.HOCH: SessionLimits(dt.timedelta(minutes=30), dt.timedelta(minutes=5)),
}


@dataclass(frozen=True)
class CitizenSession:
    """A verified session: the login it stands for and its clocks."""

    id: str
    issuer: str
    identity: LoginIdentity
    logged_in_at: dt.datetime
    last_used_at: dt.datetime
    expires_at: dt.datetime


def _epoch(value: dt.datetime) -> int:
    return int(value.timestamp())


def _time(value: object) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(str(value)), dt.UTC)


class SessionService:
    """Issues and verifies the session tokens of one login service (``name`` goes into the
    token header, so that a verifier can tell which service's key applies)."""

    def __init__(self, name: str, key: bytes, revoked: StateStore,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        if len(key) < 32:
            raise ValueError("a session signing key needs at least 32 bytes")
        self.name = name
        self._key = OctKey.import_key(key)
        self._revoked = revoked
        self._clock = clock

    def _expiry(self, level: TrustLevel, logged_in: dt.datetime, last_used: dt.datetime) -> dt.datetime:
        limits = LIMITS[level]
        return min(logged_in + limits.lifetime, last_used + limits.idle)

    def _encode(self, sid: str, identity: LoginIdentity, logged_in: dt.datetime, last_used: dt.datetime) -> str:
        claims: dict[str, Any] = {
            "iss": self.name, "sid": sid, "sub": identity.pseudonym, "idp": identity.provider,
            "ten": identity.tenant_ars, "tl": identity.trust_level.value, "ac": identity.authn_context,
            "kind": identity.kind, "iat": _epoch(logged_in), "act": _epoch(last_used),
            "exp": _epoch(self._expiry(identity.trust_level, logged_in, last_used)),
        }
        optional = {"prov": identity.proved_by, "pb": identity.postbox_handle, "nid": identity.name_id,
                    "nidf": identity.name_id_format, "si": identity.session_index}
        claims.update({k: v for k, v in optional.items() if v is not None})
        return jwt.encode({"alg": "HS256", "typ": "citizen-session+jwt", "kid": self.name}, claims, self._key,
                          algorithms=ALGORITHMS)

    def issue(self, identity: LoginIdentity) -> str:
        now = self._clock()
        return self._encode(secrets.token_urlsafe(18), identity, now, now)

    def refresh(self, session: CitizenSession) -> str:
        """A new token for the same login with the idle clock reset."""
        return self._encode(session.id, session.identity, session.logged_in_at, self._clock())

    def verify(self, token: str) -> CitizenSession:
        if len(token) > MAX_TOKEN_BYTES:
            raise CitizenSessionInvalid("the citizen session token is too large")
        try:
            claims = jwt.decode(token, self._key, algorithms=ALGORITHMS).claims
            level = TrustLevel(str(claims["tl"]))
            logged_in, last_used = _time(claims["iat"]), _time(claims["act"])
            identity = LoginIdentity(
                provider=str(claims["idp"]), tenant_ars=str(claims["ten"]), pseudonym=str(claims["sub"]),
                trust_level=level, authn_context=str(claims["ac"]), proved_by=claims.get("prov"),
                postbox_handle=claims.get("pb"), kind=claims["kind"], name_id=claims.get("nid"),
                name_id_format=claims.get("nidf"), session_index=claims.get("si"))
            sid, issuer = str(claims["sid"]), str(claims["iss"])
        except (JoseError, KeyError, ValueError, TypeError):
            raise CitizenSessionInvalid("the citizen session token is invalid") from None
        if issuer != self.name:
            raise CitizenSessionInvalid("the citizen session token is invalid")
        # the limits come from the trust level, not from the token's own exp: a token signed
        # with a longer exp (an older release, a bug) still ends when the table says so
        expires = self._expiry(level, logged_in, last_used)
        now = self._clock()
        if now >= expires or last_used > now + dt.timedelta(seconds=60):
            raise CitizenSessionInvalid("the citizen session has expired; log in again",
                                        required=level.value)
        if self._revoked.get(REVOKED, sid) is not None:
            raise CitizenSessionInvalid("the citizen session has ended (logged out)")
        return CitizenSession(id=sid, issuer=issuer, identity=identity, logged_in_at=logged_in,
                              last_used_at=last_used, expires_at=expires)

    def revoke(self, session: CitizenSession) -> None:
        """Local logout: the session is refused from now on, in every process."""
        remaining = (session.logged_in_at + LIMITS[session.identity.trust_level].lifetime) - self._clock()
        self._revoked.add(REVOKED, session.id, {"at": self._clock().isoformat()},
                          ttl_seconds=max(remaining.total_seconds(), 1.0))


def session_issuer(token: str) -> str | None:
    """The ``kid`` of a session token's header (unverified: only to pick the verifying service)."""
    try:
        header = jws.extract_compact(token.encode()).protected if len(token) <= MAX_TOKEN_BYTES else None
    except (JoseError, ValueError):
        return None
    kid = header.get("kid") if header else None
    return kid if isinstance(kid, str) else None


__all__ = ["LIMITS", "CitizenSession", "SessionLimits", "SessionService", "session_issuer"]
