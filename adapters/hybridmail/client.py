"""Client of the E-POSTBUSINESS API (Deutsche Post hybrid mail): login with token renewal,
letter upload (one request for one or many letters; the PDFs are streamed as base64 from disk),
status of one letter, of many (StatusQuery), and lookup by ``custom1``.

Paths and fields follow the published API as two maintained third-party clients implement it
[S]; see README.md for what is verified and what is not.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError

from adapters.hybridmail.errors import EPostAccountUnusable, EPostUnavailable, LetterRejected, UnknownLetter
from adapters.hybridmail.options import EPostOptions
from adapters.hybridmail.wire import ApiError, LetterStatus, LetterUpload, LoginRequest, UploadResult, upload_body

_STATUSES = TypeAdapter(list[LetterStatus])
_UPLOADS = TypeAdapter(list[UploadResult])
_REJECTING = frozenset({400, 409, 413, 415, 422})
_MAX_RETRY_AFTER = 3600.0


def _api_code(response: httpx.Response) -> str | None:
    try:
        code = ApiError.model_validate(response.json()).code
    except (ValueError, ValidationError):
        return None
    # Only an identifier-like code goes into an error detail, never the free-text description.
    return code if code and len(code) <= 16 and code.isalnum() else None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(float(response.headers.get("Retry-After", "")), _MAX_RETRY_AFTER)
    except ValueError:
        return None


def error_for(response: httpx.Response, operation: str) -> Exception:
    """The gateway error for a non-2xx answer to ``operation``."""
    status, code = response.status_code, _api_code(response)
    what = f"{operation}: E-POST answered HTTP {status}" + (f" ({code})" if code else "")
    extensions: dict[str, Any] = {"http_status": status}
    if code:
        extensions["epost_code"] = code
    if status == 429:
        return EPostUnavailable(what + ", polled too often", retry_after=_retry_after(response), **extensions)
    if status in (401, 403):
        return EPostAccountUnusable(what, **extensions)
    if status == 404:
        return UnknownLetter(what, **extensions)
    if status in _REJECTING:
        return LetterRejected(what, **extensions)
    return EPostUnavailable(what, **extensions)


class EPostClient:
    def __init__(self, options: EPostOptions, http: httpx.Client | None = None, *, base_dir: Path | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.options = options
        self.http = http or httpx.Client(base_url=options.base_url, timeout=options.timeout_seconds,
                                         verify=self._verify(options, base_dir), follow_redirects=False)
        self._clock, self._sleep = clock, sleep
        self._token: str | None = None
        self._token_expires = 0.0
        self._lock = threading.Lock()
        self._last_status_query: float | None = None

    @staticmethod
    def _verify(options: EPostOptions, base_dir: Path | None) -> ssl.SSLContext | bool:
        if options.ca_file is None:
            return True
        ca = options.ca_file if options.ca_file.is_absolute() or base_dir is None else base_dir / options.ca_file
        return ssl.create_default_context(cafile=str(ca))

    def close(self) -> None:
        self.http.close()

    # -- login ---------------------------------------------------------------------------------------------------

    def login(self) -> str:
        """A fresh token (``POST /api/Login``); the API returns no expiry, so the one asked for counts."""
        opts = self.options
        body = LoginRequest(vendor_id=opts.vendor_id, ekp=opts.ekp, secret=opts.secret.get_secret_value(),
                            password=opts.password.get_secret_value(), vendor_sub_id=opts.vendor_sub_id,
                            token_duration=opts.token_minutes).model_dump(by_alias=True, exclude_none=True)
        started = self._clock()
        response = self._send("login", "POST", "/api/Login", json=body)
        if response.status_code != 200:
            raise error_for(response, "login")
        try:
            token = response.json()["token"]
        except (ValueError, KeyError, TypeError):
            raise EPostUnavailable("login: E-POST answered without a token") from None
        if not isinstance(token, str) or not token or len(token) > 8192:
            raise EPostUnavailable("login: E-POST answered with an unusable token")
        self._token, self._token_expires = token, started + opts.token_minutes * 60
        return token

    def _bearer(self, renew: bool = False) -> str:
        with self._lock:
            due = self._token_expires - self.options.renew_before_seconds
            if renew or self._token is None or self._clock() >= due:
                return self.login()
            return self._token

    # -- transport -----------------------------------------------------------------------------------------------

    def _send(self, operation: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise EPostUnavailable(f"{operation}: no answer from E-POST in time") from None
        except httpx.HTTPError as exc:
            raise EPostUnavailable(f"{operation}: E-POST is not reachable ({type(exc).__name__})") from None

    def _call(self, operation: str, method: str, path: str, *, make: Callable[[], dict[str, Any]] | None = None,
              **kwargs: Any) -> httpx.Response:
        """An authorised request; one new login and one repetition after a 401 (expired token).
        ``make`` gives fresh request arguments for each attempt (a streamed body is used up)."""
        for attempt in (0, 1):
            extra = make() if make is not None else {}
            headers = {**extra.pop("headers", {}), "Authorization": f"Bearer {self._bearer(renew=attempt == 1)}"}
            response = self._send(operation, method, path, headers=headers, **kwargs, **extra)
            if response.status_code != 401:
                break
        if not 200 <= response.status_code < 300:
            raise error_for(response, operation)
        return response

    # -- letters -------------------------------------------------------------------------------------------------

    def upload(self, letters: Sequence[LetterUpload]) -> list[UploadResult]:
        """One ``POST /api/Letter`` for all ``letters`` (E-POST: all or none; resend all after a failure)."""
        opts = self.options
        if not letters:
            return []
        if len(letters) > opts.max_letters_per_request:
            raise ValueError(f"at most {opts.max_letters_per_request} letters per request")
        length, _ = upload_body(list(letters))
        if length > opts.max_request_bytes:
            raise ValueError(f"the request would have {length} bytes; at most {opts.max_request_bytes}")

        def fresh_body() -> dict[str, Any]:
            size, chunks = upload_body(list(letters))
            return {"content": chunks, "headers": {"Content-Length": str(size), "Content-Type": "application/json"}}

        response = self._call("upload", "POST", "/api/Letter", make=fresh_body,
                              timeout=self.options.upload_timeout_seconds)
        try:
            results = _UPLOADS.validate_python(response.json())
        except (ValueError, ValidationError):
            raise EPostUnavailable("upload: E-POST's answer is not a list of letter ids") from None
        if sorted(r.file_name for r in results) != sorted(x.metadata.file_name for x in letters):
            raise EPostUnavailable("upload: E-POST's answer does not name every uploaded letter")
        return results

    def batches(self, letters: Sequence[LetterUpload]) -> Iterator[list[LetterUpload]]:
        """Splits ``letters`` into requests within the count and byte limits."""
        opts = self.options
        batch: list[LetterUpload] = []
        size = 2
        for letter in letters:
            cost = letter.encoded_length() + 1
            if cost + 2 > opts.max_request_bytes:
                raise ValueError(f"{letter.metadata.file_name} alone exceeds the request limit")
            if batch and (len(batch) >= opts.max_letters_per_request or size + cost > opts.max_request_bytes):
                yield batch
                batch, size = [], 2
            batch.append(letter)
            size += cost
        if batch:
            yield batch

    def status(self, letter_id: int) -> LetterStatus:
        self._throttle()
        response = self._call("status", "GET", f"/api/Letter/{int(letter_id)}")
        try:
            return LetterStatus.model_validate(response.json())
        except (ValueError, ValidationError):
            raise EPostUnavailable("status: E-POST's answer is not a letter status") from None

    def status_query(self, letter_ids: Sequence[int]) -> list[LetterStatus]:
        """``POST /api/Letter/StatusQuery`` for many letters at once."""
        if not letter_ids:
            return []
        self._throttle()
        response = self._call("status query", "POST", "/api/Letter/StatusQuery", params={"onlyIssues": "false"},
                              json=[int(i) for i in letter_ids])
        return self._statuses(response, "status query")

    def find_by_custom1(self, value: str) -> list[LetterStatus]:
        """Letters whose ``custom1`` is ``value`` (``GET /api/Letter/Custom1``) - the gateway's reply id."""
        self._throttle()
        response = self._call("lookup", "GET", "/api/Letter/Custom1", params={"custom1": value})
        return self._statuses(response, "lookup")

    def find_by_batch(self, batch_id: int) -> list[LetterStatus]:
        """Letters uploaded with ``batchID`` (``GET /api/Letter/Batch``): one call after a crashed bulk send."""
        self._throttle()
        response = self._call("lookup", "GET", "/api/Letter/Batch", params={"batchID": int(batch_id)})
        return self._statuses(response, "lookup")

    @staticmethod
    def _statuses(response: httpx.Response, operation: str) -> list[LetterStatus]:
        try:
            return _STATUSES.validate_python(response.json())
        except (ValueError, ValidationError):
            raise EPostUnavailable(f"{operation}: E-POST's answer is not a list of letter statuses") from None

    def _throttle(self) -> None:
        """Keeps ``min_status_interval_seconds`` between status requests (E-POST answers 429 otherwise)."""
        with self._lock:
            now = self._clock()
            if self._last_status_query is not None:
                wait = self._last_status_query + self.options.min_status_interval_seconds - now
                if wait > 0:
                    self._sleep(wait)
                    now = self._clock()
            self._last_status_query = now
