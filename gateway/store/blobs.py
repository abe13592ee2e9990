"""Filesystem blob store: content-addressed by SHA-512, written durably.

The key is ``sha512/<hex>``; storing the same bytes twice is a no-op, which keeps every
intake step idempotent. A blob is written to a temporary file, which is fsync'd, renamed to
its final name, and its folder fsync'd: when ``put`` returns, the blob survives a power
cut, so a transaction that references it may commit (durability ``full``). With durability
``process`` the two fsyncs are left out: the blob then survives the death of the process,
not a power cut. A file appears under its final name only complete, so a SIGKILL mid-write
leaves at most a stray temporary file, never a truncated blob.

Large content is streamed in both directions: :meth:`put_stream` hashes while it writes and
:meth:`open` reads in chunks, so memory stays bounded whatever the blob's size.

A synchronous request's attachments are stored with :meth:`put_provisional` before the request
is known to be acceptable; a refused request's are deleted right away with :meth:`reclaim`,
which never deletes bytes another message shares (see there). Anything a crash leaves behind is
the garbage collector's (gateway/store/blob_gc.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import itertools
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from gateway.errors import BlobNotFound, VerificationFailed
from gateway.ports import ProvisionalBlob, StoredBlob
from gateway.store.files import FILE_MODE, fsync_dir, private_dir

_KEY = re.compile(r"^sha512/([0-9a-f]{128})$")
CHUNK = 1024 * 1024


def blob_key(content: bytes) -> str:
    return "sha512/" + hashlib.sha512(content).hexdigest()


class FilesystemBlobStore:
    def __init__(self, root: Path, durable: bool = True) -> None:
        self._root = root
        self._durable = durable
        private_dir(root)
        # all 256 shard folders once, when the store opens: a put then never creates a folder
        # and never races another writer's mkdir
        for shard in range(256):
            private_dir(root / f"{shard:02x}")
        if durable:  # the folders themselves must survive a power cut before any blob in them counts
            fsync_dir(root)
            fsync_dir(root.parent)
        self._counter = itertools.count()

    def _path(self, key: str) -> Path:
        match = _KEY.match(key)
        if match is None:
            raise ValueError("not a blob key")  # keys come from our own rows: a defect, not a miss
        digest = match.group(1)
        return self._root / digest[:2] / digest  # 256 folders: small folders

    def _temporary(self, folder: Path | str) -> str:
        # unique per process, thread and call: no random names, no retries
        return os.path.join(folder, f".tmp-{os.getpid()}-{threading.get_ident()}-{next(self._counter)}")

    def put(self, content: bytes, sha512: str | None = None) -> str:
        """Store ``content``; ``sha512`` is its digest when the caller has just computed it."""
        key = blob_key(content) if sha512 is None else "sha512/" + sha512
        if _KEY.match(key) is None:
            raise ValueError("not a SHA-512 hex digest")
        path = self._path(key)
        if self._present(path):
            return key
        tmp = self._temporary(path.parent)
        try:
            with self._create(tmp) as handle:
                handle.write(content)
                self._sync(handle)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._publish(tmp, path)
        return key

    def put_stream(self, chunks: Iterable[bytes], sha512: str | None = None) -> StoredBlob:
        """Store what ``chunks`` yields, hashing while writing: one chunk in memory at a time.

        ``sha512`` is the digest the content must have: compared before the blob gets its
        name, so content that differs is never stored (``VerificationFailed``). Whatever
        ``chunks`` raises leaves nothing behind either."""
        return self._stream(chunks, sha512)[0]

    def put_provisional(self, chunks: Iterable[bytes]) -> ProvisionalBlob:
        """Like :meth:`put_stream`, for content that may be refused right after (a synchronous
        request's attachments): :meth:`reclaim` deletes it again if this call created the blob
        and nobody has put the same bytes since."""
        stored, stamp = self._stream(chunks)
        return ProvisionalBlob(key=stored.key, sha512=stored.sha512, size=stored.size, stamp=stamp)

    def reclaim(self, blob: ProvisionalBlob) -> bool:
        """Delete a provisional blob of a refused request — only if its ``put_provisional``
        created it and no ``put`` of the same bytes came since (each stamps the file's mtime
        with its own nanosecond time): a blob another message shares is never touched. Under
        the same exclusive lock as the garbage collector's delete, which ``put`` honours."""
        if blob.stamp is None:
            return False
        try:
            handle = os.open(self._path(blob.key), os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            status = os.fstat(handle)
            if status.st_nlink == 0 or (status.st_ino, status.st_mtime_ns) != blob.stamp:
                return False
            os.unlink(self._path(blob.key))
            return True
        finally:
            os.close(handle)  # releases the lock

    def put_named(self, chunks: Iterable[bytes], name: Callable[[], str]) -> ProvisionalBlob:
        """Store encoded bytes under the key ``name()`` returns once ``chunks`` is exhausted: for a
        wrapper that stores content transformed (gateway/store/crypto) and names it by the content
        it was given. ``size`` is the stored size; ``stamp`` as for :meth:`put_provisional`."""
        stored, stamp = self._stream(chunks, name=name)
        return ProvisionalBlob(key=stored.key, sha512=stored.sha512, size=stored.size, stamp=stamp)

    def replace_named(self, key: str, chunks: Iterable[bytes]) -> None:
        """Replace a stored blob's bytes with another encoding of the same content (a key
        rotation re-encrypting it): a reader that has it open keeps reading the old file."""
        path = self._path(key)
        tmp = self._temporary(path.parent)
        try:
            with self._create(tmp) as handle:
                for chunk in chunks:
                    handle.write(chunk)
                self._sync(handle)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._publish(tmp, path)

    def refresh(self, key: str) -> bool:
        """Whether the blob is stored, its age started again as by a put of the same bytes."""
        return self._present(self._path(key))

    def head(self, key: str, size: int) -> bytes:
        """The first ``size`` bytes of a blob (fewer if it is shorter)."""
        try:
            with self._path(key).open("rb") as handle:
                return handle.read(size)
        except FileNotFoundError:
            raise BlobNotFound("blob not found", key=key) from None

    def _stream(self, chunks: Iterable[bytes], sha512: str | None = None, name: Callable[[], str] | None = None
                ) -> tuple[StoredBlob, tuple[int, int] | None]:
        """Write, hash, make durable; the stamp (inode, mtime in ns) of a blob this call created."""
        tmp = self._temporary(self._root)
        digest, size, stamp = hashlib.sha512(), 0, None
        try:
            with self._create(tmp) as handle:
                for chunk in chunks:
                    if name is None:
                        digest.update(chunk)
                    handle.write(chunk)
                    size += len(chunk)
                if sha512 is not None and not hmac.compare_digest(
                        digest.hexdigest().encode(), sha512.lower().encode()):
                    raise VerificationFailed("content does not match its declared SHA-512")
                handle.flush()
                stamp = _stamp(handle.fileno())
                self._sync(handle)
            key = "sha512/" + digest.hexdigest() if name is None else name()
            path = self._path(key)
            if self._present(path):
                Path(tmp).unlink()
                stamp = None
            else:
                self._publish(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return StoredBlob(key=key, sha512=key[7:], size=size), stamp

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound("blob not found", key=key) from None

    def open(self, key: str) -> Iterator[bytes]:
        """The blob in chunks of at most :data:`CHUNK` bytes. A missing blob is reported here,
        not at the first chunk (an HTTP response has not started yet)."""
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise BlobNotFound("blob not found", key=key) from None

        def chunks() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(CHUNK):
                    yield chunk

        return chunks()

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    # -- writing ---------------------------------------------------------------------------
    @staticmethod
    def _create(tmp: str) -> BinaryIO:
        return os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb")

    def _sync(self, handle: BinaryIO) -> None:
        if self._durable:
            handle.flush()
            os.fsync(handle.fileno())

    def _publish(self, tmp: str, path: Path) -> None:
        """Give a complete, synced temporary file its final name and make that name durable."""
        try:
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if self._durable:
            fsync_dir(path.parent)

    def _present(self, path: Path) -> bool:
        """Whether the blob is stored. Its content was fsync'd before its rename, but a writer
        that died between the rename and the folder's fsync may have left the name itself
        undurable: the folder is synced again before the caller relies on it."""
        if not _refresh(path):
            return False
        if self._durable:
            fsync_dir(path.parent)
        return True

    # -- for the garbage collector (gateway/store/blob_gc.py) -------------------------------
    def stored(self) -> Iterator[tuple[str, float]]:
        """Every stored blob's key with its age in seconds (since it was written or last put)."""
        now = time.time()
        for shard in sorted(os.listdir(self._root)):
            folder = os.path.join(self._root, shard)
            if len(shard) != 2 or not os.path.isdir(folder):
                continue
            with os.scandir(folder) as entries:
                for entry in entries:
                    if _KEY.match("sha512/" + entry.name):
                        try:
                            yield "sha512/" + entry.name, now - entry.stat().st_mtime
                        except FileNotFoundError:
                            continue

    def delete_if_older(self, key: str, seconds: float) -> bool:
        """Delete the blob unless it was written or put again within ``seconds``. Under an
        exclusive lock on the file: a concurrent ``put`` of the same bytes either refreshes it
        first (then it is young and stays) or finds it gone and writes it anew."""
        match = _KEY.match(key)
        if match is None:
            raise ValueError("only whole blobs are deleted")
        path = self._path(key)
        try:
            handle = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            status = os.fstat(handle)
            if status.st_nlink == 0 or time.time() - status.st_mtime <= seconds:
                return False
            os.unlink(path)
            return True
        finally:
            os.close(handle)  # releases the lock

    def stale_temporaries(self, seconds: float) -> int:
        """Remove temporary files older than ``seconds`` (left by a writer that died mid-write)."""
        removed, now = 0, time.time()
        for folder in [self._root, *self._root.iterdir()]:
            if not folder.is_dir():
                continue
            for entry in folder.glob(".tmp-*"):
                try:
                    if now - entry.stat().st_mtime > seconds:
                        entry.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed


def _refresh(path: Path) -> bool:
    """True if the blob exists — and then its age starts again, so the garbage collector's
    grace period covers the caller's transaction just like a freshly written blob's. Under a
    shared lock (see ``delete_if_older``); False when absent or deleted meanwhile."""
    try:
        handle = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_SH)
        if os.fstat(handle).st_nlink == 0:  # the collector unlinked it just before
            return False
        _touch(handle)
        return True
    finally:
        os.close(handle)


def _touch(fd: int) -> int:
    """Set the file's mtime to now, in nanoseconds (the kernel's own "now" for a file is only as
    fine as its clock tick: two puts within a tick would look alike to :meth:`reclaim`)."""
    now = time.time_ns()
    os.utime(fd, ns=(now, now))
    return now


def _stamp(fd: int) -> tuple[int, int] | None:
    """Touch a freshly written file and return (inode, mtime ns) — None if the filesystem keeps
    coarser times (then a later put could not be told apart, and the blob is never reclaimed)."""
    now = _touch(fd)
    status = os.fstat(fd)
    return (status.st_ino, now) if status.st_mtime_ns == now else None
