"""Polling alternative to webhooks: the CloudEvents log after a cursor."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from gateway.api import cursor
from gateway.api.deps import GatewayDep, PrincipalDep
from gateway.api.responses import EventsPage
from gateway.store import case_repo

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.get("", response_model=EventsPage)
def events(gateway: GatewayDep, principal: PrincipalDep, after: str | None = None,
           limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """``after`` is the ``next`` cursor of the previous page; start without it."""
    principal.require("cases:read")
    given = cursor.decode(after)
    with gateway.db.reading() as conn:
        start = case_repo.event_position(conn, given.xid, given.seq)
        rows = case_repo.events_after(conn, start, limit, principal.tenants)
    position = rows[-1][0] if rows else start
    return {"items": [data for _, data in rows], "next": cursor.encode(*position)}
