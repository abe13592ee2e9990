"""The replies page's read interface, and its fallback while the gateway records no replies.

:class:`ReplyStatusSource` is what the page reads: the latest replies (decisions, requests,
notices, status updates) with the state of each delivery (``queued``, ``sent``, ``accepted``,
``delivered``, ``read``, ``failed``, ``dead``, ``discarded``). :class:`RecordedReplies` reads them
from the reply deliveries ``gateway/replies`` records. Rows carry no personal data: no recipient,
no title, no text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

from gateway.store.db import Database
from gateway.store.tables import cases, replies, reply_deliveries


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
    def recent_replies(self, tenants: Sequence[str], state: str | None, limit: int) -> list[ReplyStatusRow]:
        """The latest replies of ``tenants``, newest first, optionally only those in ``state``."""
        ...


class RecordedReplies:
    def __init__(self, db: Database) -> None:
        self.db = db

    def recent_replies(self, tenants: Sequence[str], state: str | None, limit: int) -> list[ReplyStatusRow]:
        query = (select(reply_deliveries.c.reply_id, reply_deliveries.c.case_id, reply_deliveries.c.tenant_ars,
                        reply_deliveries.c.channel, reply_deliveries.c.state, reply_deliveries.c.detail,
                        reply_deliveries.c.updated_at, replies.c.kind, cases.c.reference)
                 .join(replies, replies.c.id == reply_deliveries.c.reply_id)
                 .join(cases, cases.c.id == reply_deliveries.c.case_id)
                 .where(reply_deliveries.c.tenant_ars.in_(list(tenants))))
        if state is not None:
            query = query.where(reply_deliveries.c.state == state)
        with self.db.reading() as conn:
            found = conn.execute(query.order_by(reply_deliveries.c.updated_at.desc()).limit(limit)).all()
        return [ReplyStatusRow(reply_id=r.reply_id, case_id=r.case_id, case_reference=r.reference,
                               tenant_ars=r.tenant_ars, kind=r.kind, channel=r.channel, state=r.state,
                               updated_at=r.updated_at, detail=r.detail) for r in found]
