"""Opaque cursors for pagination (a position, base64url-encoded)."""

from __future__ import annotations

import base64

from gateway.errors import InvalidRequest

MAX_POSITION = 2**63 - 1  # the databases' BIGINT: beyond it a position cannot exist


def encode(position: int) -> str:
    return base64.urlsafe_b64encode(f"p{position}".encode()).decode().rstrip("=")


def decode(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("p"):
            raise ValueError(raw)
        value = int(raw[1:])
    except ValueError:
        raise InvalidRequest("invalid cursor") from None
    if not 0 <= value <= MAX_POSITION:
        raise InvalidRequest("invalid cursor")
    return value
