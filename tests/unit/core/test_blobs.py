"""The filesystem blob store: content-addressed, durable when put returns, streamed both ways."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import BlobNotFound, TransientError, VerificationFailed
from gateway.store import blobs as blobs_module
from gateway.store.blobs import FilesystemBlobStore


def test_blob_store_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    key = store.put(b"Hundesteuer")
    assert key == "sha512/" + hashlib.sha512(b"Hundesteuer").hexdigest()
    assert store.put(b"Hundesteuer") == key
    assert store.get(key) == b"Hundesteuer"
    assert b"".join(store.open(key)) == b"Hundesteuer"
    assert store.exists(key)
    assert not list(tmp_path.rglob(".tmp-*"))


def test_blob_store_makes_its_folders_when_it_opens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == [f"{i:02x}" for i in range(256)]
    monkeypatch.setattr("os.makedirs", lambda *a, **k: pytest.fail("a put made a folder"))
    monkeypatch.setattr(Path, "mkdir", lambda *a, **k: pytest.fail("a put made a folder"))
    keys = {store.put(bytes([i]) * 10) for i in range(64)}
    assert all(store.get(k) for k in keys)
    monkeypatch.undo()
    assert FilesystemBlobStore(tmp_path / "blobs").get(next(iter(keys)))  # opening again keeps the blobs


@pytest.mark.parametrize("key", ["../etc/passwd", "sha512/../../x", "sha512/" + "A" * 128, "md5/abc",
                                 "sha512/" + "0" * 128 + "@0+1"])
def test_blob_store_refuses_keys_outside_its_scheme(tmp_path: Path, key: str) -> None:
    store = FilesystemBlobStore(tmp_path)
    for read in (store.get, store.open, store.exists):
        with pytest.raises(ValueError, match="not a blob key"):
            read(key)


def test_a_missing_blob_is_the_stores_own_transient_error(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    missing = "sha512/" + "0" * 128
    for read in (store.get, store.open):
        with pytest.raises(BlobNotFound) as caught:
            read(missing)
        assert isinstance(caught.value, TransientError)  # retried, never a reject upstream
        assert caught.value.to_problem()["type"].endswith("/blob-not-found")
    assert not store.exists(missing)


def test_blob_store_takes_a_digest_the_caller_computed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FilesystemBlobStore(tmp_path)
    content = b"attachment bytes" * 1000
    digest = hashlib.sha512(content).hexdigest()
    monkeypatch.setattr("gateway.store.blobs.blob_key", lambda _: pytest.fail("hashed a second time"))
    assert store.put(content, sha512=digest) == f"sha512/{digest}"
    assert store.get(f"sha512/{digest}") == content
    with pytest.raises(ValueError, match="not a SHA-512"):
        store.put(content, sha512="../../etc/passwd")


def test_put_stream_hashes_while_writing_and_holds_one_chunk_at_a_time(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    pieces = [os.urandom(64 * 1024) for _ in range(20)]
    handed_out: list[int] = []

    def chunks() -> Iterator[bytes]:
        for piece in pieces:
            handed_out.append(len(piece))
            yield piece

    stored = store.put_stream(chunks())
    whole = b"".join(pieces)
    assert stored.key == "sha512/" + hashlib.sha512(whole).hexdigest()
    assert (stored.sha512, stored.size) == (stored.key[7:], len(whole)) and handed_out == [64 * 1024] * 20
    assert store.get(stored.key) == whole
    assert store.put_stream(iter(pieces)).key == stored.key  # the same content again: one blob
    assert store.put_stream(iter([])).key == "sha512/" + hashlib.sha512(b"").hexdigest()
    assert not list(tmp_path.rglob(".tmp-*"))


def test_a_failing_stream_leaves_nothing_behind(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)

    def broken() -> Iterator[bytes]:
        yield b"first part"
        raise ConnectionError("upstream closed the download")

    with pytest.raises(ConnectionError):
        store.put_stream(broken())
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_put_stream_with_a_declared_digest_stores_only_matching_content(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    content = [b"Bauzeichnung ", b"Erdgeschoss"]
    digest = hashlib.sha512(b"".join(content)).hexdigest()
    assert store.put_stream(iter(content), sha512=digest.upper()).sha512 == digest
    other = [b"Bauzeichnung ", b"Obergeschoss"]
    with pytest.raises(VerificationFailed):
        store.put_stream(iter(other), sha512=digest)
    assert not store.exists("sha512/" + hashlib.sha512(b"".join(other)).hexdigest())
    assert not list((tmp_path / "blobs").glob(".tmp-*")) and len(list(store.stored())) == 1


def test_open_streams_a_large_blob_in_bounded_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FilesystemBlobStore(tmp_path)
    content = os.urandom(10_000)
    key = store.put(content)
    monkeypatch.setattr(blobs_module, "CHUNK", 1024)
    chunks = list(store.open(key))
    assert max(len(c) for c in chunks) == 1024 and b"".join(chunks) == content


class Recorder:
    """Records fsyncs (of which path) and renames, in the order they happen."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.steps: list[tuple[str, str]] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            self.steps.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
            real_fsync(fd)

        def replace(src: Any, dst: Any) -> None:
            self.steps.append(("rename", f"{src} -> {dst}"))
            real_replace(src, dst)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("stream", [False, True], ids=["put", "put_stream"])
