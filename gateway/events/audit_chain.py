"""The hash chain of the audit log: how one entry is encoded and hashed.

Each municipality (tenant) has a chain of its own; entries without a tenant form the chain
``-``. An entry's hash is SHA-256 over encoding version 1, the UTF-8 bytes of the JSON array

    ["rg-audit-v1", chain, position, prev_hash, at, actor, action, tenant_ars, case_id, inbox_id, details]

serialised with sorted object keys, no whitespace (separators ``,`` and ``:``) and ASCII only
(every non-ASCII character as a ``\\u`` escape of four hex digits); ``at`` is the UTC time as ISO 8601 with
microseconds and ``+00:00``; absent ids are ``null``; ``position`` counts from 1; the first
entry's ``prev_hash`` is the genesis value, 64 zeros. The hash is written as 64 lower-case hex
digits. Version 1 is never changed: a new encoding gets a new version tag, so old entries
still verify. Because ``prev_hash`` and ``position`` are hashed too, changing, inserting or
removing an entry breaks every hash after it.

An entry gets ``position``, ``prev_hash`` and ``hash`` when it is sealed (gateway.events.audit_sealer),
after its transaction committed; the writing transaction's id (``xid``), which orders the sealing,
is not part of the hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

VERSION_TAG = "rg-audit-v1"
GENESIS = "0" * 64
NO_TENANT = "-"


def chain_of(tenant_ars: str | None) -> str:
    return tenant_ars if tenant_ars else NO_TENANT


def canonical_details(details: dict[str, Any]) -> dict[str, Any]:
    """The details as they come back from the JSON column (tuples as lists, keys as strings),
    so the hash written and the hash recomputed from a stored row agree."""
    normalised: dict[str, Any] = json.loads(json.dumps(details, ensure_ascii=True))
    return normalised


@dataclass(frozen=True)
class Entry:
    """One stored, sealed audit entry with its place in the chain."""

    seq: int
    chain: str
    position: int
    prev_hash: str
    hash: str
    at: dt.datetime
    actor: str
    action: str
    tenant_ars: str | None
    case_id: str | None
    inbox_id: str | None
    details: dict[str, Any]
    xid: int = 0  # the writing transaction; 0 for entries of SQLite and of before migration 0013


def utc_text(at: dt.datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime in an audit entry")
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def encode(*, chain: str, position: int, prev_hash: str, at: dt.datetime, actor: str, action: str,
           tenant_ars: str | None, case_id: str | None, inbox_id: str | None, details: dict[str, Any]) -> bytes:
    fields = [VERSION_TAG, chain, position, prev_hash, utc_text(at), actor, action, tenant_ars, case_id,
              inbox_id, details]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def entry_hash(*, chain: str, position: int, prev_hash: str, at: dt.datetime, actor: str, action: str,
               tenant_ars: str | None, case_id: str | None, inbox_id: str | None, details: dict[str, Any]) -> str:
    return hashlib.sha256(encode(chain=chain, position=position, prev_hash=prev_hash, at=at, actor=actor,
                                 action=action, tenant_ars=tenant_ars, case_id=case_id, inbox_id=inbox_id,
                                 details=details)).hexdigest()


def recompute(entry: Entry) -> str:
    """The hash the entry's stored fields give (to compare with the hash stored beside them)."""
    return entry_hash(chain=entry.chain, position=entry.position, prev_hash=entry.prev_hash, at=entry.at,
                      actor=entry.actor, action=entry.action, tenant_ars=entry.tenant_ars, case_id=entry.case_id,
                      inbox_id=entry.inbox_id, details=entry.details)
