"""Data keys: random AES-256 keys, one current per scope (``records`` for columns, ``blobs`` for
blob content), stored wrapped under a master key in the table ``data_keys``.

Unwrapped keys are cached for the process's life: a data key never changes, only its wrapping,
so a rotation that re-wraps it under another master key (``keys rotate``) never disturbs a reader.
The current data key of a scope is the newest row of that scope, looked up again every
:data:`REFRESH_SECONDS`, so a new data key that a rotation made (``--reseal``) is used by every
process soon after.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy import insert, select, update

from gateway.errors import SealedDataInvalid
from gateway.store.crypto.master_keys import KEY_BYTES, MasterKeys
from gateway.store.db import Database
from gateway.store.tables import data_keys

REFRESH_SECONDS = 60.0
SCOPES = ("records", "blobs")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DataKeyRing:
    def __init__(self, db: Database, master: MasterKeys, clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self._db, self.master, self._clock = db, master, clock
        self._keys: dict[str, bytes] = {}
        self._current: dict[str, tuple[str, float]] = {}  # scope -> (id, when looked up)
        self._lock = threading.Lock()

    def current(self, scope: str) -> tuple[str, bytes]:
        """(id, key) of the scope's current data key; the first use of a scope creates one (the
        composition root makes that happen at start-up, outside any transaction)."""
        with self._lock:
            known = self._current.get(scope)
        if known is None or time.monotonic() - known[1] > REFRESH_SECONDS:
            key_id = self._newest(scope) or self.create(scope)
            with self._lock:
                self._current[scope] = (key_id, time.monotonic())
            known = (key_id, 0.0)
        return known[0], self.key(known[0])

    def key(self, key_id: str) -> bytes:
        with self._lock:
            cached = self._keys.get(key_id)
        if cached is not None:
            return cached
        with self._db.reading() as conn:
            row = conn.execute(select(data_keys.c.master_key_id, data_keys.c.wrapped)
                               .where(data_keys.c.id == key_id)).first()
        if row is None:
            raise SealedDataInvalid("sealed under a data key this database does not hold")
        key = self.master.unwrap(row.master_key_id, base64.b64decode(row.wrapped))
        with self._lock:
            self._keys[key_id] = key
        return key

    def create(self, scope: str) -> str:
        """A fresh data key for ``scope``, wrapped under the current master key; it becomes current."""
        if scope not in SCOPES:
            raise ValueError("unknown data key scope")
        key_id, key = str(uuid.uuid4()), os.urandom(KEY_BYTES)
        master_id, wrapped = self.master.wrap(key)
        with self._db.transaction() as uow:
            uow.conn.execute(insert(data_keys).values(
                id=key_id, scope=scope, master_key_id=master_id, wrapped=base64.b64encode(wrapped).decode("ascii"),
                created_at=self._clock(), rewrapped_at=None))
        with self._lock:
            self._keys[key_id] = key
            self._current[scope] = (key_id, time.monotonic())
        return key_id

    def _newest(self, scope: str) -> str | None:
        with self._db.reading() as conn:
            found: str | None = conn.execute(
                select(data_keys.c.id).where(data_keys.c.scope == scope)
                .order_by(data_keys.c.created_at.desc(), data_keys.c.id.desc()).limit(1)).scalar_one_or_none()
        return found

    def rewrap_all(self) -> tuple[int, int]:
        """Wrap every data key under the current master key: (re-wrapped now, already there).
        One key per transaction, each only if its row is still as read: resumable and safe with
        other processes doing the same."""
        with self._db.reading() as conn:
            rows = conn.execute(select(data_keys.c.id, data_keys.c.master_key_id, data_keys.c.wrapped)).all()
        done = already = 0
        for row in rows:
            if row.master_key_id == self.master.current_id:
                already += 1
                continue
            key = self.master.unwrap(row.master_key_id, base64.b64decode(row.wrapped))
            master_id, wrapped = self.master.wrap(key)
            with self._db.transaction() as uow:
                changed = uow.conn.execute(
                    update(data_keys).where(data_keys.c.id == row.id, data_keys.c.wrapped == row.wrapped)
                    .values(master_key_id=master_id, wrapped=base64.b64encode(wrapped).decode("ascii"),
                            rewrapped_at=self._clock())).rowcount
            done += changed
            already += 1 - changed
        return done, already

    def wrapped_under(self) -> dict[str, int]:
        """How many data keys each master key id wraps (for ``keys status``)."""
        with self._db.reading() as conn:
            rows = conn.execute(select(data_keys.c.master_key_id)).scalars().all()
        counts: dict[str, int] = {}
        for master_id in rows:
            counts[master_id] = counts.get(master_id, 0) + 1
        return counts
