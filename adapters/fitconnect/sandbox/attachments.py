"""The uploaded attachments of one sandbox submission: compact JWEs kept in files, not in memory.

An attachment may be larger than a gigabyte (issue 10: one JWE of 1 GiB plaintext is about
1.4 GB), so the sandbox streams each upload into a file of its own -- checking on the way that
it has the shape of a compact JWE -- and serves it from there. Tests that play the attacker
still read and replace tokens as strings (``attachments[aid]``, ``attachments[aid] = token``);
those are small. The files live in a temporary folder per submission, removed with it or at
the end of the process.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterable, Iterator, MutableMapping
from pathlib import Path

B64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
WHITESPACE = b" \t\r\n"
TAIL_BYTES = 4096  # the tag is the last segment: 22 characters for AES-GCM, a few more tolerated


class NotAJwe(Exception):
    """The upload is not a compact JWE (five base64url segments, the second may be empty)."""


class TooLarge(Exception):
    """The upload exceeds the sandbox's attachment limit."""


class _Shape:
    """Checks a compact JWE's shape chunk by chunk; whitespace only around the token."""

    def __init__(self) -> None:
        self.lengths = [0]  # characters per segment so far
        self.started = False
        self.held = b""  # whitespace that is only allowed if nothing follows it

    def feed(self, chunk: bytes) -> bytes:
        """The part of ``chunk`` that belongs to the token."""
        if not self.started:
            chunk = chunk.lstrip(WHITESPACE)
            self.started = bool(chunk)
        if not chunk:
            return b""
        body = chunk.rstrip(WHITESPACE)
        if body and self.held:
            raise NotAJwe("whitespace inside the token")
        self.held += chunk[len(body):]
        if body.translate(None, B64URL + b"."):
            raise NotAJwe("not base64url")
        if b"." in body:
            first, *rest = body.split(b".")
            self.lengths[-1] += len(first)
            self.lengths.extend(len(segment) for segment in rest)
        else:  # the ciphertext: no copies of it
            self.lengths[-1] += len(body)
        if len(self.lengths) > 5:
            raise NotAJwe("more than five segments")
        return body

    def finish(self) -> None:
        lengths = self.lengths
        if len(lengths) != 5 or not all(lengths[i] for i in (0, 2, 3, 4)):
            raise NotAJwe("not five segments")


class TokenFiles(MutableMapping[str, str]):
    """Attachment id -> compact JWE, each in a file of its own."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="fitconnect-sandbox-")
        self._paths: dict[str, Path] = {}
        self._counter = 0

    def _new_path(self) -> Path:
        self._counter += 1
        return Path(self._folder.name) / f"{self._counter}.jwe"

    async def receive(self, chunks: AsyncIterable[bytes], max_bytes: int) -> Path:
        """Write an upload to a file of its own as it streams in, checking its shape; refused
        (nothing kept) if it is no compact JWE or too large. :meth:`adopt` files it under its id."""
        path, shape, size = self._new_path(), _Shape(), 0
        try:
            with path.open("wb") as handle:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"more than {max_bytes} bytes")
                    handle.write(shape.feed(chunk))
            shape.finish()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def adopt(self, attachment_id: str, path: Path) -> None:
        self._put(attachment_id, path)

    def path(self, attachment_id: str) -> Path:
        return self._paths[attachment_id]

    def tag(self, attachment_id: str) -> str:
        """The token's last segment (its authentication tag), read from the end of its file."""
        path = self._paths[attachment_id]
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - TAIL_BYTES))
            return handle.read().rsplit(b".", 1)[-1].decode("ascii")

    def _put(self, attachment_id: str, path: Path) -> None:
        old = self._paths.get(attachment_id)
        self._paths[attachment_id] = path
        if old is not None and old != path:
            old.unlink(missing_ok=True)

    # -- the mapping, for small tokens (tests that tamper with what is stored) ------------------
    def __getitem__(self, attachment_id: str) -> str:
        return self._paths[attachment_id].read_text("ascii")

    def __setitem__(self, attachment_id: str, token: str) -> None:
        path = self._new_path()
        path.write_text(token, "ascii")
        self._put(attachment_id, path)

    def __delitem__(self, attachment_id: str) -> None:
        os.unlink(self._paths.pop(attachment_id))

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._paths))

    def __len__(self) -> int:
        return len(self._paths)

    def __contains__(self, attachment_id: object) -> bool:
        return attachment_id in self._paths
