"""Callbacks from the sandbox, signed as FIT-Connect signs them.

Two kinds, as in the Submission API: ``new-submissions`` to a destination's callback URL when
a submission was submitted, ``new-events`` to the callback a sender registered with the
submission when the destination accepted or rejected it. Both bodies carry the list of
``submissions`` and, for clients written against older API versions, the deprecated list of
``submissionIds``.
"""

from __future__ import annotations

import logging
import time

import httpx
import orjson

from adapters.fitconnect.callback import CALLBACK_TYPE, callback_signature
from adapters.fitconnect.sandbox.state import Sandbox, SentCallback, StoredSubmission

log = logging.getLogger(__name__)

# One client for every callback, as a Zustelldienst keeps its connections: a client per POST
# would build a TLS context (the CA bundle parsed again) for each callback, the sandbox's largest
# cost per submission. httpx clients are safe to share between threads. Idle connections are
# dropped well before a receiver would close them (uvicorn after 5 s), so a POST never meets one
# the receiver is closing.
_HTTP = httpx.Client(timeout=30, follow_redirects=False, limits=httpx.Limits(keepalive_expiry=2.0))

NEW_EVENTS_TYPE = "https://schema.fitko.de/fit-connect/submission-api/callbacks/new-events"


def callback_body(kind: str, submissions: list[StoredSubmission]) -> bytes:
    return orjson.dumps({
        "type": kind,
        "submissionIds": [s.submission_id for s in submissions],
        "submissions": [{"destinationId": s.destination_id, "submissionId": s.submission_id, "caseId": s.case_id}
                        for s in submissions],
    })


def send_callback(sandbox: Sandbox, url: str, secret: str, kind: str, submissions: list[StoredSubmission],
                  timestamp: int | None = None) -> SentCallback:
    body = callback_body(kind, submissions)
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    sent = SentCallback(url=url, timestamp=stamp, signature=callback_signature(secret, stamp, body), body=body)
    sent.status = deliver(sent)
    with sandbox.lock:
        sandbox.callbacks.append(sent)
    return sent


def notify_destination(sandbox: Sandbox, sub: StoredSubmission) -> SentCallback | None:
    destination = sandbox.destination(sub.destination_id)
    if not (destination.callback_url and destination.callback_secret):
        return None
    return send_callback(sandbox, destination.callback_url, destination.callback_secret, CALLBACK_TYPE, [sub])


def notify_sender(sandbox: Sandbox, sub: StoredSubmission) -> SentCallback | None:
    if sub.callback is None:
        return None
    return send_callback(sandbox, sub.callback["url"], sub.callback["secret"], NEW_EVENTS_TYPE, [sub])


def deliver(sent: SentCallback) -> int | None:
    """POST one callback (again, for replay tests); the status code, or None when unreachable."""
    try:
        response = _HTTP.post(sent.url, content=sent.body,
                              headers={"Content-Type": "application/json", "callback-timestamp": sent.timestamp,
                                       "callback-authentication": sent.signature})
    except httpx.HTTPError as exc:
        log.warning("callback to %s failed: %s", sent.url, type(exc).__name__)
        return None
    return response.status_code
