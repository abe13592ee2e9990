from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.api import cursor
from gateway.errors import InvalidRequest, VerificationFailed
from gateway.intake.checkpoint import attachment_records
from gateway.outbox.webhooks import sign, verify
from gateway.ports import StoredBlob, VerifiedAttachment, VerifiedSubmission
from gateway.store.blobs import FilesystemBlobStore


def test_attachments_are_stored_under_the_channels_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = b"%PDF-1.7 scan" * 1000
    digest = hashlib.sha512(content).hexdigest()
    verified = VerifiedSubmission(
        tenant_ars="150905350535", source_format="x", data=b"{}", data_media_type="application/json",
        service_leika=None, attachments=[VerifiedAttachment(id="a1", filename="scan.pdf", media_type="application/pdf",
                                                           content=content, declared_sha512=digest, sha512=digest)])
    monkeypatch.setattr("gateway.store.blobs.blob_key", lambda _: pytest.fail("hashed a second time"))
    [record] = attachment_records(verified, FilesystemBlobStore(tmp_path))
    assert (record.sha512, record.storage_key, record.size) == (digest, f"sha512/{digest}", len(content))
    other = VerifiedSubmission(**{**verified.__dict__, "attachments": [
        VerifiedAttachment(id="a1", filename="scan.pdf", media_type="application/pdf", content=content,
                           declared_sha512="0" * 128, sha512=digest)]})
    with pytest.raises(VerificationFailed):
        attachment_records(other, FilesystemBlobStore(tmp_path))


def test_an_attachment_already_in_the_store_is_recorded_by_key_without_reading_it(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    content = b"%PDF-1.7 Bauantrag" * 1000
    stored = store.put_stream(iter([content[:7000], content[7000:]]))
    verified = VerifiedSubmission(
        tenant_ars="150905350535", source_format="x", data=b"{}", data_media_type="application/json",
        attachments=[VerifiedAttachment(id="a1", filename="plan.pdf", media_type="application/pdf", stored=stored,
                                        declared_sha512=stored.sha512)])

    class NoReads(FilesystemBlobStore):
        def get(self, key: str) -> bytes:
            raise AssertionError("read a stored attachment")

        def open(self, key: str) -> Iterator[bytes]:
            raise AssertionError("read a stored attachment")

        def put(self, content: bytes, sha512: str | None = None) -> str:
            raise AssertionError("stored a stored attachment again")

    [record] = attachment_records(verified, NoReads(tmp_path))
    assert (record.storage_key, record.sha512, record.size) == (stored.key, stored.sha512, len(content))
    wrong = VerifiedAttachment(id="a1", filename="plan.pdf", media_type="application/pdf", stored=stored,
                               declared_sha512="ab" * 64)
    with pytest.raises(VerificationFailed):
        attachment_records(dataclasses.replace(verified, attachments=[wrong]), NoReads(tmp_path))


def test_a_verified_attachment_has_its_content_or_its_blob_not_both() -> None:
    with pytest.raises(ValueError, match="either"):
        VerifiedAttachment(id="a1", filename="a", media_type="text/plain")
    with pytest.raises(ValueError, match="either"):
        VerifiedAttachment(id="a1", filename="a", media_type="text/plain", content=b"x",
                           stored=StoredBlob(key="sha512/" + "0" * 128, sha512="0" * 128, size=1))


def test_cursor_round_trip_and_garbage() -> None:
    assert cursor.decode(cursor.encode(7, 42)) == cursor.Cursor(xid=7, seq=42)
    assert cursor.decode(cursor.encode(2**63 - 1, 0)) == cursor.Cursor(xid=2**63 - 1, seq=0)
    assert cursor.decode(None) == cursor.START
    # an earlier version's cursor (seq only) is still understood
    assert cursor.decode("cDQy") == cursor.Cursor(xid=None, seq=42)
    too_big = base64.urlsafe_b64encode(f"x{2**63}.1".encode()).decode()
    for bad in ("!!", "cDEyYQ", "eDE", "eDEuMi4z", "eC0xLjI", too_big, "cDE" * 30):
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
