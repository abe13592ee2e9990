"""MTOM/XOP read as a stream: every MIME part handed on while it arrives, bounded memory.

A getMessage response may carry attachments of a gigabyte. :func:`parts` reads the
``multipart/related`` body from an iterator of chunks (the HTTP response) and yields one
:class:`StreamedPart` after the other, each with its headers and a ``body`` iterator of at
most about one chunk at a time -- the caller passes it straight to the blob store's streaming
write, or joins it when it is the small SOAP envelope (the root part). A part's body must be
read before the next part is asked for (what is left of it is skipped then).

The rules are those of :func:`.mtom.parse` (which parses a message held in memory): preamble
ignored, transport padding after a boundary, parts without headers, the ``start`` parameter
naming the root (else the first part), binary/8bit/7bit/base64 transfer encodings, a closing
boundary required, header size and part count capped; here every part's size is capped by
the caller (the root's separately).
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from adapters.xta.errors import shown
from adapters.xta.mtom import (
    MAX_HEADER_BYTES,
    MAX_PARTS,
    base_media_type,
    cid_key,
    content_type,
    param,
    part_headers,
)
from gateway.errors import InvalidPayload

MAX_PREAMBLE_BYTES = 64 * 1024
MAX_PADDING_BYTES = 256
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_NOT_BASE64 = bytes(b for b in range(256) if b not in _BASE64)


@dataclass
class StreamedPart:
    content_id: str | None
    media_type: str
    root: bool
    body: Iterator[bytes]  # the decoded content, read once


class _Reader:
    """The body as it arrives: a small window of unread bytes and the chunks still to come."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.buf = b""
        self.pos = 0

    def fill(self) -> bool:
        """Append the next chunk to the unread bytes; False at the end of the body."""
        for chunk in self._chunks:
            if chunk:
                self.buf = self.buf[self.pos:] + chunk
                self.pos = 0
                return True
        return False

    def has(self, count: int) -> bool:
        while len(self.buf) - self.pos < count:
            if not self.fill():
                return False
        return True

    def startswith(self, prefix: bytes) -> bool:
        return self.has(len(prefix)) and self.buf.startswith(prefix, self.pos)

    def until(self, marker: bytes, limit: int, too_large: str, missing: str) -> Iterator[bytes]:
        """The bytes up to ``marker``, which is consumed; ``too_large`` beyond ``limit`` bytes,
        ``missing`` if the body ends first."""
        size = 0
        while True:
            found = self.buf.find(marker, self.pos)
            end = found if found >= 0 else max(self.pos, len(self.buf) - len(marker) + 1)  # keep a marker's start
            if end > self.pos:
                size += end - self.pos
                if size > limit:
                    raise InvalidPayload(too_large)
                piece = self.buf[self.pos:end]
                self.pos = end
                yield piece
            if found >= 0:
                self.pos = found + len(marker)
                return
            if not self.fill():
                raise InvalidPayload(missing)


def _bounded(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise InvalidPayload(f"MIME part larger than {limit} bytes")
        yield chunk


def _base64(encoded: Iterator[bytes]) -> Iterator[bytes]:
    """Decode base64 as it streams: line breaks and other non-alphabet bytes are skipped (as
    the in-memory parser does), whole groups of four decoded at once."""
    carry = b""
    try:
        for chunk in encoded:
            data = carry + chunk.translate(None, _NOT_BASE64)
            whole = len(data) - len(data) % 4
            carry = data[whole:]
            if whole:
                yield binascii.a2b_base64(data[:whole])
        if carry:
            raise binascii.Error("incomplete base64 group")
    except binascii.Error:
        raise InvalidPayload("MIME part with invalid base64 content") from None


def parts(chunks: Iterable[bytes], header: str, *, max_part_bytes: int, max_root_bytes: int
          ) -> Iterator[StreamedPart]:
    """The parts of a message whose Content-Type is ``header``; a plain (non-multipart) SOAP
    message is one root part."""
    ct = content_type(header)
    if ct.get_content_maintype() != "multipart":
        yield StreamedPart(None, ct.get_content_type(), True, _bounded(iter(chunks), max_root_bytes))
        return
    boundary = param(ct, "boundary")
    if not boundary or len(boundary) > 200:
        raise InvalidPayload("multipart message without a usable boundary")
    start = param(ct, "start")
    delimiter = b"\r\n--" + boundary.encode("ascii", "replace")
    reader = _Reader(iter(chunks))
    reader.buf = b"\r\n"  # a body may begin with its first boundary: as if a line ended before it
    for _ in reader.until(delimiter, MAX_PREAMBLE_BYTES, "multipart message without its first boundary",
                          "multipart message without its first boundary"):
        pass  # the preamble is ignored
    count, root_seen = 0, False
    truncated = "multipart message is truncated (no closing boundary)"
    while not reader.startswith(b"--"):
        for _ in reader.until(b"\r\n", MAX_PADDING_BYTES, truncated, truncated):
            pass  # transport padding after the boundary
        headers = _headers(reader)
        count += 1
        if count > MAX_PARTS:
            raise InvalidPayload(f"multipart message with more than {MAX_PARTS} parts")
        cid = cid_key(headers["content-id"]) if headers.get("content-id") else None
        is_root = cid == cid_key(start) if start else count == 1
        root_seen = root_seen or is_root
        limit = max_root_bytes if is_root else max_part_bytes
        body = reader.until(delimiter, limit, f"MIME part larger than {limit} bytes", truncated)
        encoding = headers.get("content-transfer-encoding", "binary").lower()
        if encoding == "base64":
            body = _base64(body)
        elif encoding not in ("binary", "8bit", "7bit"):
            raise InvalidPayload(f"MIME part with unsupported transfer encoding {shown(encoding, 40)}")
        yield StreamedPart(cid, base_media_type(headers.get("content-type")), is_root, body)
        for _ in body:
            pass  # what the caller left unread
    if not count:
        raise InvalidPayload("multipart message without parts")
    if start and not root_seen:
        raise InvalidPayload("multipart message: the start part is missing")


def _headers(reader: _Reader) -> dict[str, str]:
    if reader.startswith(b"\r\n"):  # a part without headers
        reader.pos += 2
        return {}
    block = b"".join(reader.until(b"\r\n\r\n", MAX_HEADER_BYTES,
                                  "MIME part without a header/body separator or with oversized headers",
                                  "MIME part without a header/body separator or with oversized headers"))
    return part_headers(block)
