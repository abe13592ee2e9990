"""Callback endpoint: the Zustelldienst announces new submissions for immediate pick-up.

The endpoint only checks the callback and records what it announces (:mod:`.announcements`,
durable before the answer); the worker fetches the submissions. So a burst of callbacks costs
the API a few database writes each, never the download of whole submissions.

Authentication as FIT-Connect specifies it: ``callback-authentication`` is the hex
HMAC-SHA512 of ``"{callback-timestamp}.{raw body}"`` under the destination's callback
secret. We compare in constant time, refuse timestamps older than five minutes or too far in
the future, and refuse a signature seen before (replay) while it could still be fresh.

Replays are decided in the gateway's database (``StateStore.add`` in ``fitconnect.callbacks``,
kept for the acceptance window plus a margin for clock drift between hosts), so a replay to
any other ``serve`` process or host is refused too. A small per-process memory in front
only saves the database round trip when the same process sees the same signature again.
Only authentic callbacks reach the database: the HMAC is checked first.

Destination ids cannot be enumerated through this endpoint: an unknown destination is checked
like a known one -- an HMAC under a random per-process secret, compared in constant time --
and every refusal before a callback is authentic gets the same status and the same body.
The log keeps the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from adapters.fitconnect.events import is_uuid
from adapters.fitconnect.options import FitConnectOptions
from gateway.ports import StateStore

log = logging.getLogger(__name__)

CALLBACK_TYPE = "https://schema.fitko.de/fit-connect/submission-api/callbacks/new-submissions"
MAX_BODY = 256 * 1024
REPLAY_NAMESPACE = "fitconnect.callbacks"
CLOCK_DRIFT_SECONDS = 60  # hosts of the scale-out profile may disagree on the time by this much


REFUSED = "callback not authentic"  # the one answer to every unauthenticated refusal


class CallbackRejected(Exception):
    """The callback is not authentic (the reason is a fixed text, kept for the log only)."""


def callback_signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha512).hexdigest()


class CallbackAuthenticator:
    def __init__(self, options: FitConnectOptions, state: StateStore, clock: Callable[[], float] = time.time) -> None:
        self.options, self.state, self.clock = options, state, clock
        self._window = options.callback_max_age_seconds + options.callback_future_skew_seconds
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._decoy = secrets.token_hex(32)  # the secret of every destination not served here

    def check(self, destination_id: str, timestamp: str | None, signature: str | None, body: bytes) -> None:
        """Refuse an inauthentic callback. The HMAC is computed and compared (in constant time)
        before anything depends on whether the destination is served here."""
        destination = self.options.destination(destination_id)
        secret = destination.callback_secret.get_secret_value() \
            if destination is not None and destination.callback_secret is not None else self._decoy
        stamp = timestamp if timestamp and timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12 \
            else ""
        expected = callback_signature(secret, stamp, body)
        authentic = hmac.compare_digest(expected.encode(), (signature or "").strip().lower().encode("ascii", "replace"))
        if not authentic or secret is self._decoy or not stamp:
            raise CallbackRejected("invalid signature or unknown destination")
        now = self.clock()
        age = now - int(stamp)
        if age > self.options.callback_max_age_seconds:
            raise CallbackRejected("stale timestamp")
        if -age > self.options.callback_future_skew_seconds:
            raise CallbackRejected("timestamp in the future")
        with self._lock:
            # Forget what can no longer pass the age check anyway; that bounds the memory.
            self._seen = {sig: ts for sig, ts in self._seen.items() if ts >= now - self._window}
            if expected in self._seen:
                raise CallbackRejected("replayed callback")
        first = self.state.add(REPLAY_NAMESPACE, expected, {"destinationId": destination_id},
                               ttl_seconds=self._window + CLOCK_DRIFT_SECONDS)
        with self._lock:
            self._seen[expected] = float(stamp)
        if not first:
            raise CallbackRejected("replayed callback")


def parse_announcements(body: bytes, destination_id: str) -> list[dict[str, str]]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise CallbackRejected("body is not JSON") from None
    if not isinstance(value, dict) or value.get("type") != CALLBACK_TYPE:
        raise CallbackRejected("not a new-submissions callback")
    items = value.get("submissions")
    if not isinstance(items, list):
        # only the deprecated list of ids (older Zustelldienst versions): the case id comes with the submission
        ids = value.get("submissionIds")
        items = [{"destinationId": destination_id, "submissionId": sid} for sid in ids] if isinstance(ids, list) else []
    announced = []
    for item in items:
        # ids end up in API paths: only UUIDs (a missing caseId is taken from the submission)
        if isinstance(item, dict) and item.get("destinationId") == destination_id \
                and isinstance(item.get("submissionId"), str) and is_uuid(item["submissionId"]):
            case_id = item.get("caseId")
            announced.append({"submissionId": item["submissionId"],
                              "caseId": case_id if isinstance(case_id, str) and is_uuid(case_id) else ""})
    return announced


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"type": "https://rathaus-gateway.de/problems/fitconnect-callback-refused",
                         "title": "Callback refused", "status": status, "detail": detail},
                        status_code=status, media_type="application/problem+json")


async def _capped_body(request: Request) -> bytes | None:
    """The body, or None when it exceeds MAX_BODY (read no further: the sender is not yet authenticated)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def callback_router(auth: CallbackAuthenticator, announce: Callable[[str, str, str], Any]) -> APIRouter:
    """``announce(destination_id, submission_id, case_id)`` records one announced submission
    durably for the worker's source; the answer 200 comes only after every one is recorded."""
    router = APIRouter()

    @router.post("/v1/channels/fitconnect/callbacks/{destination_id}", include_in_schema=True,
                 summary="FIT-Connect new-submissions callback")
    async def new_submissions(destination_id: str, request: Request) -> JSONResponse:
        body = await _capped_body(request)
        if body is None:
            return _problem(413, "callback body too large")
        try:  # in a worker thread: the replay check is a database write
            await run_in_threadpool(auth.check, destination_id, request.headers.get("callback-timestamp"),
                                    request.headers.get("callback-authentication"), body)
            announced = parse_announcements(body, destination_id)
        except CallbackRejected as exc:
            log.warning("FIT-Connect callback refused: %s", exc)  # the path is unauthenticated input
            return _problem(401, REFUSED)
        except Exception as exc:  # the state store is down: the Zustelldienst retries, polling catches up
            log.warning("FIT-Connect callback not checked: %s", type(exc).__name__)
            return _problem(503, "callback cannot be checked right now")
        def record_all() -> None:
            for item in announced:
                announce(destination_id, item["submissionId"], item["caseId"])

        try:
            await run_in_threadpool(record_all)
        except Exception as exc:  # the Zustelldienst may try again; the worker's listing finds it anyway
            log.warning("FIT-Connect callback not recorded: %s", type(exc).__name__)
            return _problem(503, "callback cannot be recorded right now")
        return JSONResponse({"announced": len(announced), "recorded": len(announced)})

    return router
