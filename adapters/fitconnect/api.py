"""HTTP client of the FIT-Connect Submission API v1 (subscriber and sender side).

OAuth2 client credentials with a cached token renewed before it expires; every response
body is read with a size cap; network faults and 5xx/429 become ``UpstreamUnavailable``
(the core retries), 4xx become permanent errors that name the problem type but never echo
request content.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson

from gateway.errors import PermanentError, UpstreamUnavailable

JOSE = "application/jose"
MAX_JSON_BYTES = 2 * 1024 * 1024


class RemoteNotFound(PermanentError):
    slug = "fitconnect-not-found"
    title = "The Zustelldienst does not know this resource"
    status = 404


class RemoteRefused(PermanentError):
    slug = "fitconnect-request-refused"
    title = "The Zustelldienst refused the request"


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
            response = self._http.post(self._url, data=self._form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"token endpoint not reachable ({type(exc).__name__})") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise UpstreamUnavailable(f"token endpoint answered {response.status_code}")
        if response.status_code != 200:
            raise RemoteRefused(f"token endpoint refused the client credentials ({response.status_code})")
        body = orjson.loads(response.content)
        lifetime = min(float(body.get("expires_in", 1800)), 1800.0)  # FIT-Connect: at most 30 minutes
        self._token = str(body["access_token"])
        self._renew_at = self._clock() + lifetime - max(60.0, lifetime / 10)


class SubmissionApi:
    def __init__(self, base_url: str, tokens: TokenSource, http: httpx.Client) -> None:
        self.base = base_url.rstrip("/")
        self._tokens, self._http = tokens, http

    # -- plumbing -------------------------------------------------------------------------
    def request(self, method: str, path: str, *, max_bytes: int = MAX_JSON_BYTES, auth: bool = True,
                **kwargs: Any) -> tuple[int, bytes]:
        extra = dict(kwargs.pop("headers", None) or {})
        for attempt in (1, 2):
            headers = dict(extra)
            if auth:
                headers["Authorization"] = f"Bearer {self._tokens.token()}"
            try:
                with self._http.stream(method, self.base + path, headers=headers, **kwargs) as response:
                    status = response.status_code
                    body = _read_capped(response, max_bytes) if status < 400 else _read_capped(response, 65536)
            except httpx.HTTPError as exc:
                raise UpstreamUnavailable(f"Zustelldienst not reachable ({type(exc).__name__})") from None
            if status == 401 and auth and attempt == 1:
                self._tokens.invalidate()  # revoked or expired early: one fresh token, then give up
                continue
            break
        if status >= 500 or status == 429:
            raise UpstreamUnavailable(f"Zustelldienst answered {status} to {method}")
        if status == 404:
            raise RemoteNotFound(f"{method} answered 404", problem_type=_problem_type(body))
        if status >= 400:
            raise RemoteRefused(f"{method} answered {status}", status_code=status, problem_type=_problem_type(body))
        return status, body

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return orjson.loads(self.request("GET", path, **kwargs)[1])

    # -- subscriber -----------------------------------------------------------------------
    def list_submissions(self, destination_id: str, limit: int) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            page = self.get_json("/v1/submissions",
                                 params={"destinationId": destination_id, "offset": offset, "limit": limit})
            items = page.get("submissions") or []
            yield from items
            offset += len(items)
            if not items or offset >= int(page.get("totalCount", 0)):
                return

    def get_submission(self, submission_id: str, max_bytes: int) -> bytes:
        """The submission document, raw as the Zustelldienst sent it."""
        return self.request("GET", f"/v1/submissions/{submission_id}", max_bytes=max_bytes)[1]

    def get_attachment(self, submission_id: str, attachment_id: str, max_bytes: int) -> bytes:
        """One attachment: a compact JWE (``application/jose``), raw."""
        return self.request("GET", f"/v1/submissions/{submission_id}/attachments/{attachment_id}",
                            max_bytes=max_bytes, headers={"Accept": JOSE})[1].strip()

    def get_events_raw(self, case_id: str) -> bytes:
        return self.request("GET", f"/v1/cases/{case_id}/events")[1]

    def get_events(self, case_id: str) -> list[str]:
        log = orjson.loads(self.get_events_raw(case_id)).get("eventLog") or []
        return [str(token) for token in log]

    def post_event(self, case_id: str, token: str) -> None:
        self.request("POST", f"/v1/cases/{case_id}/events", content=token.encode("ascii"),
                     headers={"Content-Type": JOSE})

    def get_jwks(self, url: str) -> dict[str, Any]:
        value = orjson.loads(self.request("GET", url.removeprefix(self.base), auth=False)[1]) \
            if url.startswith(self.base) else self._external_json(url)
        return value if isinstance(value, dict) else {}

    def _external_json(self, url: str) -> Any:
        try:
            response = self._http.get(url)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"JWKS not reachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise UpstreamUnavailable(f"JWKS answered {response.status_code}")
        return orjson.loads(response.content[:MAX_JSON_BYTES])

    # -- sender ---------------------------------------------------------------------------
    def get_destination(self, destination_id: str) -> dict[str, Any]:
        return dict(self.get_json(f"/v1/destinations/{destination_id}"))

    def get_destination_key(self, destination_id: str, kid: str) -> dict[str, Any]:
        return dict(self.get_json(f"/v1/destinations/{destination_id}/keys/{kid}"))

    def create_submission(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(orjson.loads(self.request("POST", "/v1/submissions", json=body)[1]))

    def upload_attachment(self, submission_id: str, attachment_id: str, token: str) -> None:
        self.request("PUT", f"/v1/submissions/{submission_id}/attachments/{attachment_id}",
                     content=token.encode("ascii"), headers={"Content-Type": JOSE})

    def submit(self, submission_id: str, body: dict[str, Any]) -> None:
        self.request("PUT", f"/v1/submissions/{submission_id}", json=body)


def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise RemoteRefused("response exceeds the size limit", limit=max_bytes)
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise RemoteRefused("response exceeds the size limit", limit=max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _problem_type(body: bytes) -> str:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "about:blank"
    return str(value.get("type", "about:blank")) if isinstance(value, dict) else "about:blank"
