"""Garbage collection of blobs nothing references any more.

A blob is kept while any of these names it: an inbox row (the raw original and the parts it
stands for), a case (its original and its attachments), a reply (its documents), a verify
checkpoint, an outbox row, or a live adapter state entry (e.g. a portal upload or a reply
document not yet used; it expires). Every key names one whole blob. References are found by their key (``sha512/<hex>``)
anywhere in those rows, so a new kind of reference in a case document or a checkpoint is covered
without changes here.

Safe while intake runs: a blob is written (or, when it already exists, put again — which
refreshes its age, see FilesystemBlobStore.put and DatabaseBlobStore) *before* the transaction that references it
commits. The collector reads the references first and deletes only blobs older than the grace
period; a blob whose referencing transaction had not committed when the references were read
is younger than the grace period (as long as no intake holds a written blob uncommitted for
longer than that — minutes at most, the default grace is an hour), so it stays. The age check
and the delete happen under a file lock that ``put`` honours, so a put racing the delete
either keeps the blob or writes it again.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

from gateway.ports import BlobStore
from gateway.store.db import Database
from gateway.store.tables import adapter_state, cases, inbox, outbox, replies, step_results

log = logging.getLogger(__name__)
_KEY = re.compile(r"sha512/([0-9a-f]{128})")
_BATCH = 1000


class CollectableBlobs(BlobStore, Protocol):
    """A blob store the collector can walk: FilesystemBlobStore, DatabaseBlobStore, or an
    EncryptedBlobStore around either."""

    def stored(self) -> Iterator[tuple[str, float]]: ...

    def delete_if_older(self, key: str, seconds: float) -> bool: ...

    def stale_temporaries(self, seconds: float) -> int: ...


@dataclass(frozen=True)
class Collected:
    kept: int
    deleted: int
    young: int  # unreferenced but within the grace period
    temporaries: int


def referenced_keys(db: Database) -> set[str]:
    """Every blob key some row names."""
    found: set[str] = set()

    def scan(text: str | None) -> None:
        if text:
            found.update("sha512/" + digest for digest in _KEY.findall(text))

    with db.reading() as conn:
        # the retention deleted a marked original: its parts go too
        for raw_key, part_keys in conn.execute(select(inbox.c.raw_key, inbox.c.part_keys)
                                               .where(inbox.c.original_purged_at.is_(None))).yield_per(_BATCH):
            scan(raw_key)
            found.update(part_keys or ())
        for row in conn.execute(select(cases.c.document)).yield_per(_BATCH):
            scan(row.document)
        for column in (step_results.c.result, outbox.c.payload, replies.c.documents):
            for row in conn.execute(select(column)).yield_per(_BATCH):
                scan(str(row[0]))
        # expired entries are not references any more (an unused upload after its time to live)
        now = dt.datetime.now(dt.UTC)
        for row in conn.execute(select(adapter_state.c.value, adapter_state.c.expires_at)).yield_per(_BATCH):
            if row.expires_at is None or row.expires_at > now:
                scan(str(row.value))
    return found


def collect(db: Database, blobs: CollectableBlobs, grace_seconds: float, dry_run: bool = False,
            references: set[str] | None = None) -> Collected:
    """Delete every blob no row references that is older than ``grace_seconds``.
    ``references``: read beforehand (tests use it to interleave a concurrent intake)."""
    references = referenced_keys(db) if references is None else references
    kept = deleted = young = 0
    for key, age in blobs.stored():
        if key in references:
            kept += 1
        elif age <= grace_seconds:
            young += 1
        elif dry_run or blobs.delete_if_older(key, grace_seconds):
            deleted += 1
        else:
            young += 1  # put again meanwhile
    temporaries = 0 if dry_run else blobs.stale_temporaries(grace_seconds)
    if deleted or temporaries:
        log.info("blob gc: %d deleted, %d kept, %d within the grace period, %d stale temporary files",
                 deleted, kept, young, temporaries)
    return Collected(kept=kept, deleted=deleted, young=young, temporaries=temporaries)
