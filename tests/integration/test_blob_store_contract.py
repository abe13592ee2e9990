"""The BlobStore contract, run against every store for real: the filesystem store (embedded) and the
database store on PostgreSQL (scale-out, no shared filesystem) and on SQLite, each in clear and
inside the encrypting store (gateway/store/crypto/blobstore.py); and the named writes the
encrypting store needs from the store it wraps, on each of them."""

from __future__ import annotations

import hashlib
import os
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from gateway.errors import BlobNotFound, VerificationFailed
from gateway.migrations import upgrade
from gateway.store.blob_gc import CollectableBlobs
from gateway.store.blobs import FilesystemBlobStore
from gateway.store.crypto.blobstore import EncryptedBlobStore
from gateway.store.crypto.data_keys import DataKeyRing
from gateway.store.crypto.master_keys import MasterKeys
from gateway.store.crypto.rotation import rotate
from gateway.store.db import Database
from gateway.store.db_blobs import CHUNK, DatabaseBlobStore
from gateway.store.tables import blob_chunks, blob_uploads, blobs


def _stores(kind: str, request: pytest.FixtureRequest, tmp_path: Path
            ) -> Iterator[tuple[FilesystemBlobStore | DatabaseBlobStore, Database]]:
    """The store and a database (the blobs' own, or one for the data keys of an encrypting store)."""
    url = request.getfixturevalue("pg_url") if kind == "postgresql" else f"sqlite:///{tmp_path / 'b.db'}"
    upgrade(url)
    db = Database(url)
    yield (FilesystemBlobStore(tmp_path / "blobs") if kind == "filesystem" else DatabaseBlobStore(db)), db
    db.dispose()


