"""Fallsuche: cases by reference, status, service and date of receipt (see case_search)."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import Response

from gateway.api.deps import GatewayDep
from gateway.case.model import CaseStatus
from gateway.console import case_search
from gateway.console.deps import AdminDep
from gateway.console.web import LOCAL, PREFIX, page

router = APIRouter(prefix=PREFIX, include_in_schema=False)

PAGE_SIZE = 50
STATUS_LABELS = {CaseStatus.RECEIVED: "eingegangen", CaseStatus.IN_PROGRESS: "in Bearbeitung",
                 CaseStatus.DECIDED: "entschieden", CaseStatus.CLOSED: "abgeschlossen",
                 CaseStatus.WITHDRAWN: "zurückgezogen"}
_REFERENCE = re.compile(r"^[A-Z0-9-]{1,32}$")
_LEIKA = re.compile(r"^[0-9]{14}$")


def _day(value: str, errors: list[str], label: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors.append(f"{label}: bitte ein Datum wie 2026-12-31 angeben.")
        return None


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=LOCAL).astimezone(dt.UTC)


@router.get("/faelle")
def cases(admin: AdminDep, gateway: GatewayDep, aktenzeichen: str = "", status: str = "", leistung: str = "",
          von: str = "", bis: str = "", vor: str = "") -> Response:
    errors: list[str] = []
    reference = aktenzeichen.strip().upper()
    if reference and not _REFERENCE.match(reference):
        errors.append("Aktenzeichen: nur Buchstaben, Ziffern und Bindestriche, wie TGH-2026-000123.")
    if status and status not in STATUS_LABELS:
        errors.append("Status: bitte einen Status aus der Liste wählen.")
    if leistung and not _LEIKA.match(leistung):
        errors.append("Leistung: bitte eine Leistung aus der Liste wählen.")
    start, end = _day(von, errors, "Eingang von"), _day(bis, errors, "Eingang bis")
    if start and end and end < start:
        errors.append("Eingang bis liegt vor Eingang von.")
    services = sorted({(s.leika, s.name) for t in gateway.catalog.tenants() if t.tenant.ars in admin.tenants
                       for s in t.services}, key=lambda s: s[1])
    filters = {"aktenzeichen": reference, "status": status, "leistung": leistung, "von": von, "bis": bis}
    hits: list[case_search.CaseHit] = []
    more: int | None = None
    if not errors:
        query = case_search.CaseQuery(
            tenants=admin.tenants, reference=reference or None, status=status or None, service=leistung or None,
            received_from=_midnight(start) if start else None,
            received_until=_midnight(end + dt.timedelta(days=1)) if end else None,
            before_seq=int(vor) if vor.isdigit() and len(vor) <= 18 else None, limit=PAGE_SIZE)
        with gateway.db.reading() as conn:
            hits, more = case_search.search(conn, query)
    kept = {k: v for k, v in filters.items() if v}
    next_url = f"{PREFIX}/faelle?{urlencode({**kept, 'vor': more})}" if more is not None else None
    first_url = f"{PREFIX}/faelle?{urlencode(kept)}" if vor else None
    names = dict(services)
    return page("faelle.html", admin=admin, current="faelle", hits=hits, errors=errors, filters=filters,
                services=services, service_names=names, statuses=STATUS_LABELS, next_url=next_url,
                first_url=first_url, status=200 if not errors else 400)
