"""CloudEvents 1.0 (structured JSON) for local processing. Ids and status only: a
consumer fetches the case itself, so no personal data travels in notifications."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from gateway.case.model import Case
from gateway.ports import CommittedCase

CASE_RECEIVED = "case.received"
CASE_STATUS_CHANGED = "case.status_changed"
# replies to the applicant (gateway/replies): one event per delivery state change
CASE_REPLY_QUEUED = "case.reply.queued"
CASE_REPLY_SENT = "case.reply.sent"  # sent or accepted by the channel (data.state says which)
CASE_REPLY_DELIVERED = "case.reply.delivered"  # delivered or read
CASE_REPLY_FAILED = "case.reply.failed"  # refused or reported lost (failed), or given up (dead)
CASE_REPLY_POST_TASK = "case.reply.post_task"  # a "send by post" task opened, done or cancelled


def case_event(event_type: str, case: Case, time: dt.datetime, extra: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    data: dict[str, Any] = {
        "case_id": str(case.id),
        "reference": case.reference,
        "tenant": case.tenant.ars,
        "service": case.service.leika,
        "channel": case.source.channel,
        "queue": case.routing_queue,
        "status": case.status.value,
        "decision": case.decision.value if case.decision else None,
        "version": case.version,
    }
    if extra:
        data.update(extra)
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"urn:rathaus-gateway:tenant:{case.tenant.ars}",
        "type": event_type,
        "subject": str(case.id),
        "time": time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": data,
    }


def reply_event(event_type: str, case: CommittedCase, time: dt.datetime, data: dict[str, Any]) -> dict[str, Any]:
    """An event about a reply of ``case``: ids, channel and state — never the reply's content or
    its recipient."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"urn:rathaus-gateway:tenant:{case.tenant_ars}",
        "type": event_type,
        "subject": case.id,
        "time": time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": {"case_id": case.id, "reference": case.reference, "tenant": case.tenant_ars,
                 "service": case.service_leika, **data},
    }
