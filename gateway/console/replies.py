"""The replies page's read interface, and its fallback while the gateway records no replies.

:class:`ReplyStatusSource` is what the page reads: the latest replies (decisions, requests,
notices, status updates) with the state of each delivery (``sent``, ``accepted``,
``delivered``, ``read``, ``failed`` — :data:`gateway.ports.DeliveryState`). The replies
component (``gateway/replies``) plugs in by implementing it and being passed to
:func:`gateway.console.install`. Rows carry no personal data: no recipient, no text.

:class:`NoReplyRecords` is the fallback: it records nothing, and the page says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ReplyStatusRow:
    reply_id: str
    case_id: str
    case_reference: str
    tenant_ars: str
    kind: str  # decision / request / notice / status
    channel: str  # the reply channel that delivers it
    state: str  # a DeliveryState
    updated_at: dt.datetime
    detail: str | None = None  # the channel's short reason (never personal data)


class ReplyStatusSource(Protocol):
    @property
    def recording(self) -> bool:
        """Whether this installation records replies at all (False: the page explains why it is empty)."""
        ...

    def recent_replies(self, tenants: Sequence[str], state: str | None, limit: int) -> list[ReplyStatusRow]:
        """The latest replies of ``tenants``, newest first, optionally only those in ``state``."""
        ...


class NoReplyRecords:
    @property
    def recording(self) -> bool:
        return False

    def recent_replies(self, tenants: Sequence[str], state: str | None, limit: int) -> list[ReplyStatusRow]:
        return []