def test_a_durable_put_syncs_the_file_then_renames_then_syncs_its_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stream: bool) -> None:
    store = FilesystemBlobStore(tmp_path)
    recorder = Recorder(monkeypatch)
    key = store.put_stream(iter([b"Antrag", b" auf Wohngeld"])).key if stream else store.put(b"Antrag auf Wohngeld")
    digest = key[7:]
    final = tmp_path / digest[:2] / digest
    [(first, tmp), (second, renamed), (third, folder)] = recorder.steps
    assert (first, second, third) == ("fsync", "rename", "fsync")
    assert Path(tmp).name.startswith(".tmp-") and renamed == f"{tmp} -> {final}"
    assert folder == str(final.parent)
    recorder.steps.clear()
    store.put(b"Antrag auf Wohngeld")  # already there: its folder entry is made durable again
    assert recorder.steps == [("fsync", str(final.parent))]


def test_durability_process_writes_without_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FilesystemBlobStore(tmp_path, durable=False)
    recorder = Recorder(monkeypatch)
    key = store.put(b"Antrag")
    assert [step for step, _ in recorder.steps] == ["rename"] and store.get(key) == b"Antrag"


def test_blob_files_are_0600_and_folders_0700_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        (tmp_path / "blobs").mkdir(mode=0o755)  # as an older version left it
        store = FilesystemBlobStore(tmp_path / "blobs")
        key = store.put(b"Gewerbeanmeldung")
        streamed = store.put_stream(iter([b"Anlage"])).key
    finally:
        os.umask(old)
    root = tmp_path / "blobs"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in root.iterdir()} == {0o700}
    for k in (key, streamed):
        assert stat.S_IMODE((root / k[7:9] / k[7:]).stat().st_mode) == 0o600


# -- provisional blobs of a synchronous request: reclaimed at once when it is refused ---------------

def test_a_provisional_blob_is_reclaimed_when_nobody_else_put_it(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    blob = store.put_provisional([b"Scan ", b"of a refused application"])
    assert blob.key == "sha512/" + hashlib.sha512(b"Scan of a refused application").hexdigest()
    assert blob.size == len(b"Scan of a refused application") and blob.stamp is not None
    assert store.get(blob.key) == b"Scan of a refused application"
    assert store.reclaim(blob)
    assert not store.exists(blob.key)
    assert not store.reclaim(blob)  # gone already
    assert not list(tmp_path.rglob(".tmp-*"))


def test_bytes_stored_before_are_never_reclaimed(tmp_path: Path) -> None:
    """The blob a committed case refers to: a refused request that brings the same bytes found
    them there and must not delete them."""
    store = FilesystemBlobStore(tmp_path)
    key = store.put(b"attachment of a committed case")
    blob = store.put_provisional([b"attachment of a committed case"])
    assert blob.key == key and blob.stamp is None
    assert not store.reclaim(blob)
    assert store.get(key) == b"attachment of a committed case"


@pytest.mark.parametrize("again", ["put", "put_stream", "put_provisional"])
def test_a_provisional_blob_put_again_meanwhile_is_kept(tmp_path: Path, again: str) -> None:
    """Another request (or the intake of an accepted one) stored the same bytes after this one:
    they may be on their way into a case, so the refused request leaves them."""
    store = FilesystemBlobStore(tmp_path)
    blob = store.put_provisional([b"shared scan"])
    for _ in range(50):  # put right after the first: the file times must still tell them apart
        if again == "put":
            store.put(b"shared scan")
        elif again == "put_stream":
            store.put_stream([b"shared ", b"scan"])
        else:
            assert store.put_provisional([b"shared scan"]).stamp is None
    assert not store.reclaim(blob)
    assert store.get(blob.key) == b"shared scan"


def test_a_put_racing_the_reclaim_writes_the_blob_anew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A put that opened the blob just before the reclaim unlinked it finds it unlinked (under
    the lock) and writes it again: the bytes it returns the key of are there."""
    store = FilesystemBlobStore(tmp_path)
    blob = store.put_provisional([b"raced"])
    real_flock = blobs_module.fcntl.flock
    reclaimed: list[bool] = []

    def flock(fd: int, operation: int) -> None:
        if operation == blobs_module.fcntl.LOCK_SH and not reclaimed:
            reclaimed.append(store.reclaim(blob))  # the reclaim wins the lock first
        real_flock(fd, operation)

    monkeypatch.setattr(blobs_module.fcntl, "flock", flock)
    assert store.put(b"raced") == blob.key
    assert reclaimed == [True]
    assert store.get(blob.key) == b"raced"
