"""CloudEvents 1.0 (structured JSON) for local processing. Ids and status only: a
consumer fetches the case itself, so no personal data travels in notifications."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from gateway.case.model import Case

CASE_RECEIVED = "case.received"
CASE_STATUS_CHANGED = "case.status_changed"


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
