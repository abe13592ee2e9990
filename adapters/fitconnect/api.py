"""HTTP client of the FIT-Connect Submission API v1 (subscriber and sender side).

Tokens from :mod:`adapters.fitconnect.tokens`; every response body is read with a size cap;
network faults, 5xx/429 and malformed JSON become ``UpstreamUnavailable`` (the core
retries), 4xx permanent errors that name the problem type but never echo request content.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from gateway.errors import PermanentError, UpstreamUnavailable

if TYPE_CHECKING:
    from adapters.fitconnect.tokens import TokenSource

JOSE = "application/jose"
MAX_JSON_BYTES = 2 * 1024 * 1024
MAX_SMALL_BYTES = 64 * 1024  # token and error answers
EVENTS_PAGE = 500  # the Submission API's maximum page size
MAX_EVENT_PAGES = 10
_SAFE_PATH = re.compile(r"(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._-]{1,128})+")


class RemoteNotFound(PermanentError):
    slug = "fitconnect-not-found"
    title = "The Zustelldienst does not know this resource"
    status = 404


class RemoteRefused(PermanentError):
    slug = "fitconnect-request-refused"
    title = "The Zustelldienst refused the request"


class SubmissionApi:
    def __init__(self, base_url: str, tokens: TokenSource, http: httpx.Client) -> None:
        self.base = base_url.rstrip("/")
        self._tokens, self._http = tokens, http

    # -- plumbing -------------------------------------------------------------------------
    def request(self, method: str, path: str, *, max_bytes: int = MAX_JSON_BYTES, auth: bool = True,
                **kwargs: Any) -> tuple[int, bytes]:
        if not _SAFE_PATH.fullmatch(path):  # ids from remote documents end up in paths: no "..", "?", "%"
            raise RemoteNotFound("not a valid resource path")
        extra = dict(kwargs.pop("headers", None) or {})
        for attempt in (1, 2):
            headers = dict(extra)
            if auth:
                headers["Authorization"] = f"Bearer {self._tokens.token()}"
            try:
                with self._http.stream(method, self.base + path, headers=headers, **kwargs) as response:
                    status = response.status_code
                    body = read_capped(response, max_bytes if status < 400 else MAX_SMALL_BYTES)
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
        return _json(self.request("GET", path, **kwargs)[1])

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
        """The case's event log: the answer byte for byte if it fits one page (as it nearly always
        does), else the pages joined into one document of the same shape.

        The Submission API pages the event log (``limit`` up to 500, default 100; ``offset``;
        ``count``/``offset``/``totalCount`` in the answer), so a long log must be read page by page.
        """
        path = f"/v1/cases/{case_id}/events"
        first = self.request("GET", path, params={"limit": EVENTS_PAGE, "offset": 0})[1]
        page = _json(first)
        log = page.get("eventLog") if isinstance(page, dict) else None
        total = page.get("totalCount") if isinstance(page, dict) else None
        if not isinstance(log, list) or not isinstance(total, int) or len(log) >= total:
            return first
        tokens = list(log)
        for _ in range(MAX_EVENT_PAGES - 1):
            more = _json(self.request("GET", path, params={"limit": EVENTS_PAGE, "offset": len(tokens)})[1])
            items = more.get("eventLog") if isinstance(more, dict) else None
            if not isinstance(items, list) or not items:
                break
            tokens.extend(items)
            if len(tokens) >= total:
                break
        return orjson.dumps({"count": len(tokens), "offset": 0, "totalCount": total, "eventLog": tokens})

    def get_events(self, case_id: str) -> list[str]:
        value = _json(self.get_events_raw(case_id))
        log = value.get("eventLog") if isinstance(value, dict) else None
        return [str(token) for token in log] if isinstance(log, list) else []

    def post_event(self, case_id: str, token: str) -> None:
        self.request("POST", f"/v1/cases/{case_id}/events", content=token.encode("ascii"),
                     headers={"Content-Type": JOSE})

    def get_jwks(self, url: str) -> dict[str, Any]:
        value = self.get_json(url.removeprefix(self.base), auth=False) if url.startswith(self.base) \
            else _json(self._external(url))
        return value if isinstance(value, dict) else {}

    def _external(self, url: str) -> bytes:
        try:
            with self._http.stream("GET", url) as response:
                status, body = response.status_code, read_capped(response, MAX_JSON_BYTES)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"JWKS not reachable ({type(exc).__name__})") from None
        if status != 200:
            raise UpstreamUnavailable(f"JWKS answered {status}")
        return body

    # -- sender ---------------------------------------------------------------------------
    def get_destination(self, destination_id: str) -> dict[str, Any]:
        return dict(self.get_json(f"/v1/destinations/{destination_id}"))

    def get_destination_key(self, destination_id: str, kid: str) -> dict[str, Any]:
        return dict(self.get_json(f"/v1/destinations/{destination_id}/keys/{kid}"))

    def create_submission(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(_json(self.request("POST", "/v1/submissions", json=body)[1]))

    def upload_attachment(self, submission_id: str, attachment_id: str, token: str) -> None:
        self.request("PUT", f"/v1/submissions/{submission_id}/attachments/{attachment_id}",
                     content=token.encode("ascii"), headers={"Content-Type": JOSE})

    def submit(self, submission_id: str, body: dict[str, Any]) -> None:
        self.request("PUT", f"/v1/submissions/{submission_id}", json=body)


def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise RemoteRefused("response exceeds the size limit", limit=max_bytes)
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise RemoteRefused("response exceeds the size limit", limit=max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamUnavailable("the Zustelldienst answered with malformed JSON") from None


def _problem_type(body: bytes) -> str:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "about:blank"
    return str(value.get("type", "about:blank"))[:200] if isinstance(value, dict) else "about:blank"
