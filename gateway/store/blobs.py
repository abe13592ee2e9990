"""Filesystem blob store: content-addressed by SHA-512, written atomically.

The key is ``sha512/<hex>``; storing the same bytes twice is a no-op, which keeps
every intake step idempotent. ``sha512/<hex>@<start>+<length>`` names a byte range of
such a blob (an attachment carried verbatim inside a stored original): read like any
blob, never written. A file appears under its final name only complete
(write to a temporary name, then ``os.replace``), so a SIGKILL mid-write leaves at
most a stray temporary file and never a truncated blob.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from gateway.errors import NotFound
from gateway.store.file_writer import FileWriter

_KEY = re.compile(r"^sha512/([0-9a-f]{128})$")
_PART_KEY = re.compile(r"^sha512/([0-9a-f]{128})@([0-9]{1,15})\+([0-9]{1,15})$")
_CHUNK = 1024 * 1024


def blob_key(content: bytes) -> str:
    return "sha512/" + hashlib.sha512(content).hexdigest()


class FilesystemBlobStore:
    def __init__(self, root: Path, fsync: bool = False, direct_io: bool = True) -> None:
        self._root = root
        self._writer = FileWriter(fsync=fsync, direct=direct_io)
        root.mkdir(parents=True, exist_ok=True)
        # all 256 shard folders once, when the store opens: a put then never creates a folder
        # (an mkdir costs as much as writing a small blob) and never races another writer's mkdir
        for shard in range(256):
            os.makedirs(os.path.join(root, f"{shard:02x}"), exist_ok=True)
        self._counter = itertools.count()

    def _path(self, key: str) -> Path:
        return self._located(key)[0]

    def _located(self, key: str) -> tuple[Path, int, int | None]:
        """The file, the offset and the length (None: to its end) a key names."""
        match = _KEY.match(key)
        if match:
            start, length = 0, None
        else:
            match = _PART_KEY.match(key)
            if not match:
                raise NotFound("unknown blob key")
            start, length = int(match.group(2)), int(match.group(3))
        digest = match.group(1)
        return self._root / digest[:2] / digest, start, length  # 256 folders: small folders

    def part(self, key: str, start: int, length: int) -> str:
        if _KEY.match(key) is None:
            raise ValueError("a part is taken of a whole blob")
        if start < 0 or length < 0:
            raise ValueError("a part needs a non-negative start and length")
        size = _size(self._path(key))
        if size is None:
            raise NotFound("blob not found")
        if size < start + length:
            raise ValueError("the part reaches beyond the end of the blob")
        return f"{key}@{start}+{length}"

    def put(self, content: bytes, sha512: str | None = None) -> str:
        key = blob_key(content) if sha512 is None else "sha512/" + sha512
        if _KEY.match(key) is None:
            raise ValueError("not a SHA-512 hex digest")
        digest = key[7:]
        folder = os.path.join(self._root, digest[:2])
        path = os.path.join(folder, digest)
        if _refresh(path):
            return key
        # unique per process, thread and call: no random names, no retries
        tmp = os.path.join(folder, f".tmp-{os.getpid()}-{threading.get_ident()}-{next(self._counter)}")
        try:
            self._writer.write_new(tmp, content)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        path, start, length = self._located(key)
        try:
            if length is None:
                return path.read_bytes()
            with path.open("rb") as handle:
                # a key naming more than the file holds is refused before anything is allocated
                if os.fstat(handle.fileno()).st_size < start + length:
                    raise NotFound("blob shorter than the part its key names")
                handle.seek(start)
                return handle.read(length)
        except FileNotFoundError:
            raise NotFound("blob not found") from None

    def open(self, key: str) -> Iterator[bytes]:
        path, start, length = self._located(key)
        if not self._complete(path, start, length):
            raise NotFound("blob not found")

        def chunks() -> Iterator[bytes]:
            left = length
            with path.open("rb") as handle:
                handle.seek(start)
                while left is None or left > 0:
                    chunk = handle.read(_CHUNK if left is None else min(_CHUNK, left))
                    if not chunk:
                        break
                    if left is not None:
                        left -= len(chunk)
                    yield chunk

        return chunks()

    def exists(self, key: str) -> bool:
        return self._complete(*self._located(key))

    @staticmethod
    def _complete(path: Path, start: int, length: int | None) -> bool:
        size = _size(path)
        return size is not None and (length is None or size >= start + length)


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
        for folder in self._root.iterdir():
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


def _refresh(path: str) -> bool:
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
        os.utime(handle)
        return True
    finally:
        os.close(handle)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None
