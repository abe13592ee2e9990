"""Quarantäne and dead letters: lists, one inbox entry with its reason, its raw original
(admins with the permission only, every view audited), replay and discard — each behind a
confirmation page whose form carries the session's CSRF token. An entry whose original the
retention deleted is shown as such: no original, no replay, only discard."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.api.deps import GatewayDep
from gateway.bootstrap import Gateway
from gateway.console import messages
from gateway.console.auth import Admin
from gateway.console.deps import AdminDep, FormDep, require_csrf
from gateway.console.web import PREFIX, ConsoleRefusal, page
from gateway.errors import OriginalPurged
from gateway.store import case_repo
from gateway.store.inbox_repo import WAITING_STATES, InboxRow
from gateway.store.outbox_repo import OutboxRow

router = APIRouter(prefix=PREFIX, include_in_schema=False)

LISTS = {"quarantaene": "Quarantäne", "unzustellbar": "Unzustellbar (Eingang)", "ausgang": "Unzustellbar (Ausgang)"}
DONE = {"wiederholt": "Die Nachricht wird erneut verarbeitet.", "verworfen": "Die Nachricht wurde verworfen."}
DELIVERY_DONE = {"wiederholt": "Die Zustellung wird erneut versucht.", "verworfen": "Die Zustellung wurde verworfen."}
ACTIONS = ("wiederholen", "verwerfen")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PROBLEM_LABELS = {"type": "Problemtyp", "title": "Titel", "status": "Status", "detail": "Einzelheiten",
                  "instance": "Stelle", "service": "Leistung", "tenant": "Kommune", "channel": "Kanal"}


def _not_found() -> ConsoleRefusal:
    return ConsoleRefusal(404, "Nicht gefunden", "Diesen Eintrag gibt es nicht (oder nicht für Ihre Kommunen).")


def _purged() -> ConsoleRefusal:
    return ConsoleRefusal(410, "Originalnachricht gelöscht",
                          "Die Originalnachricht wurde nach Ablauf der Aufbewahrungsfrist gelöscht. Die Nachricht "
                          "kann weder angezeigt noch erneut verarbeitet werden; sie lässt sich nur noch verwerfen.")


@router.get("/quarantaene")
def lists(admin: AdminDep, gateway: GatewayDep, liste: str = "quarantaene", erledigt: str = "") -> Response:
    which = liste if liste in LISTS else "quarantaene"
    entries: list[InboxRow] = []
    deliveries: list[OutboxRow] = []
    if which == "ausgang":
        deliveries = messages.dead_deliveries(gateway.db, admin.tenants)
    else:
        entries = messages.inbox_entries(gateway.db, messages.INBOX_KINDS[which], admin.tenants, admin.actor,
                                         gateway.clock())
    return page("quarantaene.html", admin=admin, current="quarantaene", lists=LISTS, which=which, entries=entries,
                deliveries=deliveries, done=DELIVERY_DONE.get(erledigt) if which == "ausgang" else None)


def _action(action: str) -> str:
    if action not in ACTIONS:
        raise _not_found()
    return action


def _entry(gateway: Gateway, admin: Admin, inbox_id: str) -> InboxRow:
    row = messages.inbox_entry(gateway.db, inbox_id, admin.tenants) if _UUID.match(inbox_id) else None
    if row is None:
        raise _not_found()
    return row


def _case_reference(gateway: Gateway, row: InboxRow) -> str | None:
    if row.case_id is None:
        return None
    with gateway.db.reading() as conn:
        committed = case_repo.committed(conn, row.case_id)
    return committed.reference if committed else None


@router.get("/eingang/{inbox_id}")
def entry(inbox_id: str, admin: AdminDep, gateway: GatewayDep, erledigt: str = "") -> Response:
    row = _entry(gateway, admin, inbox_id)
    messages.audit_entry_view(gateway.db, row, admin.actor, gateway.clock())
    return page("eingang.html", admin=admin, current="quarantaene", row=row, done=DONE.get(erledigt),
                reference=_case_reference(gateway, row), actionable=row.state in WAITING_STATES,
                problem_labels=PROBLEM_LABELS)


@router.get("/eingang/{inbox_id}/original")
def original(inbox_id: str, admin: AdminDep, gateway: GatewayDep) -> Response:
    row = _entry(gateway, admin, inbox_id)
    if not admin.may_view_originals:
        raise ConsoleRefusal(403, "Keine Berechtigung", "Ihr Konto darf Originalnachrichten nicht einsehen.")
    if row.purged:
        raise _purged()
    shown = messages.read_original(gateway.db, gateway.blobs, row, admin.actor, gateway.clock())
    return page("original.html", admin=admin, current="quarantaene", row=row, original=shown)


def _confirm_page(admin: Admin, action: str, what: str, back: str, post_to: str,
                  details: list[tuple[str, str]]) -> Response:
    return page("bestaetigen.html", admin=admin, current="quarantaene", action=action, what=what, back=back,
                post_to=post_to, details=details, reasons=messages.DISCARD_REASONS)


def _inbox_details(row: InboxRow) -> list[tuple[str, str]]:
    error = row.last_error or {}
    return [("Kanal", row.channel), ("Kennung bei der Quelle", row.source_id), ("Zustand", row.state),
            ("Grund", str(error.get("title", "–")))]


@router.get("/eingang/{inbox_id}/{action}")
def confirm_entry(inbox_id: str, action: str, admin: AdminDep, gateway: GatewayDep) -> Response:
    _action(action)
    row = _entry(gateway, admin, inbox_id)
    if row.state not in WAITING_STATES:
        raise ConsoleRefusal(409, "Nicht möglich", "Diese Nachricht wartet nicht (mehr) auf eine Entscheidung.")
    if action == "wiederholen" and row.purged:
        raise _purged()
    back = f"{PREFIX}/eingang/{row.id}"
    return _confirm_page(admin, action, "die eingegangene Nachricht", back, f"{back}/{action}", _inbox_details(row))


@router.post("/eingang/{inbox_id}/{action}")
def act_on_entry(inbox_id: str, action: str, request: Request, admin: AdminDep, gateway: GatewayDep,
                 form: FormDep) -> Response:
    _action(action)
    require_csrf(request, admin, form)
    row = _entry(gateway, admin, inbox_id)
    if action == "wiederholen":
        try:
            done = gateway.pipeline.replay(row.id, admin.actor)
        except OriginalPurged:  # purged since the confirmation page was shown
            raise _purged() from None
    else:
        reason = form.get("grund", "")
        if reason not in messages.DISCARD_REASONS:
            raise ConsoleRefusal(400, "Grund fehlt", "Bitte einen Grund für das Verwerfen auswählen.")
        done = gateway.pipeline.discard(row.id, admin.actor, reason)
    if not done:
        raise ConsoleRefusal(409, "Nicht möglich", "Diese Nachricht wartet nicht (mehr) auf eine Entscheidung.")
    outcome = "wiederholt" if action == "wiederholen" else "verworfen"
    return RedirectResponse(f"{PREFIX}/eingang/{row.id}?erledigt={outcome}", status_code=303)


def _delivery(gateway: Gateway, admin: Admin, row_id: str) -> tuple[OutboxRow, str | None]:
    found = (messages.delivery(gateway.db, int(row_id), admin.tenants)
             if row_id.isdigit() and len(row_id) <= 18 else None)
    if found is None:
        raise _not_found()
    return found


@router.get("/ausgang/{row_id}/{action}")
def confirm_delivery(row_id: str, action: str, admin: AdminDep, gateway: GatewayDep) -> Response:
    _action(action)
    row, _ = _delivery(gateway, admin, row_id)
    if row.state != "dead":
        raise ConsoleRefusal(409, "Nicht möglich", "Diese Zustellung wartet nicht (mehr) auf eine Entscheidung.")
    details = [("Art", row.kind), ("Ziel", row.target), ("Versuche", str(row.attempts)),
               ("Letzter Fehler", (row.last_error or "–").split(":", 1)[0])]
    return _confirm_page(admin, action, "die unzustellbare Zustellung", f"{PREFIX}/quarantaene?liste=ausgang",
                         f"{PREFIX}/ausgang/{row.id}/{action}", details)


@router.post("/ausgang/{row_id}/{action}")
def act_on_delivery(row_id: str, action: str, request: Request, admin: AdminDep, gateway: GatewayDep,
                    form: FormDep) -> Response:
    _action(action)
    require_csrf(request, admin, form)
    row, tenant = _delivery(gateway, admin, row_id)
    now = gateway.clock()
    if action == "wiederholen":
        done = messages.revive_delivery(gateway.db, row, admin.actor, tenant, now)
    else:
        reason = form.get("grund", "")
        if reason not in messages.DISCARD_REASONS:
            raise ConsoleRefusal(400, "Grund fehlt", "Bitte einen Grund für das Verwerfen auswählen.")
        done = messages.discard_delivery(gateway.db, row, admin.actor, tenant, reason, now)
    if not done:
        raise ConsoleRefusal(409, "Nicht möglich", "Diese Zustellung wartet nicht (mehr) auf eine Entscheidung.")
    outcome = "wiederholt" if action == "wiederholen" else "verworfen"
    return RedirectResponse(f"{PREFIX}/quarantaene?liste=ausgang&erledigt={outcome}", status_code=303)
