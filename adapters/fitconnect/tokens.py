"""OAuth2 client credentials for the Submission API: form-encoded, cached, renewed before expiry.

The token endpoint's answer is read with a size cap like every other answer; anything but a
usable token is an ``UpstreamUnavailable`` (the core retries), refused credentials are permanent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import orjson

from adapters.fitconnect.http import MAX_SMALL_BYTES, RemoteRefused, read_capped
from gateway.errors import UpstreamUnavailable


class TokenSource:
    """Client-credentials token, cached; renewed when less than a minute (or 10 %) is left."""

    def __init__(self, http: httpx.Client, token_url: str, client_id: str, client_secret: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._http, self._url, self._clock = http, token_url, clock
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _fetch(self) -> None:
        try:
            with self._http.stream("POST", self._url, data=self._form,
                                   headers={"Accept": "application/json"}) as response:
                status, body = response.status_code, read_capped(response, MAX_SMALL_BYTES)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"token endpoint not reachable ({type(exc).__name__})") from None
        if status >= 500 or status == 429:
            raise UpstreamUnavailable(f"token endpoint answered {status}")
        if status != 200:
            raise RemoteRefused(f"token endpoint refused the client credentials ({status})")
        try:
            value = orjson.loads(body)
            token, lifetime = value["access_token"], min(float(value.get("expires_in", 1800)), 1800.0)
            if not isinstance(token, str) or not token:
                raise TypeError("access_token")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise UpstreamUnavailable("token endpoint answered without a usable token") from None
        self._token = token  # FIT-Connect tokens live at most 30 minutes
        self._renew_at = self._clock() + lifetime - max(60.0, lifetime / 10)
