from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from gateway.api import cursor
from gateway.errors import InvalidRequest, NotFound, VerificationFailed
from gateway.intake.checkpoint import attachment_records
from gateway.outbox.webhooks import sign, verify
from gateway.ports import VerifiedAttachment, VerifiedSubmission
from gateway.store.blobs import FilesystemBlobStore


def test_blob_store_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    key = store.put(b"Hundesteuer")
    assert key == "sha512/" + hashlib.sha512(b"Hundesteuer").hexdigest()
    assert store.put(b"Hundesteuer") == key
    assert store.get(key) == b"Hundesteuer"
    assert b"".join(store.open(key)) == b"Hundesteuer"
    assert not list(tmp_path.rglob(".tmp-*"))


def test_blob_store_makes_its_folders_when_it_opens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == [f"{i:02x}" for i in range(256)]
    monkeypatch.setattr("os.makedirs", lambda *a, **k: pytest.fail("a put made a folder"))
    keys = {store.put(bytes([i]) * 10) for i in range(64)}
    assert all(store.get(k) for k in keys)
    monkeypatch.undo()
    assert FilesystemBlobStore(tmp_path / "blobs").get(next(iter(keys)))  # opening again keeps the blobs


def test_a_part_of_a_blob_reads_like_a_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FilesystemBlobStore(tmp_path)
    original = b"--BB\r\nContent-ID: <a>\r\n\r\n" + bytes(range(256)) * 40 + b"\r\n--BB--"
    key = store.put(original)
    start = original.index(b"\x00")
    part = store.part(key, start, 256 * 40)
    assert part == f"{key}@{start}+{256 * 40}" and store.exists(part)
    assert store.get(part) == bytes(range(256)) * 40
    monkeypatch.setattr("gateway.store.blobs._CHUNK", 1000)  # a range over several chunks
    assert b"".join(store.open(part)) == bytes(range(256)) * 40
    assert store.get(store.part(key, 0, 0)) == b""
    with pytest.raises(ValueError, match="beyond the end"):
        store.part(key, start, len(original))
    with pytest.raises(ValueError, match="whole blob"):
        store.part(part, 0, 1)
    with pytest.raises(ValueError, match="non-negative"):
        store.part(key, -1, 1)
    with pytest.raises(NotFound):
        store.part("sha512/" + "0" * 128, 0, 1)
    beyond = f"{key}@{len(original) - 1}+2"  # a key nobody handed out, naming bytes that do not exist
    assert not store.exists(beyond)
    with pytest.raises(NotFound):
        store.get(beyond)
    with pytest.raises(NotFound):
        store.open(beyond)
    for bad in (f"{key}@-1+2", f"{key}@1", f"{key}@1+2@3+4", f"{key}@{'9' * 16}+1"):
        with pytest.raises(NotFound):
            store.get(bad)


@pytest.mark.parametrize("key", ["../etc/passwd", "sha512/../../x", "sha512/" + "A" * 128, "md5/abc"])
def test_blob_store_refuses_keys_outside_its_scheme(tmp_path: Path, key: str) -> None:
    with pytest.raises(NotFound):
        FilesystemBlobStore(tmp_path).get(key)


def test_blob_store_takes_a_digest_the_caller_computed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FilesystemBlobStore(tmp_path)
    content = b"attachment bytes" * 1000
    digest = hashlib.sha512(content).hexdigest()
    monkeypatch.setattr("gateway.store.blobs.blob_key", lambda _: pytest.fail("hashed a second time"))
    assert store.put(content, sha512=digest) == f"sha512/{digest}"
    assert store.get(f"sha512/{digest}") == content
    with pytest.raises(ValueError, match="not a SHA-512"):
        store.put(content, sha512="../../etc/passwd")


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


def test_an_attachment_carried_verbatim_is_kept_as_a_range_of_the_original(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store = FilesystemBlobStore(tmp_path)
    content = b"%PDF-1.7 scan" * 1000
    raw = b"<envelope/>\r\n--BB\r\n\r\n" + content + b"\r\n--BB--"
    raw_key = store.put(raw)
    at = (raw.index(content), len(content))
    attachment = VerifiedAttachment(id="a1", filename="scan.pdf", media_type="application/pdf", content=content,
                                    original_range=at)
    verified = VerifiedSubmission(tenant_ars="150905350535", source_format="x", data=b"{}",
                                  data_media_type="application/json", attachments=[attachment])
    monkeypatch.setattr(store, "put", lambda *a, **k: pytest.fail("the attachment was written again"))
    [record] = attachment_records(verified, store, raw_key)
    assert record.storage_key == f"{raw_key}@{at[0]}+{at[1]}" and store.get(record.storage_key) == content
    assert record.sha512 == hashlib.sha512(content).hexdigest() and record.size == len(content)
    declared_wrong = VerifiedSubmission(**{**verified.__dict__, "attachments": [
        VerifiedAttachment(**{**attachment.__dict__, "declared_sha512": "0" * 128})]})
    with pytest.raises(VerificationFailed):
        attachment_records(declared_wrong, store, raw_key)
    monkeypatch.undo()
    # without the original's key (nothing stored to point into), the attachment is stored itself
    [alone] = attachment_records(verified, store)
    assert alone.storage_key == "sha512/" + alone.sha512 and store.get(alone.storage_key) == content
