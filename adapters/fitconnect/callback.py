"""Callback endpoint: the Zustelldienst announces new submissions for immediate pick-up.

Authentication as FIT-Connect specifies it: ``callback-authentication`` is the hex
HMAC-SHA512 of ``"{callback-timestamp}.{raw body}"`` under the destination's callback
secret. We compare in constant time, refuse timestamps older than five minutes or too far in
the future, and refuse a signature seen before (replay) while it could still be fresh.
The replay memory is per process: with several API processes, a replay inside the
5-minute window reaches at most one more process, and the inbox dedups what it fetches.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from adapters.fitconnect.options import FitConnectOptions
from gateway.errors import GatewayError

log = logging.getLogger(__name__)

CALLBACK_TYPE = "https://schema.fitko.de/fit-connect/submission-api/callbacks/new-submissions"
MAX_BODY = 256 * 1024


class CallbackRejected(Exception):
    """The callback is not authentic (the reason is a fixed text, safe to return)."""


def callback_signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha512).hexdigest()


class CallbackAuthenticator:
    def __init__(self, options: FitConnectOptions, clock: Callable[[], float] = time.time) -> None:
        self.options, self.clock = options, clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, destination_id: str, timestamp: str | None, signature: str | None, body: bytes) -> None:
        destination = self.options.destination(destination_id)
        if destination is None or destination.callback_secret is None:
            raise CallbackRejected("unknown destination")
        if not timestamp or not timestamp.isdigit() or not signature or len(timestamp) > 12:
            raise CallbackRejected("missing callback headers")
        now = self.clock()
        age = now - int(timestamp)
        if age > self.options.callback_max_age_seconds:
            raise CallbackRejected("stale timestamp")
        if -age > self.options.callback_future_skew_seconds:
            raise CallbackRejected("timestamp in the future")
        expected = callback_signature(destination.callback_secret.get_secret_value(), timestamp, body)
        if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
            raise CallbackRejected("invalid signature")
        with self._lock:
            # Forget what can no longer pass the age check anyway; that bounds the memory.
            horizon = now - self.options.callback_max_age_seconds - self.options.callback_future_skew_seconds
            self._seen = {sig: ts for sig, ts in self._seen.items() if ts >= horizon}
            if expected in self._seen:
                raise CallbackRejected("replayed callback")
            self._seen[expected] = float(timestamp)


def parse_announcements(body: bytes, destination_id: str) -> list[dict[str, str]]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise CallbackRejected("body is not JSON") from None
    if not isinstance(value, dict) or value.get("type") != CALLBACK_TYPE:
        raise CallbackRejected("not a new-submissions callback")
    announced = []
    for item in value.get("submissions") or []:
        if isinstance(item, dict) and item.get("destinationId") == destination_id \
                and isinstance(item.get("submissionId"), str):
            announced.append({"submissionId": item["submissionId"], "caseId": str(item.get("caseId"))})
    return announced


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"type": "https://rathaus-gateway.de/problems/fitconnect-callback-refused",
                         "title": "Callback refused", "status": status, "detail": detail},
                        status_code=status, media_type="application/problem+json")


def callback_router(auth: CallbackAuthenticator, take: Callable[[str, str, str], Any]) -> APIRouter:
    """``take(destination_id, submission_id, case_id)`` fetches one submission for the core."""
    router = APIRouter()

    @router.post("/v1/channels/fitconnect/callbacks/{destination_id}", include_in_schema=True,
                 summary="FIT-Connect new-submissions callback")
    async def receive(destination_id: str, request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return _problem(413, "callback body too large")
        try:
            auth.check(destination_id, request.headers.get("callback-timestamp"),
                       request.headers.get("callback-authentication"), body)
            announced = parse_announcements(body, destination_id)
        except CallbackRejected as exc:
            log.warning("FIT-Connect callback for %s refused: %s", destination_id, exc)
            return _problem(401, str(exc))
        taken = 0
        for item in announced:
            try:
                await run_in_threadpool(take, destination_id, item["submissionId"], item["caseId"])
                taken += 1
            except GatewayError as exc:  # polling is the safety net: answer 200 anyway
                log.warning("callback pick-up of a submission failed: %s", type(exc).__name__)
        return JSONResponse({"announced": len(announced), "taken": taken})

    return router