@pytest.fixture(params=["filesystem", "postgresql", "sqlite",
                        "encrypted-filesystem", "encrypted-postgresql", "encrypted-sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CollectableBlobs]:
    kind = str(request.param)
    for inner, db in _stores(kind.removeprefix("encrypted-"), request, tmp_path):
        if kind.startswith("encrypted-"):
            yield EncryptedBlobStore(inner, DataKeyRing(db, MasterKeys(keys={"k": os.urandom(32)}, current_id="k")))
        else:
            yield inner


@pytest.fixture(params=["filesystem", "postgresql", "sqlite"])
def named(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FilesystemBlobStore | DatabaseBlobStore]:
    for inner, _ in _stores(str(request.param), request, tmp_path):
        yield inner


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[tuple[DatabaseBlobStore, Database]]:
    upgrade(pg_url)
    db = Database(pg_url)
    yield DatabaseBlobStore(db), db
    db.dispose()


def _pieces(content: bytes, size: int = 65536) -> Iterator[bytes]:
    for start in range(0, len(content), size):
        yield content[start:start + size]


def test_content_addressed_idempotent_and_readable(store: CollectableBlobs) -> None:
    key = store.put(b"Antrag")
    assert key == "sha512/" + hashlib.sha512(b"Antrag").hexdigest()
    assert store.put(b"Antrag") == key
    assert store.get(key) == b"Antrag" and store.size(key) == 6 and store.exists(key)
    assert b"".join(store.open(key)) == b"Antrag"
    empty = store.put(b"")
    assert store.get(empty) == b"" and store.size(empty) == 0


def test_a_missing_blob_is_reported(store: CollectableBlobs) -> None:
    key = "sha512/" + "ab" * 64
    with pytest.raises(BlobNotFound):
        store.get(key)
    with pytest.raises(BlobNotFound):
        store.open(key)  # before the first chunk: an HTTP response has not started yet
    assert store.size(key) is None and not store.exists(key)
    with pytest.raises(ValueError):
        store.exists("sha512/../../etc/passwd")


def test_put_stream_hashes_and_reads_back_in_bounded_chunks(store: CollectableBlobs) -> None:
    content = bytes(range(256)) * (14 * 1024) + b"tail"  # 3.5 MiB and a bit, in 64 KiB pieces
    stored = store.put_stream(_pieces(content))
    assert stored.sha512 == hashlib.sha512(content).hexdigest() and stored.size == len(content)
    chunks = list(store.open(stored.key))
    assert max(len(c) for c in chunks) <= CHUNK and b"".join(chunks) == content
    assert store.put_stream(_pieces(content)).key == stored.key  # again: the same blob
    assert store.size(stored.key) == len(content)


def test_a_failing_stream_stores_nothing(store: CollectableBlobs) -> None:
    content = b"x" * (3 * CHUNK)

    def broken() -> Iterator[bytes]:
        yield from _pieces(content[:2 * CHUNK + 10], CHUNK // 2)
        raise OSError("client went away")

    with pytest.raises(OSError, match="went away"):
        store.put_stream(broken())
    assert list(store.stored()) == []
    assert store.stale_temporaries(-1) == 0  # nothing left behind to clean up either


def test_a_declared_digest_must_match(store: CollectableBlobs) -> None:
    content = b"y" * (2 * CHUNK + 3)
    with pytest.raises(VerificationFailed):
        store.put_stream(_pieces(content), sha512="0" * 128)
    with pytest.raises(VerificationFailed):
        store.put_stream([b"small"], sha512="0" * 128)
    assert list(store.stored()) == []
    digest = hashlib.sha512(content).hexdigest()
    assert store.put_stream(_pieces(content), sha512=digest.upper()).sha512 == digest


def test_provisional_blobs_are_reclaimed_only_when_nobody_else_put_them(store: CollectableBlobs) -> None:
    alone = store.put_provisional(iter([b"refused attachment"]))
    assert store.reclaim(alone) and not store.exists(alone.key)
    large = store.put_provisional(_pieces(b"z" * (2 * CHUNK + 1)))
    assert store.reclaim(large) and not store.exists(large.key)

    shared = store.put(b"shared bytes")
    again = store.put_provisional(iter([b"shared bytes"]))
    assert again.stamp is None and not store.reclaim(again) and store.exists(shared)

    raced = store.put_provisional(iter([b"put meanwhile"]))
    time.sleep(0.001)
    store.put(b"put meanwhile")  # another message's intake stores the same bytes
    assert not store.reclaim(raced) and store.get(raced.key) == b"put meanwhile"


def test_the_collector_sees_ages_and_deletes_only_old_blobs(store: CollectableBlobs) -> None:
    key = store.put(b"old")
    [(listed, age)] = list(store.stored())
    assert listed == key and 0 <= age < 60
    assert not store.delete_if_older(key, 3600)
    time.sleep(0.01)
    assert store.delete_if_older(key, 0.005) and not store.exists(key)
    assert not store.delete_if_older(key, 0.005)
    assert store.put(b"old") == key and store.get(key) == b"old"  # written anew


def test_a_dead_writers_upload_is_removed_after_the_grace_period(pg_store: tuple[DatabaseBlobStore, Database]
                                                                  ) -> None:
    store, db = pg_store
    with db.transaction() as uow:  # what a writer killed between two chunks leaves
        uow.conn.execute(insert(blob_uploads), {"upload": 42, "started_ns": time.time_ns() - 7200 * 10**9})
        uow.conn.execute(insert(blob_chunks), [{"upload": 42, "n": n, "data": b"partial"} for n in range(3)])
        uow.conn.execute(insert(blob_uploads), {"upload": 43, "started_ns": time.time_ns()})  # still writing
    assert store.stale_temporaries(3600) == 1
    with db.reading() as conn:
        assert conn.execute(select(func.count()).select_from(blob_chunks)).scalar_one() == 0
        assert conn.execute(select(blob_uploads.c.upload)).scalars().all() == [43]


def test_large_content_goes_through_postgresql_with_bounded_memory(
        pg_store: tuple[DatabaseBlobStore, Database]) -> None:
    store, db = pg_store
    total = 48 * CHUNK
    piece = b"\x5a" * 65536

    def produce() -> Iterator[bytes]:
        for _ in range(total // len(piece)):
            yield piece

    tracemalloc.start()
    try:
        stored = store.put_stream(produce())
        digest = hashlib.sha512()
        for chunk in store.open(stored.key):
            digest.update(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert stored.size == total and digest.hexdigest() == stored.sha512
    assert peak < 8 * CHUNK, f"peak {peak / CHUNK:.1f} MiB for a {total // CHUNK} MiB blob"
    with db.reading() as conn:
        assert conn.execute(select(func.count()).select_from(blob_chunks)).scalar_one() == 48
        assert conn.execute(select(blobs.c.size)).scalar_one() == total


def _name(content: bytes) -> str:
    return "sha512/" + hashlib.sha512(content).hexdigest()


def test_named_content_is_stored_under_the_name_given_at_its_end(named: FilesystemBlobStore | DatabaseBlobStore
                                                                 ) -> None:
    encoded = b"\x01" * (2 * CHUNK + 7)  # stands for an encoding of the content the name is of
    key = _name(b"the content")
    given: list[str] = []

    def name() -> str:
        given.append(key)
        return key

    stored = named.put_named(_pieces(encoded), name)
    assert (stored.key, stored.sha512, stored.size) == (key, key[7:], len(encoded)) and given == [key]
    assert named.get(key) == encoded and named.size(key) == len(encoded)
    again = named.put_named(iter([b"another encoding"]), lambda: key)  # stored already: kept as it is
    assert again.stamp is None and named.get(key) == encoded
    small = named.put_named(iter([b"short"]), lambda: _name(b"small"))
    assert named.get(small.key) == b"short" and named.reclaim(small) and not named.exists(small.key)


def test_a_named_write_that_fails_stores_nothing(named: FilesystemBlobStore | DatabaseBlobStore) -> None:
    def broken() -> Iterator[bytes]:
        yield from _pieces(b"x" * (2 * CHUNK), CHUNK // 2)
        raise OSError("encoder failed")

    with pytest.raises(OSError, match="encoder failed"):
        named.put_named(broken(), lambda: _name(b"never"))
    with pytest.raises(ValueError):
        named.put_named(iter([b"bytes"]), lambda: "sha512/not-a-digest")
    assert list(named.stored()) == [] and named.stale_temporaries(-1) == 0


def test_head_reads_the_first_bytes_only(named: FilesystemBlobStore | DatabaseBlobStore) -> None:
    key = named.put_named(_pieces(bytes(range(256)) * 5000), lambda: _name(b"long")).key
    assert named.head(key, 16) == bytes(range(16))
    short = named.put(b"abc")
    assert named.head(short, 16) == b"abc"
    with pytest.raises(BlobNotFound):
        named.head(_name(b"missing"), 16)


def test_refresh_starts_a_stored_blobs_age_again(named: FilesystemBlobStore | DatabaseBlobStore) -> None:
    key = named.put(b"kept by a put of the same bytes")
    time.sleep(0.05)
    assert named.refresh(key)
    assert not named.delete_if_older(key, 0.04)  # young again
    assert not named.refresh(_name(b"missing")) and not named.exists(_name(b"missing"))


def test_a_replaced_blob_is_read_whole_by_a_reader_that_had_it_open(
        named: FilesystemBlobStore | DatabaseBlobStore) -> None:
    old, new = b"o" * (2 * CHUNK + 1), b"n" * (3 * CHUNK + 2)
    key = named.put_named(_pieces(old), lambda: _name(b"rotated")).key
    reading = named.open(key)
    first = next(reading)
    named.replace_named(key, _pieces(new))
    assert first + b"".join(reading) == old  # what it had opened, to its end
    assert named.get(key) == new and named.size(key) == len(new)
    named.stale_temporaries(-1)  # the collector's run after its grace period
    assert named.get(key) == new and [k for k, _ in named.stored()] == [key]
    named.replace_named(key, iter([]))
    assert named.get(key) == b"" and named.head(key, 4) == b""


def test_a_failed_replacement_keeps_the_blob(named: FilesystemBlobStore | DatabaseBlobStore) -> None:
    key = named.put_named(iter([b"sealed"]), lambda: _name(b"kept")).key

    def broken() -> Iterator[bytes]:
        yield b"x" * (CHUNK + 1)
        raise OSError("key went away")

    with pytest.raises(OSError, match="key went away"):
        named.replace_named(key, broken())
    assert named.get(key) == b"sealed" and named.stale_temporaries(-1) == 0


def test_replacing_a_blob_deleted_meanwhile_stores_nothing(pg_store: tuple[DatabaseBlobStore, Database]) -> None:
    store, db = pg_store
    with pytest.raises(BlobNotFound):
        store.replace_named(_name(b"gone"), _pieces(b"g" * (CHUNK + 1)))
    with db.reading() as conn:
        assert conn.execute(select(func.count()).select_from(blob_chunks)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(blob_uploads)).scalar_one() == 0


def test_the_encrypting_store_keeps_no_clear_bytes_in_postgresql(pg_url: str) -> None:
    upgrade(pg_url)
    db = Database(pg_url)
    try:
        store = EncryptedBlobStore(DatabaseBlobStore(db), DataKeyRing(db, MasterKeys(keys={"k": os.urandom(32)},
                                                                                      current_id="k")))
        secret = b"Erika Mustermann " * (CHUNK // 8)  # several chunks
        stored = store.put_stream(_pieces(secret))
        assert store.get(stored.key) == secret and store.size(stored.key) == len(secret)
        with db.reading() as conn:
            rows = [bytes(data) for data in conn.execute(select(blob_chunks.c.data)).scalars()]
        assert len(rows) > 1 and not any(b"Mustermann" in row for row in rows)
    finally:
        db.dispose()


def test_a_rotation_passes_over_a_blob_the_collector_deleted_meanwhile(
        named: FilesystemBlobStore | DatabaseBlobStore, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    db = Database(url)
    ring = DataKeyRing(db, MasterKeys(keys={"k": os.urandom(32)}, current_id="k"))
    kept, gone = EncryptedBlobStore(named, ring).put(b"kept"), EncryptedBlobStore(named, ring).put(b"gone")

    class Collected(EncryptedBlobStore):
        def stored(self) -> Iterator[tuple[str, float]]:
            listed = list(super().stored())
            assert named.delete_if_older(gone, -1)  # between the listing and the reseal
            yield from listed

    store = Collected(named, ring)
    done = rotate(db, ring, store, new_data_keys=True, reseal=True)
    assert done.resealed_blobs == 1 and store.get(kept) == b"kept" and not store.exists(gone)
    db.dispose()
