"""OAuth2 client credentials: the gateway issues short-lived HS256 access tokens to the
clients registered in configuration, each with scopes and an optional tenant restriction."""

from __future__ import annotations

import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from gateway import client_secrets
from gateway.config import ClientConfig, Settings
from gateway.errors import AuthenticationFailed, Forbidden, TokenRequestRefused

ALGORITHMS = ["HS256"]
MAX_TOKEN_BYTES = 4096
LEEWAY_SECONDS = 30  # clock difference tolerated between gateway processes


@dataclass(frozen=True)
class Principal:
    client_id: str
    scopes: frozenset[str]
    tenants: list[str] | None
    expires_at: int

    def require(self, scope: str) -> None:
        """Each scope stands for itself: ``admin`` grants the admin operations only."""
        if scope not in self.scopes:
            raise Forbidden(f"this operation needs scope {scope!r}", required_scope=scope)

    def may_act_for(self, tenant_ars: str) -> bool:
        return self.tenants is None or tenant_ars in self.tenants


class TokenService:
    def __init__(self, settings: Settings) -> None:
        secret = settings.token_signing_key.get_secret_value().encode()
        # Without a configured key (embedded demo) tokens are only valid for this process.
        self._key = OctKey.import_key(secret or secrets.token_bytes(32))
        self._issuer = settings.issuer
        self._ttl = settings.token_ttl_seconds
        self._clients = {c.client_id: c for c in settings.clients}
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        # unknown clients are checked against this, so timing does not reveal which ids exist
        self._decoy_hash = client_secrets.hash_secret(secrets.token_urlsafe(16))

    def _client(self, client_id: str, client_secret: str) -> ClientConfig:
        client = self._clients.get(client_id)
        matches = client_secrets.verify_secret(client.secret_hash if client else self._decoy_hash, client_secret)
        if not matches or client is None:
            raise AuthenticationFailed("invalid client credentials", error="invalid_client")
        return client

    def issue(self, client_id: str, client_secret: str, scope: str | None) -> dict[str, object]:
        client = self._client(client_id, client_secret)
        granted: set[str] = set(client.scopes)
        if scope:
            requested = set(scope.split())
            if not requested <= granted:
                raise TokenRequestRefused("requested scope exceeds the client's scopes", error="invalid_scope")
            granted = requested
        now = int(time.time())
        claims = {"iss": self._issuer, "sub": client.client_id, "aud": self._issuer, "iat": now,
                  "exp": now + self._ttl, "jti": str(uuid.uuid4()), "scope": " ".join(sorted(granted)),
                  "tenants": client.tenants}
        token = jwt.encode({"alg": "HS256", "typ": "at+jwt"}, claims, self._key, algorithms=ALGORITHMS)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self._ttl,
                "scope": claims["scope"]}

    def _lifetime_checked(self, claims: dict[str, object], now: int) -> int:
        """A token lives at most the configured TTL from its issue, whatever its ``exp`` says
        (a token made with a leaked key must not live for ever): ``iat`` is required, not in
        the future, and ``exp - iat`` not beyond the TTL."""
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or isinstance(iat, bool) or isinstance(exp, bool):
            raise AuthenticationFailed("invalid or expired access token", error="invalid_token")
        if iat > now + LEEWAY_SECONDS or exp - iat > self._ttl or iat + self._ttl <= now:
            raise AuthenticationFailed("invalid or expired access token", error="invalid_token")
        return exp

    def verify(self, token: str) -> Principal:
        now = int(time.time())
        cached = self._cache.get(token)
        if cached is not None and cached.expires_at > now:
            return cached
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthenticationFailed("access token too large")
        try:
            decoded = jwt.decode(token, self._key, algorithms=ALGORITHMS)
            registry = jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self._issuer}, aud={"essential": True, "value": self._issuer},
                exp={"essential": True}, sub={"essential": True})
            registry.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise AuthenticationFailed("invalid or expired access token", error="invalid_token",
                                       reason=type(exc).__name__) from None
        claims = decoded.claims
        expires_at = self._lifetime_checked(claims, now)
        client = self._clients.get(str(claims["sub"]))
        if client is None:
            raise AuthenticationFailed("the token's client is no longer registered", error="invalid_token")
        principal = Principal(client_id=client.client_id, scopes=frozenset(str(claims["scope"]).split()),
                              tenants=client.tenants, expires_at=expires_at)
        self._cache[token] = principal
        if len(self._cache) > 10_000:
            self._cache.popitem(last=False)
        return principal
