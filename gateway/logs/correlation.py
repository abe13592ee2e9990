"""The correlation id: one per message, from its receipt to its acknowledgement and reply.

Made at receipt — or taken from a sane ``X-Correlation-ID`` request header (a client's own
request id) — and kept on the inbox row; every outbox row of the message or its case carries it
(:func:`gateway.store.outbox_repo.add`), and webhooks send it on as ``X-Correlation-ID``. While
the API serves a request, and while the worker processes a message or delivers one of its
outbox rows, it is bound here (a context variable, so threads and tasks each see their own),
and every log record names it. It must never carry personal data: a client's value is taken only
if it looks like an id (8 to 64 letters, digits and ``._:-``), else a new one is made.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

HEADER = "X-Correlation-ID"
_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


def new_id() -> str:
    return uuid.uuid4().hex


def sane(value: str | None) -> str | None:
    """``value`` if it may serve as a correlation id, else None."""
    return value if value is not None and _PATTERN.fullmatch(value) else None


def current() -> str | None:
    return _current.get()


@contextmanager
def bound(value: str | None) -> Iterator[None]:
    """Log records inside name ``value`` (None: no correlation id)."""
    token = _current.set(value)
    try:
        yield
    finally:
        _current.reset(token)
