"""Quarantine and dead letters as the console shows them, and the raw original, read safely.

Lists: inbox entries ``quarantined`` (refused permanently: the reason is the stored problem) and
``dead`` (retries ran out), outbox deliveries ``dead`` — each only of the admin's municipalities
(an outbox row belongs to its case's municipality, else its inbox entry's). Replay and discard
change state in one transaction with their audit entry.

The original: read through the blob store's public ``open`` (so decryption at rest plugs in
beneath), at most :data:`SHOWN_BYTES`, decoded as UTF-8 with replacement characters, line ends
made newlines and every other control character except tab replaced: it is shown as escaped
text, never as HTML, and never sent as a file the browser could render.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from gateway.events import audit
from gateway.ports import BlobStore
from gateway.store import inbox_repo, outbox_repo
from gateway.store.db import Database
from gateway.store.inbox_repo import InboxRow
from gateway.store.outbox_repo import OutboxRow

SHOWN_BYTES = 64 * 1024
LIST_LIMIT = 200
INBOX_KINDS = {"quarantaene": ("quarantined",), "unzustellbar": ("dead",)}
DISCARD_REASONS = {
    "duplikat": "Doppelt eingegangen",
    "test": "Testnachricht",
    "zurueckgezogen": "Vom Absender zurückgezogen",
    "nicht-zustaendig": "Nicht zuständig",
    "sonstiges": "Sonstiger Grund (im Fachverfahren dokumentiert)",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Original:
    text: str
    shown_bytes: int
    truncated: bool
    media_type: str


def inbox_entries(db: Database, states: tuple[str, ...], tenants: tuple[str, ...], actor: str,
                  now: dt.datetime) -> list[InboxRow]:
    """The entries in ``states``; that the admin saw them (ids per municipality) is audited."""
    with db.transaction() as uow:
        rows = inbox_repo.list_by_state(uow.conn, list(states), LIST_LIMIT, list(tenants))
        audit.record_views(uow.conn, at=now, actor=actor, action="console.inbox_listed",
                           shown=[(row.tenant_ars, row.id) for row in rows], details={"states": list(states)})
    return rows


def dead_deliveries(db: Database, tenants: tuple[str, ...]) -> list[OutboxRow]:
    with db.reading() as conn:
        return outbox_repo.list_state(conn, "dead", LIST_LIMIT, list(tenants), newest_first=True)


def inbox_entry(db: Database, inbox_id: str, tenants: tuple[str, ...]) -> InboxRow | None:
    """The entry, if it belongs to one of ``tenants`` (else None, as if it did not exist)."""
    with db.reading() as conn:
        row = inbox_repo.get(conn, inbox_id)
    return row if row is not None and row.tenant_ars in tenants else None


def delivery(db: Database, row_id: int, tenants: tuple[str, ...]) -> tuple[OutboxRow, str | None] | None:
    """The outbox row and its municipality, if that is one of ``tenants``."""
    with db.reading() as conn:
        row = outbox_repo.get(conn, row_id)
        tenant = outbox_repo.tenant_of(conn, row_id) if row is not None else None
    return (row, tenant) if row is not None and tenant in tenants else None


def audit_entry_view(db: Database, row: InboxRow, actor: str, now: dt.datetime) -> None:
    with db.transaction() as uow:
        audit.record(uow.conn, at=now, actor=actor, action="console.entry_viewed", tenant_ars=row.tenant_ars,
                     inbox_id=row.id, case_id=row.case_id, details={"state": row.state})


def read_original(db: Database, blobs: BlobStore, row: InboxRow, actor: str, now: dt.datetime) -> Original:
    """The start of the raw original as safe text, and of the parts it stands for (a FIT-Connect or
    XTA manifest names one blob per fetched part), within one budget of :data:`SHOWN_BYTES`; the
    view is audited first (no audit, no view)."""
    with db.transaction() as uow:
        audit.record(uow.conn, at=now, actor=actor, action="console.original_viewed", tenant_ars=row.tenant_ars,
                     inbox_id=row.id, case_id=row.case_id, details={"shown_bytes_max": SHOWN_BYTES})
    sections: list[str] = []
    shown, truncated = 0, False
    keys = [row.raw_key, *(row.part_keys or [])]
    for index, key in enumerate(keys):
        taken, complete = _start_of(blobs, key, SHOWN_BYTES - shown)
        shown, truncated = shown + len(taken), truncated or not complete
        decoded = taken.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
        heading = f"--- Teil {index} von {len(keys) - 1} ---\n" if index else ""
        sections.append(heading + _CONTROL.sub("\ufffd", decoded))
    return Original(text="\n".join(sections), shown_bytes=shown, truncated=truncated, media_type=row.media_type)


def _start_of(blobs: BlobStore, key: str, budget: int) -> tuple[bytes, bool]:
    """Up to ``budget`` bytes from the start of a blob, and whether that is all of it."""
    taken = bytearray()
    chunks = blobs.open(key)
    try:
        for chunk in chunks:
            if len(taken) + len(chunk) > budget:
                taken += chunk[: budget - len(taken)]
                return bytes(taken), False
            taken += chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return bytes(taken), True


def revive_delivery(db: Database, row: OutboxRow, actor: str, tenant: str | None, now: dt.datetime) -> bool:
    with db.transaction() as uow:
        revived = outbox_repo.revive(uow.conn, row.id, now)
        if revived:
            audit.record(uow.conn, at=now, actor=actor, action="delivery.replayed", tenant_ars=tenant,
                         case_id=row.case_id, inbox_id=row.inbox_id, details={"outbox_id": row.id, "kind": row.kind,
                                                                              "target": row.target})
    return revived


def discard_delivery(db: Database, row: OutboxRow, actor: str, tenant: str | None, reason: str,
                     now: dt.datetime) -> bool:
    with db.transaction() as uow:
        discarded = outbox_repo.discard(uow.conn, row.id, now)
        if discarded:
            audit.record(uow.conn, at=now, actor=actor, action="delivery.discarded", tenant_ars=tenant,
                         case_id=row.case_id, inbox_id=row.inbox_id,
                         details={"outbox_id": row.id, "kind": row.kind, "target": row.target, "reason": reason})
    return discarded
