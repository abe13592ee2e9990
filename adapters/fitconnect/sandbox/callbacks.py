"""Callbacks from the sandbox to a destination's callback URL, signed as FIT-Connect does."""

from __future__ import annotations

import logging
import time

import httpx
import orjson

from adapters.fitconnect.callback import CALLBACK_TYPE, callback_signature
from adapters.fitconnect.sandbox.config import SandboxDestination
from adapters.fitconnect.sandbox.state import Sandbox, SentCallback

log = logging.getLogger(__name__)


def send_callback(sandbox: Sandbox, destination: SandboxDestination, submissions: list[dict[str, str]],
                  timestamp: int | None = None) -> SentCallback:
    assert destination.callback_url and destination.callback_secret
    body = orjson.dumps({"type": CALLBACK_TYPE, "submissions": submissions})
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    sent = SentCallback(url=destination.callback_url, timestamp=stamp,
                        signature=callback_signature(destination.callback_secret, stamp, body), body=body)
    sent.status = deliver(sent)
    with sandbox.lock:
        sandbox.callbacks.append(sent)
    return sent


def deliver(sent: SentCallback) -> int | None:
    """POST one callback (again, for replay tests); the status code, or None when unreachable."""
    try:
        response = httpx.post(sent.url, content=sent.body, timeout=30,
                              headers={"Content-Type": "application/json", "callback-timestamp": sent.timestamp,
                                       "callback-authentication": sent.signature})
    except httpx.HTTPError as exc:
        log.warning("callback to %s failed: %s", sent.url, type(exc).__name__)
        return None
    return response.status_code
