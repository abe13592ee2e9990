"""Webhook delivery: CloudEvents 1.0 structured JSON, signed the Standard Webhooks way.

Headers: ``webhook-id`` (the event id, for de-duplication), ``webhook-timestamp`` (Unix
seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, and
``X-Correlation-ID``: the correlation id of the message the case came from.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
from sqlalchemy import Connection

from gateway.config import WebhookConfig
from gateway.errors import PermanentError, UpstreamUnavailable
from gateway.health.model import WEBHOOK
from gateway.logs import correlation
from gateway.store.outbox_repo import OutboxRow


def sign(secret: bytes, event_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: bytes, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """For consumers and tests: constant-time check of a delivery's signature."""
    try:
        timestamp = int(headers["webhook-timestamp"])
        expected = sign(secret, headers["webhook-id"], timestamp, body)
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return any(hmac.compare_digest(expected, candidate) for candidate in headers["webhook-signature"].split())


class WebhookSender:
    def __init__(self, hooks: list[WebhookConfig], timeout: float,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._hooks = {h.name: h for h in hooks}
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    def deliver(self, subscriber: str, event: dict[str, Any]) -> None:
        hook = self._hooks.get(subscriber)
        if hook is None:
            raise PermanentError(f"webhook subscriber {subscriber!r} is no longer configured")
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/cloudevents+json",
            "webhook-id": str(event["id"]),
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(hook.secret.get_secret_value().encode(), str(event["id"]), timestamp, body),
        }
        if correlation.current():  # the message's: local processing may follow it into its own logs
            headers[correlation.HEADER] = str(correlation.current())
        try:
            response = self._client.post(hook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"webhook {subscriber}: {type(exc).__name__}") from None
        if response.status_code >= 300:
            raise UpstreamUnavailable(f"webhook {subscriber}: HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()


class WebhookHandler:
    """The outbox handler of ``webhook`` rows: one CloudEvent to one subscriber."""

    adapter_kind = WEBHOOK  # one breaker per subscriber (gateway.health)

    def __init__(self, sender: WebhookSender) -> None:
        self.sender = sender

    def deliver(self, row: OutboxRow) -> None:
        self.sender.deliver(row.target, row.payload)

    def delivered(self, conn: Connection, row: OutboxRow, now: dt.datetime) -> None:
        """Nothing to record beyond the row itself."""
