"""Blob store in the gateway's database: the scale-out profile needs no shared filesystem.

Same contract as :class:`gateway.store.blobs.FilesystemBlobStore` (content-addressed by SHA-512,
durable when a call returns, streamed both ways). The bytes lie in ``blob_chunks`` rows of at
most :data:`CHUNK` bytes, grouped by an *upload*; a ``blobs`` row publishes one upload under its
key. Content of one chunk is written and published in one transaction. Larger content is staged
chunk by chunk, each in a short transaction of its own (an open transaction would hold the feeds'
horizon back for as long as an upload takes, see gateway/store/case_repo.py), and published in a
last short one: until then no reader can see it, and what a writer that died leaves behind is an
unpublished upload the garbage collector removes (:meth:`stale_temporaries`). At most two chunks
are in memory at a time, whatever the blob's size.

:meth:`put_named`, :meth:`replace_named`, :meth:`head` and :meth:`refresh` serve a wrapper that
stores content encoded (gateway/store/crypto/blobstore.py), as the filesystem store does.

Durability is the database's: a commit is durable as the server is configured (``durability``
``process`` turns off ``synchronous_commit`` for the gateway's sessions, gateway/store/db.py).

A blob's age for the collector is ``touched_ns``: set when it is written and again whenever the
same bytes are put, under the row's lock; the collector deletes with a condition on that age in
one statement, so a put racing the delete either refreshes the row first (and the blob stays) or
finds it gone and writes it anew. Times are this host's clock in nanoseconds: hosts whose clocks
differ by far less than the grace period (an hour by default) keep that reasoning intact.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator

from sqlalchemy import Connection, Integer, LargeBinary, bindparam, cast, delete, func, insert, select, update

from gateway.errors import BlobNotFound, VerificationFailed
from gateway.ports import ProvisionalBlob, StoredBlob
from gateway.store import dialects
from gateway.store.db import Database
from gateway.store.tables import blob_chunks, blob_uploads, blobs

_KEY = re.compile(r"^sha512/([0-9a-f]{128})$")
CHUNK = 1024 * 1024

# publish, or refresh the blob that has these bytes already; the upload that holds them comes back
_PUBLISH = dialects.both(lambda dialect_insert: (
    stmt := dialect_insert(blobs)).on_conflict_do_update(
        index_elements=["key"], set_={"touched_ns": stmt.excluded.touched_ns}).returning(blobs.c.upload))
_INSERT_CHUNK = insert(blob_chunks)
_TOUCH = update(blobs).where(blobs.c.key == bindparam("k")).values(touched_ns=bindparam("now")).returning(
    blobs.c.upload)


def _checked(key: str) -> str:
    if _KEY.match(key) is None:
        raise ValueError("not a blob key")  # keys come from our own rows: a defect, not a miss
    return key


def _new_upload() -> int:
    return secrets.randbits(63)  # a BIGINT, unique with overwhelming probability, no round trip


class DatabaseBlobStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- writing ---------------------------------------------------------------------------
    def put(self, content: bytes, sha512: str | None = None) -> str:
        """Store ``content``; ``sha512`` is its digest when the caller has just computed it."""
        key = "sha512/" + (hashlib.sha512(content).hexdigest() if sha512 is None else sha512)
        _checked(key)
        if self._touch(key):
            return key
        return self._write(iter([content]), known_key=key)[0].key

    def put_stream(self, chunks: Iterable[bytes], sha512: str | None = None) -> StoredBlob:
        """Store what ``chunks`` yields, hashing while writing. ``sha512``: the digest the content
        must have, compared before the blob is published (``VerificationFailed``, nothing stored);
        whatever ``chunks`` raises leaves nothing published either."""
        return self._write(iter(chunks), expected=sha512)[0]

    def put_provisional(self, chunks: Iterable[bytes]) -> ProvisionalBlob:
        """Like :meth:`put_stream`; :meth:`reclaim` deletes the blob again if this call created it
        and nobody has put the same bytes since."""
        stored, stamp = self._write(iter(chunks))
        return ProvisionalBlob(key=stored.key, sha512=stored.sha512, size=stored.size, stamp=stamp)

    def reclaim(self, blob: ProvisionalBlob) -> bool:
        """Delete a refused request's blob only if its row is still the one that call published,
        untouched since (upload and time of the stamp): bytes another message shares stay."""
        if blob.stamp is None:
            return False
        upload, touched = blob.stamp
        with self._db.transaction() as uow:
            gone = uow.conn.execute(delete(blobs).where(
                blobs.c.key == _checked(blob.key), blobs.c.upload == upload, blobs.c.touched_ns == touched)
                .returning(blobs.c.upload)).first()
            if gone is None:
                return False
            uow.conn.execute(delete(blob_chunks).where(blob_chunks.c.upload == upload))
        return True

    def put_named(self, chunks: Iterable[bytes], name: Callable[[], str]) -> ProvisionalBlob:
        """Store encoded bytes under the key ``name()`` returns once ``chunks`` is exhausted: for a
        wrapper that stores content transformed (gateway/store/crypto) and names it by the content
        it was given. ``size`` is the stored size; ``stamp`` as for :meth:`put_provisional`."""
        stored, stamp = self._write(iter(chunks), name=name)
        return ProvisionalBlob(key=stored.key, sha512=stored.sha512, size=stored.size, stamp=stamp)

    def replace_named(self, key: str, chunks: Iterable[bytes]) -> None:
        """Replace a stored blob's bytes with another encoding of the same content (a key rotation
        re-encrypting it), staged like a large put and switched in one short transaction. The old
        upload becomes an unpublished one: a reader that has the blob open keeps reading it until
        the collector removes stale uploads (:meth:`stale_temporaries`, after its grace period).
        ``BlobNotFound`` if the blob was deleted meanwhile (nothing is stored then)."""
        _checked(key)
        upload, size, staged = _new_upload(), 0, False
        try:
            with self._db.transaction() as uow:
                uow.conn.execute(insert(blob_uploads), {"upload": upload, "started_ns": time.time_ns()})
            staged = True
            for n, piece in enumerate(_rechunked(iter(chunks))):
                size += len(piece)
                with self._db.transaction() as uow:
                    _insert_chunk(uow.conn, upload, n, piece)
            if size == 0:  # a published blob always has its chunk 0 (see _publish)
                with self._db.transaction() as uow:
                    _insert_chunk(uow.conn, upload, 0, b"")
            now = time.time_ns()
            with self._db.transaction() as uow:
                conn = uow.conn
                old = conn.execute(select(blobs.c.upload).where(blobs.c.key == key).with_for_update()
                                   ).scalar_one_or_none()
                if old is None:
                    raise BlobNotFound("blob not found", key=key)
                conn.execute(update(blobs).where(blobs.c.key == key).values(upload=upload, size=size, touched_ns=now))
                conn.execute(delete(blob_uploads).where(blob_uploads.c.upload == upload))
                conn.execute(insert(blob_uploads), {"upload": int(old), "started_ns": now})
        except BaseException:
            if staged:
                self._discard(upload)
            raise

    def refresh(self, key: str) -> bool:
        """Whether the blob is stored, its age started again as by a put of the same bytes."""
        return self._touch(_checked(key))

    def head(self, key: str, size: int) -> bytes:
        """The first ``size`` bytes of a blob (fewer if it is shorter): from its first chunk, cut
        by the database."""
        with self._db.reading() as conn:
            found = conn.execute(
                select(func.substr(blob_chunks.c.data, 1, cast(size, Integer), type_=LargeBinary))
                .join(blobs, blobs.c.upload == blob_chunks.c.upload)
                .where(blobs.c.key == _checked(key), blob_chunks.c.n == 0)).first()
        if found is None:
            raise BlobNotFound("blob not found", key=key)
        return bytes(found[0] or b"")  # SQLite: the substring of an empty BLOB is NULL

    def _touch(self, key: str) -> bool:
        with self._db.transaction() as uow:
            return uow.conn.execute(_TOUCH, {"k": key, "now": time.time_ns()}).first() is not None

    def _write(self, chunks: Iterator[bytes], expected: str | None = None, known_key: str | None = None,
               name: Callable[[], str] | None = None) -> tuple[StoredBlob, tuple[int, int] | None]:
        """Hash and store; the stamp (upload, touched_ns) if this call published the blob.
        ``name``: the key, known once ``chunks`` is exhausted (the bytes are then not hashed)."""
        digest, size, upload = hashlib.sha512(), 0, _new_upload()
        pieces = _rechunked(chunks)
        first = next(pieces, b"")
        second = next(pieces, None)
        if name is None:
            digest.update(first)
        size += len(first)
        if second is None:  # one chunk: written and published together
            key = self._key(digest, expected, known_key, name)
            return self._publish(key, size, upload, first)
        staged = False
        try:
            with self._db.transaction() as uow:
                uow.conn.execute(insert(blob_uploads), {"upload": upload, "started_ns": time.time_ns()})
                _insert_chunk(uow.conn, upload, 0, first)
            staged = True
            n = 1
            piece: bytes | None = second
            while piece is not None:
                if name is None:
                    digest.update(piece)
                size += len(piece)
                with self._db.transaction() as uow:
                    _insert_chunk(uow.conn, upload, n, piece)
                n, piece = n + 1, next(pieces, None)
            key = self._key(digest, expected, known_key, name)
            return self._publish(key, size, upload, None)
        except BaseException:
            if staged:
                self._discard(upload)
            raise

    @staticmethod
    def _key(digest: hashlib._Hash, expected: str | None, known_key: str | None,
             name: Callable[[], str] | None) -> str:
        if name is not None:
            return _checked(name())
        if expected is not None and not hmac.compare_digest(digest.hexdigest().encode(), expected.lower().encode()):
            raise VerificationFailed("content does not match its declared SHA-512")
        return known_key or "sha512/" + digest.hexdigest()

    def _publish(self, key: str, size: int, upload: int, only_chunk: bytes | None
                 ) -> tuple[StoredBlob, tuple[int, int] | None]:
        """The blob row (or a refreshed existing one) and, for one-chunk content, its chunk; a
        staged upload that turns out to duplicate an existing blob is dropped in the same commit."""
        touched = time.time_ns()
        with self._db.transaction() as uow:
            conn = uow.conn
            holder = conn.execute(dialects.for_connection(_PUBLISH, conn), {
                "key": key, "upload": upload, "size": size, "touched_ns": touched}).scalar_one()
            created = holder == upload
            if only_chunk is not None and created:
                _insert_chunk(conn, upload, 0, only_chunk)
            elif only_chunk is None:
                conn.execute(delete(blob_uploads).where(blob_uploads.c.upload == upload))
                if not created:
                    conn.execute(delete(blob_chunks).where(blob_chunks.c.upload == upload))
        return StoredBlob(key=key, sha512=key[7:], size=size), ((upload, touched) if created else None)

    def _discard(self, upload: int) -> None:
        with self._db.transaction() as uow:
            uow.conn.execute(delete(blob_chunks).where(blob_chunks.c.upload == upload))
            uow.conn.execute(delete(blob_uploads).where(blob_uploads.c.upload == upload))

    # -- reading ---------------------------------------------------------------------------
    def _row(self, key: str) -> tuple[int, int] | None:
        with self._db.reading() as conn:
            row = conn.execute(select(blobs.c.upload, blobs.c.size).where(blobs.c.key == _checked(key))).first()
        return (int(row.upload), int(row.size)) if row else None

    def get(self, key: str) -> bytes:
        return b"".join(self.open(key))

    def open(self, key: str) -> Iterator[bytes]:
        """The blob in chunks of at most :data:`CHUNK` bytes, one query per chunk (no transaction
        held open while the caller consumes). A missing blob is reported here, not at the first chunk."""
        row = self._row(key)
        if row is None:
            raise BlobNotFound("blob not found", key=key)
        upload, size = row

        def chunks() -> Iterator[bytes]:
            n, delivered = 0, 0
            while delivered < size:
                with self._db.reading() as conn:
                    data = conn.execute(select(blob_chunks.c.data).where(
                        blob_chunks.c.upload == upload, blob_chunks.c.n == n)).scalar_one_or_none()
                if data is None:  # deleted while being read: only an unreferenced blob can be
                    raise BlobNotFound("blob not found", key=key)
                delivered += len(data)
                n += 1
                yield bytes(data)

        return chunks()

    def size(self, key: str) -> int | None:
        row = self._row(key)
        return row[1] if row else None

    def exists(self, key: str) -> bool:
        return self._row(key) is not None

    # -- for the garbage collector (gateway/store/blob_gc.py) -------------------------------
    def stored(self) -> Iterator[tuple[str, float]]:
        """Every stored blob's key with its age in seconds (since it was written or last put)."""
        now = time.time_ns()
        with self._db.reading() as conn:
            rows = conn.execute(select(blobs.c.key, blobs.c.touched_ns).order_by(blobs.c.key)).all()
        for key, touched in rows:
            yield str(key), (now - int(touched)) / 1e9

    def delete_if_older(self, key: str, seconds: float) -> bool:
        """Delete the blob unless it was written or put again within ``seconds`` (one statement
        decides: see the module docstring)."""
        limit = time.time_ns() - int(seconds * 1e9)
        with self._db.transaction() as uow:
            gone = uow.conn.execute(delete(blobs).where(blobs.c.key == _checked(key), blobs.c.touched_ns < limit)
                                    .returning(blobs.c.upload)).first()
            if gone is None:
                return False
            uow.conn.execute(delete(blob_chunks).where(blob_chunks.c.upload == gone.upload))
        return True

    def stale_temporaries(self, seconds: float) -> int:
        """Remove uploads older than ``seconds`` that were never published (a writer that died)."""
        limit = time.time_ns() - int(seconds * 1e9)
        with self._db.transaction() as uow:
            stale = [int(u) for u in uow.conn.execute(
                delete(blob_uploads).where(blob_uploads.c.started_ns < limit).returning(blob_uploads.c.upload)
            ).scalars()]
            if stale:
                uow.conn.execute(delete(blob_chunks).where(blob_chunks.c.upload.in_(stale)))
        return len(stale)


def _insert_chunk(conn: Connection, upload: int, n: int, data: bytes) -> None:
    conn.execute(_INSERT_CHUNK, {"upload": upload, "n": n, "data": data})


def _rechunked(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Pieces of exactly :data:`CHUNK` bytes (the last one shorter): few rows for a stream of
    small reads, and never more than one chunk plus one input piece in memory."""
    buffer = bytearray()
    for piece in chunks:
        buffer += piece
        while len(buffer) >= CHUNK:
            yield bytes(buffer[:CHUNK])
            del buffer[:CHUNK]
    if buffer:
        yield bytes(buffer)
