"""The operator's view of the audit chains: verify them all (or one municipality's), and their
current (sealed) heads for anchoring outside the gateway (a notary service, a signed e-mail, a
ticket). Both only read: entries not sealed yet are reported as pending, and an anchor covers
the sealed part of a chain (gateway.events.audit_sealer seals, every worker round).

An anchor is what `rathaus-gateway audit head` printed: a JSON list of
``{"tenant": ARS or "-", "position": n, "hash": hex, "at": time}``. Verifying against an old
anchor proves the chain still holds that entry unchanged — which the database alone cannot prove
after someone with write access cut entries off its end and rewrote the head row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError
from gateway.events.audit_chain import utc_text
from gateway.events.audit_verify import ChainResult, Head, Pending, verify_chain
from gateway.store import audit_repo
from gateway.store.db import Database

MAX_ANCHOR_BYTES = 1_000_000


def load_anchors(path: Path) -> dict[str, Head]:
    """The heads an anchor file names, by chain (bounded: an anchor is a few lines per municipality)."""
    with path.open("rb") as handle:
        raw = handle.read(MAX_ANCHOR_BYTES + 1)
    if len(raw) > MAX_ANCHOR_BYTES:
        raise ConfigurationError(f"{path} is larger than {MAX_ANCHOR_BYTES} bytes")
    try:
        items = json.loads(raw)
        anchors = {str(item["tenant"]): Head(str(item["tenant"]), int(item["position"]), str(item["hash"]))
                   for item in items}
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigurationError(f"{path} is not a list of chain heads ({type(exc).__name__})") from None
    return anchors


def verify(db: Database, tenant: str | None = None, anchors: dict[str, Head] | None = None) -> list[ChainResult]:
    """Every chain (or the one of ``tenant``), each checked to its end or its first problem;
    a chain the anchors name but the database lacks is checked too (and found cut off)."""
    anchors = anchors or {}
    with audit_repo.snapshot(db) as conn:
        names = set(audit_repo.chains(conn)) | set(anchors)
        if tenant is not None:
            names = {tenant}
        head_rows = audit_repo.heads(conn)
        return [verify_chain(name, audit_repo.entries(conn, name), head_rows.get(name), anchors.get(name),
                             audit_repo.pending(conn, name))
                for name in sorted(names)]


def current_heads(db: Database, tenant: str | None = None) -> list[dict[str, Any]]:
    """Each chain's newest sealed entry (chains with none yet are left out)."""
    with audit_repo.snapshot(db) as conn:
        names = [tenant] if tenant is not None else audit_repo.chains(conn)
        heads = []
        for name in names:
            entry = audit_repo.newest(conn, name)
            if entry is not None:
                heads.append({"tenant": name, "position": entry.position, "hash": entry.hash,
                              "at": utc_text(entry.at)})
        return heads


def pending(db: Database, tenant: str | None = None) -> dict[str, Pending]:
    """The chains with unsealed entries (what an anchor taken now does not cover yet)."""
    with audit_repo.snapshot(db) as conn:
        names = [tenant] if tenant is not None else audit_repo.chains(conn)
        found = {name: audit_repo.pending(conn, name) for name in names}
    return {name: entry for name, entry in found.items() if entry is not None}
