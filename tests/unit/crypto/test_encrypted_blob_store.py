"""The encrypting blob store around the filesystem store: keys and sizes of the plaintext,
declared digests, provisional blobs, clear blobs of before, the published demo master key."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.config import Settings
from gateway.errors import SealedDataInvalid, VerificationFailed
from gateway.migrations import upgrade
from gateway.store.blobs import FilesystemBlobStore
from gateway.store.crypto import stream
from gateway.store.crypto.blobstore import EncryptedBlobStore
from gateway.store.crypto.data_keys import DataKeyRing
from gateway.store.crypto.master_keys import MasterKeys
from gateway.store.db import Database

NAME = b"Erika Mustermann, geboren am 12.08.1964"


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[EncryptedBlobStore, FilesystemBlobStore, Path]]:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade(url)
    db = Database(url)
    inner = FilesystemBlobStore(tmp_path / "blobs", durable=False)
    ring = DataKeyRing(db, MasterKeys(keys={"k": os.urandom(32)}, current_id="k"))
    yield EncryptedBlobStore(inner, ring), inner, tmp_path / "blobs"
    db.dispose()


def files(root: Path) -> list[bytes]:
    return [p.read_bytes() for p in root.rglob("*") if p.is_file()]


def test_keys_and_sizes_are_the_plaintexts_and_the_files_hold_none_of_it(
        parts: tuple[EncryptedBlobStore, FilesystemBlobStore, Path]) -> None:
    store, _, root = parts
    key = store.put(NAME)
    assert key == "sha512/" + hashlib.sha512(NAME).hexdigest()
    assert store.get(key) == NAME and store.size(key) == len(NAME)
    big = os.urandom(3 * stream.CHUNK + 5) + NAME
    streamed = store.put_stream(iter([big[:1000], big[1000:]]), sha512=hashlib.sha512(big).hexdigest())
    assert (streamed.sha512, streamed.size) == (hashlib.sha512(big).hexdigest(), len(big))
    assert b"".join(store.open(streamed.key)) == big and store.size(streamed.key) == len(big)
    assert store.put(NAME) == key  # the same bytes again: the same key
    assert all(NAME not in content and content.startswith(stream.MAGIC) for content in files(root))


def test_content_differing_from_its_declared_digest_is_not_stored(
        parts: tuple[EncryptedBlobStore, FilesystemBlobStore, Path]) -> None:
    store, _, root = parts
    with pytest.raises(VerificationFailed):
        store.put_stream(iter([NAME]), sha512=hashlib.sha512(b"other").hexdigest())
    assert files(root) == []


def test_a_provisional_blob_is_reclaimed(parts: tuple[EncryptedBlobStore, FilesystemBlobStore, Path]) -> None:
    store, _, _ = parts
    blob = store.put_provisional(iter([NAME]))
    assert blob.size == len(NAME) and blob.stamp is not None
    assert store.reclaim(blob)
    assert not store.exists(blob.key)


def test_a_blob_in_clear_is_refused_unless_accepted_and_then_sealed_by_a_reseal(
        parts: tuple[EncryptedBlobStore, FilesystemBlobStore, Path]) -> None:
    store, inner, _ = parts
    key = inner.put(NAME)
    with pytest.raises(SealedDataInvalid):
        store.get(key)
    with pytest.raises(SealedDataInvalid):
        store.size(key)
    accepting = EncryptedBlobStore(inner, store._ring, accept_clear=True)
    assert accepting.get(key) == NAME and accepting.size(key) == len(NAME)
    assert store.reseal(key, keep=lambda _: True)  # clear: always sealed
    assert inner.head(key, 4) == stream.MAGIC and store.get(key) == NAME
    assert not store.reseal(key, keep=lambda _: True)


def test_clear_bytes_that_do_not_match_their_key_are_not_sealed_as_genuine(
        parts: tuple[EncryptedBlobStore, FilesystemBlobStore, Path]) -> None:
    store, inner, root = parts
    key = inner.put(NAME)
    (root / key[7:9] / key[7:]).write_bytes(b"planted by someone without the key")
    with pytest.raises(SealedDataInvalid):
        store.reseal(key, keep=lambda _: True)
    assert inner.head(key, 7) == b"planted"  # left as it was, still refused when read


def test_a_tampered_blob_is_refused(parts: tuple[EncryptedBlobStore, FilesystemBlobStore, Path]) -> None:
    store, _, root = parts
    key = store.put(NAME)
    path = root / key[7:9] / key[7:]
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(SealedDataInvalid):
        store.get(key)


def test_the_published_demo_master_key_is_refused_outside_the_demo() -> None:
    demo_key = "ZGVtby1vbmx5LW1hc3Rlci1rZXktMDEyMzQ1Njc4OWE="  # fixtures/demo/gateway.yaml
    with pytest.raises(ValidationError, match=r"at_rest\.master_keys\[0\]\.key is a secret published"):
        Settings(at_rest={"master_keys": [{"id": "demo-2026", "key": demo_key}]})
    assert Settings(demo=True, at_rest={"master_keys": [{"id": "demo-2026", "key": demo_key}]}).demo
    own = base64.b64encode(os.urandom(32)).decode()
    assert Settings(at_rest={"master_keys": [{"id": "ours", "key": own}]}).at_rest.master_keys[0].id == "ours"
