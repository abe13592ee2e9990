"""Read-only pages: the overview (adapters and system), the catalog, recent events, replies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select

from gateway.api.deps import GatewayDep
from gateway.bootstrap import Gateway
from gateway.console.deps import AdminDep, ConsoleDep
from gateway.console.web import PREFIX, page
from gateway.store.tables import events

router = APIRouter(prefix=PREFIX, include_in_schema=False)

EVENTS_PER_PAGE = 50
REPLY_STATES: dict[str, str] = {"queued": "wartet", "sent": "gesendet", "accepted": "angenommen",
                                "delivered": "zugestellt", "read": "gelesen", "failed": "fehlgeschlagen",
                                "dead": "unzustellbar", "discarded": "verworfen"}
REPLY_KINDS: dict[str, str] = {"decision": "Bescheid", "request": "Nachforderung", "notice": "Mitteilung",
                               "status": "Statusmeldung"}


def _system(gateway: Gateway) -> list[tuple[str, bool]]:
    checks = []
    for label, probe in (("Datenbank", gateway.db.ping), ("Warteschlange", gateway.queue.ping)):
        try:
            probe()
            checks.append((label, True))
        except Exception:
            checks.append((label, False))
    return checks


@router.get("/")
def overview(admin: AdminDep, console: ConsoleDep, gateway: GatewayDep) -> Response:
    rows = console.health.adapter_health(admin.tenants)
    return page("uebersicht.html", admin=admin, current="uebersicht", rows=rows, system=_system(gateway),
                problems=sum(1 for r in rows if r.state != "ok"))


@router.get("/katalog")
def catalog(admin: AdminDep, gateway: GatewayDep) -> Response:
    tenants = [t for t in gateway.catalog.tenants() if t.tenant.ars in admin.tenants]
    mappings = {}
    for tenant in tenants:
        for service in tenant.services:
            for mapping_id in service.mappings:
                mappings[mapping_id] = gateway.mappings.get(mapping_id)
    return page("katalog.html", admin=admin, current="katalog", tenants=tenants, mappings=mappings,
                channels=list(gateway.adapters.channels))


def _data(event: Any) -> dict[str, Any]:
    data = event.get("data") if isinstance(event, dict) else None
    return data if isinstance(data, dict) else {}


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) <= 18 else None


@router.get("/ereignisse")
def recent_events(admin: AdminDep, gateway: GatewayDep, vor: str | None = None) -> Response:
    before = _int_or_none(vor)
    query = select(events.c.seq, events.c.type, events.c.time, events.c.tenant_ars, events.c.data).where(
        events.c.tenant_ars.in_(list(admin.tenants)))
    if before is not None:
        query = query.where(events.c.seq < before)
    with gateway.db.reading() as conn:
        rows = conn.execute(query.order_by(events.c.seq.desc()).limit(EVENTS_PER_PAGE + 1)).all()
    # the gateway's CloudEvents carry ids and status only (gateway/events/cloudevents.py)
    shown = [{"seq": r.seq, "type": r.type, "time": r.time, "tenant": r.tenant_ars,
              "reference": _data(r.data).get("reference"), "status": _data(r.data).get("status")}
             for r in rows[:EVENTS_PER_PAGE]]
    more = shown[-1]["seq"] if len(rows) > EVENTS_PER_PAGE else None
    return page("ereignisse.html", admin=admin, current="ereignisse", events=shown, more=more, first=before is None)


@router.get("/antworten")
def replies(admin: AdminDep, console: ConsoleDep, zustand: str | None = None) -> Response:
    state = zustand if zustand in REPLY_STATES else None
    rows = console.replies.recent_replies(admin.tenants, state, 100)
    return page("antworten.html", admin=admin, current="antworten", rows=rows, states=REPLY_STATES, kinds=REPLY_KINDS,
                state=state)
