from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from gateway.api import cursor
from gateway.errors import InvalidRequest, NotFound
from gateway.outbox.webhooks import sign, verify
from gateway.store.blobs import FilesystemBlobStore


def test_blob_store_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    key = store.put(b"Hundesteuer")
    assert key == "sha512/" + hashlib.sha512(b"Hundesteuer").hexdigest()
    assert store.put(b"Hundesteuer") == key
    assert store.get(key) == b"Hundesteuer"
    assert b"".join(store.open(key)) == b"Hundesteuer"
    assert not list(tmp_path.rglob(".tmp-*"))


@pytest.mark.parametrize("key", ["../etc/passwd", "sha512/../../x", "sha512/" + "A" * 128, "md5/abc"])
def test_blob_store_refuses_keys_outside_its_scheme(tmp_path: Path, key: str) -> None:
    with pytest.raises(NotFound):
        FilesystemBlobStore(tmp_path).get(key)


def test_cursor_round_trip_and_garbage() -> None:
    assert cursor.decode(cursor.encode(42)) == 42
    assert cursor.decode(None) == 0
    for bad in ("!!", "cDEyYQ", "eDE"):
        with pytest.raises(InvalidRequest):
            cursor.decode(bad)


def test_webhook_signature_verifies_and_detects_tampering() -> None:
    now = int(time.time())
    body = b'{"id":"e1"}'
    headers = {"webhook-id": "e1", "webhook-timestamp": str(now), "webhook-signature": sign(b"s3cret", "e1", now, body)}
    assert verify(b"s3cret", headers, body)
    assert not verify(b"s3cret", headers, body + b" ")
    assert not verify(b"other", headers, body)
    stale = {**headers, "webhook-timestamp": str(now - 3600),
             "webhook-signature": sign(b"s3cret", "e1", now - 3600, body)}
    assert not verify(b"s3cret", stale, body)
