"""Filesystem blob store: content-addressed by SHA-512, written atomically.

The key is ``sha512/<hex>``; storing the same bytes twice is a no-op, which keeps
every intake step idempotent. A file appears under its final name only complete
(write to a temporary name, then ``os.replace``), so a SIGKILL mid-write leaves at
most a stray temporary file and never a truncated blob.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from gateway.errors import NotFound

_KEY = re.compile(r"^sha512/([0-9a-f]{128})$")
_CHUNK = 1024 * 1024


def blob_key(content: bytes) -> str:
    return "sha512/" + hashlib.sha512(content).hexdigest()


class FilesystemBlobStore:
    def __init__(self, root: Path, fsync: bool = False) -> None:
        self._root = root
        self._fsync = fsync
        root.mkdir(parents=True, exist_ok=True)
        self._made: set[str] = set()
        self._counter = itertools.count()

    def _path(self, key: str) -> Path:
        match = _KEY.match(key)
        if not match:
            raise NotFound("unknown blob key")
        digest = match.group(1)
        return self._root / digest[:2] / digest  # 256 folders: few mkdir calls, small folders

    def put(self, content: bytes, sha512: str | None = None) -> str:
        key = blob_key(content) if sha512 is None else "sha512/" + sha512
        if _KEY.match(key) is None:
            raise ValueError("not a SHA-512 hex digest")
        digest = key[7:]
        folder = os.path.join(self._root, digest[:2])
        path = os.path.join(folder, digest)
        if os.path.exists(path):
            return key
        if digest[:2] not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(digest[:2])
        # unique per process, thread and call: no random names, no retries
        tmp = os.path.join(folder, f".tmp-{os.getpid()}-{threading.get_ident()}-{next(self._counter)}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                if self._fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound("blob not found") from None

    def open(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        if not path.exists():
            raise NotFound("blob not found")

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    yield chunk

        return chunks()

    def exists(self, key: str) -> bool:
        return self._path(key).exists()
