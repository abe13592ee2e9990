"""Opaque cursors for the feeds (a position, base64url-encoded).

A position is ``(xid, seq)``: the writing transaction's id and the row's sequence number, the
order in which :mod:`gateway.store.case_repo` hands feed rows out. Cursors of earlier versions
named ``seq`` alone (``p<seq>``); they are still accepted and stand for the newest row at or
before that ``seq`` (see ``case_repo.case_position``), which is exact for rows written before the
change: they all carry ``xid`` 0.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from gateway.errors import InvalidRequest

MAX_POSITION = 2**63 - 1  # the databases' BIGINT: beyond it a position cannot exist
_MAX_TEXT = 64


@dataclass(frozen=True)
class Cursor:
    """A decoded cursor: ``xid`` is None for an earlier version's ``seq``-only cursor."""

    xid: int | None
    seq: int


START = Cursor(xid=0, seq=0)


def encode(xid: int, seq: int) -> str:
    return base64.urlsafe_b64encode(f"x{xid}.{seq}".encode()).decode().rstrip("=")


def decode(cursor: str | None) -> Cursor:
    if not cursor:
        return START
    if len(cursor) > _MAX_TEXT:
        raise InvalidRequest("invalid cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith("p"):
            decoded = Cursor(xid=None, seq=_number(raw[1:]))
        elif raw.startswith("x"):
            xid, seq = raw[1:].split(".")
            decoded = Cursor(xid=_number(xid), seq=_number(seq))
        else:
            raise ValueError(raw)
    except ValueError:
        raise InvalidRequest("invalid cursor") from None
    return decoded


def _number(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ValueError(text)
    value = int(text)
    if value > MAX_POSITION:
        raise ValueError(text)
    return value
