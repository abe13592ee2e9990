"""HTTP plumbing every FIT-Connect client here shares: capped reads and the error tree.

Answers are read with a size cap (the Content-Length is believed only when it refuses);
network faults, 5xx/429 and malformed JSON become ``UpstreamUnavailable`` (the core
retries); 4xx become permanent errors that name the problem type but never echo content.
The Submission API client (:mod:`.api`), the token source (:mod:`.tokens`) and the
Routing API client (:mod:`.routing`) build on this module; none of them imports another.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson

from gateway.errors import PermanentError, UpstreamUnavailable

MAX_JSON_BYTES = 2 * 1024 * 1024
MAX_SMALL_BYTES = 64 * 1024  # token and error answers
STREAM_CHUNK = 1024 * 1024


class RemoteNotFound(PermanentError):
    slug = "fitconnect-not-found"
    title = "The Zustelldienst does not know this resource"
    status = 404


class RemoteRefused(PermanentError):
    slug = "fitconnect-request-refused"
    title = "The Zustelldienst refused the request"


def refuse_declared_size(response: httpx.Response, max_bytes: int) -> None:
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise RemoteRefused("response exceeds the size limit", limit=max_bytes)


def iter_capped(response: httpx.Response, max_bytes: int) -> Iterator[bytes]:
    """The body in chunks; refused as soon as it grows beyond ``max_bytes``."""
    refuse_declared_size(response, max_bytes)
    size = 0
    for chunk in response.iter_bytes(STREAM_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise RemoteRefused("response exceeds the size limit", limit=max_bytes)
        yield chunk


def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    return b"".join(iter_capped(response, max_bytes))


def parse_json(body: bytes, what: str = "the Zustelldienst") -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamUnavailable(f"{what} answered with malformed JSON") from None


def problem_type(body: bytes) -> str:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "about:blank"
    return str(value.get("type", "about:blank"))[:200] if isinstance(value, dict) else "about:blank"


def raise_for_status(status: int, method: str, body: bytes) -> None:
    """Map an answer's status to the error tree (nothing for 1xx-3xx)."""
    if status >= 500 or status == 429:
        raise UpstreamUnavailable(f"upstream answered {status} to {method}")
    if status == 404:
        raise RemoteNotFound(f"{method} answered 404", problem_type=problem_type(body))
    if status >= 400:
        raise RemoteRefused(f"{method} answered {status}", status_code=status, problem_type=problem_type(body))
