"""``rathaus-gateway keys rotate``: move everything onto the current master key while the gateway runs.

1. Every data key is re-wrapped under the current master key (one row per transaction, only if
   the row is still as read): cheap, idempotent, resumable. Readers hold unwrapped data keys,
   which never change, so they are not disturbed; the old master key must stay configured until
   this step has finished in every database.
2. With ``new_data_keys``: a fresh data key per scope becomes current (processes pick it up
   within a minute, see :mod:`.data_keys`).
3. With ``reseal``: every sealed column value and every blob not under its scope's current data
   key (or still in clear) is encrypted again under it. Values are rewritten row by row — a case
   only if its version is unchanged since read, the other sealed rows are never updated after
   insert — and blobs are replaced whole by rename (a reader with one open keeps its old file).
   Running it again resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Column, Table, Text, column, select, table, tuple_, update

from gateway.errors import BlobNotFound
from gateway.store.crypto import sealed
from gateway.store.crypto.blobstore import SCOPE as BLOB_SCOPE
from gateway.store.crypto.blobstore import EncryptedBlobStore
from gateway.store.crypto.data_keys import SCOPES, DataKeyRing
from gateway.store.crypto.records import SCOPE as RECORD_SCOPE
from gateway.store.db import Database
from gateway.store.tables import cases, replies, reply_deliveries, step_results

_BATCH = 500


@dataclass(frozen=True)
class _Sealed:
    table: Table
    key: tuple[str, ...]  # primary key columns
    columns: tuple[str, ...]
    json: tuple[str, ...] = ()  # those of ``columns`` that are JSON
    guard: str | None = None  # a column that changes with every update (optimistic concurrency)


_SEALED = (
    _Sealed(cases, ("id",), ("document",), guard="version"),
    _Sealed(replies, ("id",), ("title", "text", "documents"), json=("documents",)),
    _Sealed(reply_deliveries, ("id",), ("recipient",)),
    _Sealed(step_results, ("inbox_id", "step"), ("result",), json=("result",)),
)


@dataclass(frozen=True)
class RotationReport:
    rewrapped: int
    already_wrapped: int
    new_data_keys: int
    resealed_values: int
    resealed_blobs: int


def rotate(db: Database, ring: DataKeyRing, blobs: EncryptedBlobStore | None, *, new_data_keys: bool = False,
           reseal: bool = False) -> RotationReport:
    rewrapped, already = ring.rewrap_all()
    created = 0
    if new_data_keys:
        for scope in SCOPES:
            ring.create(scope)
            created += 1
    values = blobs_done = 0
    if reseal:
        record_key = ring.current(RECORD_SCOPE)[0]
        for spec in _SEALED:
            values += _reseal_rows(db, spec, record_key)
        if blobs is not None:
            blob_key = ring.current(BLOB_SCOPE)[0]
            for key, _ in blobs.stored():
                try:
                    blobs_done += blobs.reseal(key, keep=lambda found: found == blob_key)
                except BlobNotFound:
                    continue  # the collector deleted it since it was listed: nothing left to seal
    return RotationReport(rewrapped=rewrapped, already_wrapped=already, new_data_keys=created,
                          resealed_values=values, resealed_blobs=blobs_done)


def _raw(spec: _Sealed) -> Any:
    """The same table without the sealing column types: the stored values as they are."""
    names = [*spec.key, *spec.columns, *((spec.guard,) if spec.guard else ())]
    return table(spec.table.name, *(column(name, JSON if name in spec.json else Text)
                                     for name in names))


def _reseal_rows(db: Database, spec: _Sealed, current: str) -> int:
    raw = _raw(spec)
    keys = [raw.c[name] for name in spec.key]
    after: tuple[Any, ...] | None = None
    done = 0
    while True:
        query = select(raw).order_by(*keys).limit(_BATCH)
        if after is not None:
            query = query.where(_after(keys, after))
        with db.reading() as conn:
            rows = conn.execute(query).mappings().all()
        if not rows:
            return done
        for row in rows:
            if all(_under(row[name], current) for name in spec.columns):
                continue
            done += _rewrite(db, spec, row)
        after = tuple(rows[-1][name] for name in spec.key)


def _after(keys: list[Column[Any]], after: tuple[Any, ...]) -> Any:
    return tuple_(*keys) > tuple_(*after)


def _under(value: Any, current: str) -> bool:
    return isinstance(value, str) and sealed.key_id_of(value) == current


def _rewrite(db: Database, spec: _Sealed, row: Any) -> int:
    """Read the row opened and write it back: the column types seal it under the current key."""
    where: list[Any] = [spec.table.c[name] == row[name] for name in spec.key]
    if spec.guard:
        where.append(spec.table.c[spec.guard] == int(row[spec.guard]))
    with db.transaction() as uow:
        current = uow.conn.execute(select(*(spec.table.c[name] for name in spec.columns)).where(*where)).first()
        if current is None:
            return 0  # changed or gone meanwhile: written under the current key anyway
        values: dict[str, Any] = dict(zip(spec.columns, current, strict=True))
        return int(uow.conn.execute(update(spec.table).where(*where).values(**values)).rowcount)
