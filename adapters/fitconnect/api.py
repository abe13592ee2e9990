"""HTTP client of the FIT-Connect Submission API, v1 and v2 (subscriber and sender side).

One client speaks one API generation (:class:`ApiVersion`); which one is chosen per
destination (``options.destinations[].api_version``, ``options.forwarding``). What differs
between the generations, and where each fact comes from, is in :mod:`.wire`. Tokens come from
:mod:`.tokens`; every answer is read with a size cap (:mod:`.http`); ids from remote documents
reach paths only as single safe segments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import orjson

from adapters.fitconnect import wire
from adapters.fitconnect.http import (
    MAX_JSON_BYTES,
    MAX_SMALL_BYTES,
    RemoteNotFound,
    RemoteRefused,
    iter_capped,
    parse_json,
    raise_for_status,
    read_capped,
)
from adapters.fitconnect.tokens import TokenSource
from adapters.fitconnect.wire import ApiVersion
from gateway.errors import UpstreamUnavailable

__all__ = ["JOSE", "RemoteNotFound", "RemoteRefused", "SubmissionApi"]

JOSE = "application/jose"
EVENTS_PAGE = 500  # the Submission API's maximum page size
MAX_EVENT_PAGES = 10
_SAFE_PATH = re.compile(r"(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._-]{1,128})+")
T = TypeVar("T")


class SubmissionApi:
    def __init__(self, base_url: str, tokens: TokenSource, http: httpx.Client,
                 version: ApiVersion = "v1") -> None:
        self.base = base_url.rstrip("/")
        self.version: ApiVersion = version
        self.paths = wire.PATHS[version]
        self._tokens, self._http = tokens, http

    def with_version(self, version: ApiVersion) -> SubmissionApi:
        """The same client (token, connection pool) speaking another API generation."""
        return self if version == self.version else SubmissionApi(self.base, self._tokens, self._http, version)

    # -- plumbing -------------------------------------------------------------------------
    def _send(self, method: str, path: str, *, auth: bool, read: Callable[[httpx.Response, int], T],
              max_bytes: int, **kwargs: Any) -> tuple[int, T]:
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
                    if status >= 400:
                        raise_for_status(status, method, read_capped(response, MAX_SMALL_BYTES))
                    return status, read(response, max_bytes)
            except httpx.HTTPError as exc:
                raise UpstreamUnavailable(f"Zustelldienst not reachable ({type(exc).__name__})") from None
            except RemoteRefused as exc:
                if exc.extensions.get("status_code") == 401 and auth and attempt == 1:
                    self._tokens.invalidate()  # revoked or expired early: one fresh token, then give up
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def request(self, method: str, path: str, *, max_bytes: int = MAX_JSON_BYTES, auth: bool = True,
                **kwargs: Any) -> tuple[int, bytes]:
        return self._send(method, path, auth=auth, read=read_capped, max_bytes=max_bytes, **kwargs)

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return parse_json(self.request("GET", path, **kwargs)[1])

    # -- subscriber -----------------------------------------------------------------------
    def list_submissions(self, destination_id: str, limit: int) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            page = self.get_json(self.paths.submissions,
                                 params={"destinationId": destination_id, "offset": offset, "limit": limit})
            items = page.get("submissions") or [] if isinstance(page, dict) else []
            yield from (item for item in items if isinstance(item, dict))
            offset += len(items)
            if not items or offset >= int(page.get("totalCount", 0)):
                return

    def get_submission(self, submission_id: str, max_bytes: int) -> bytes:
        """The submission document, raw as the Zustelldienst sent it."""
        return self.request("GET", self.paths.submission.format(submission_id=submission_id), max_bytes=max_bytes)[1]

    def download_attachment(self, submission_id: str, attachment_id: str, max_bytes: int,
                            sink: Callable[[Iterator[bytes]], T]) -> T:
        """One attachment (a compact JWE, ``application/jose``) handed to ``sink`` as a stream of
        chunks while the answer is read: it is never held whole here."""
        path = self.paths.attachment.format(submission_id=submission_id, attachment_id=attachment_id)
        return self._send("GET", path, auth=True, read=lambda response, cap: sink(iter_capped(response, cap)),
                          max_bytes=max_bytes, headers={"Accept": JOSE})[1]

    def get_events_raw(self, case_id: str, submission_id: str) -> bytes:
        """The event log (v1: the case's, v2: the submission's): the answer byte for byte if it
        fits one page (as it nearly always does), else the pages joined into one document of the
        same shape. Pages: ``limit`` up to 500, ``offset``; ``count``/``offset``/``totalCount``."""
        path = self.paths.events.format(case_id=case_id, submission_id=submission_id)
        first = self.request("GET", path, params={"limit": EVENTS_PAGE, "offset": 0})[1]
        page = parse_json(first)
        log = page.get("eventLog") if isinstance(page, dict) else None
        total = page.get("totalCount") if isinstance(page, dict) else None
        if not isinstance(log, list) or not isinstance(total, int) or len(log) >= total:
            return first
        tokens = list(log)
        for _ in range(MAX_EVENT_PAGES - 1):
            more = parse_json(self.request("GET", path, params={"limit": EVENTS_PAGE, "offset": len(tokens)})[1])
            items = more.get("eventLog") if isinstance(more, dict) else None
            if not isinstance(items, list) or not items:
                break
            tokens.extend(items)
            if len(tokens) >= total:
                break
        return orjson.dumps({"count": len(tokens), "offset": 0, "totalCount": total, "eventLog": tokens})

    def get_events(self, case_id: str, submission_id: str) -> list[str]:
        value = parse_json(self.get_events_raw(case_id, submission_id))
        log = value.get("eventLog") if isinstance(value, dict) else None
        return [str(token) for token in log] if isinstance(log, list) else []

    def post_event(self, case_id: str, submission_id: str, token: str) -> None:
        path = self.paths.post_event.format(case_id=case_id, submission_id=submission_id)
        self.request("POST", path, content=token.encode("ascii"), headers={"Content-Type": JOSE})

    def get_jwks(self, url: str) -> dict[str, Any]:
        value = self.get_json(url.removeprefix(self.base), auth=False) if url.startswith(self.base) \
            else parse_json(self._external(url))
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
        value = self.get_json(self.paths.destination.format(destination_id=destination_id))
        return dict(value) if isinstance(value, dict) else {}

    def get_destination_key(self, destination_id: str, kid: str) -> dict[str, Any]:
        value = self.get_json(self.paths.destination_key.format(destination_id=destination_id, kid=kid),
                              auth=self.version == "v2")
        return dict(value) if isinstance(value, dict) else {}

    def create_submission(self, body: dict[str, Any]) -> dict[str, Any]:
        value = parse_json(self.request("POST", self.paths.submissions, json=body)[1])
        return dict(value) if isinstance(value, dict) else {}

    def upload_attachment(self, submission_id: str, attachment_id: str, token: bytes) -> None:
        path = self.paths.attachment.format(submission_id=submission_id, attachment_id=attachment_id)
        self.request("PUT", path, content=token, headers={"Content-Type": JOSE})

    def submit(self, submission_id: str, body: dict[str, Any]) -> None:
        self.request("PUT", self.paths.submission.format(submission_id=submission_id), json=body)

    # -- replies (the FIT-Connect reply channel; paths: see wire.py) ----------------------
    def create_reply(self, body: dict[str, Any]) -> dict[str, Any]:
        value = parse_json(self.request("POST", self.paths.replies, json=body)[1])
        return dict(value) if isinstance(value, dict) else {}

    def upload_reply_attachment(self, reply_id: str, attachment_id: str, token: bytes) -> None:
        path = self.paths.reply_attachment.format(reply_id=reply_id, attachment_id=attachment_id)
        self.request("PUT", path, content=token, headers={"Content-Type": JOSE})

    def submit_reply(self, reply_id: str, body: dict[str, Any]) -> None:
        self.request("PUT", self.paths.reply.format(reply_id=reply_id), json=body)

    def get_reply_events(self, reply_id: str) -> list[str]:
        value = self.get_json(self.paths.reply_events.format(reply_id=reply_id),
                              params={"limit": EVENTS_PAGE, "offset": 0})
        log = value.get("eventLog") if isinstance(value, dict) else None
        return [str(token) for token in log] if isinstance(log, list) else []
