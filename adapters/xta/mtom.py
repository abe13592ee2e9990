"""MTOM/XOP: SOAP messages as ``multipart/related`` with binary parts.

:func:`parse` reads a message held in memory (small answers, stored rows of old) and keeps
every part as a ``memoryview`` into the received bytes: a 10 MB attachment is never copied
while the envelope is read, and only the consumer decides whether it needs its own ``bytes``.
Large messages are read as a stream instead (:mod:`.mtom_stream`); :func:`build_stream` writes
one, parts from files included. Headers are parsed with the standard ``email`` package; sizes and
counts are capped so a hostile message cannot make us allocate without bound.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import unquote

from adapters.xta.errors import shown
from gateway.errors import InvalidPayload

MAX_PARTS = 1000
MAX_HEADER_BYTES = 8 * 1024
MAX_PART_BYTES = 256 * 1024 * 1024
FILE_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Part:
    content_id: str | None
    media_type: str
    data: memoryview


@dataclass(frozen=True)
class Multipart:
    root: Part
    parts: dict[str, Part]


@dataclass(frozen=True)
class OutPart:
    content_id: str
    media_type: str
    data: bytes | memoryview | Path  # a file is streamed from disk (build_stream)


def content_type(header: str) -> Message:
    """Parsed Content-Type (``get_content_type()``, ``get_param(name)``)."""
    msg = Message()
    msg["content-type"] = header
    return msg


def cid_key(value: str) -> str:
    """Normalise a Content-ID header (``<a@b>``) or an XOP href (``cid:a%40b``) to one key."""
    value = value.strip()
    if value.lower().startswith("cid:"):
        value = unquote(value[4:])
    return value.removeprefix("<").removesuffix(">")


def param(ct: Message, name: str) -> str | None:
    value = ct.get_param(name)
    return value if isinstance(value, str) else None


def part_headers(block: bytes) -> dict[str, str]:
    """MIME part headers, names lower-cased. A small parser of our own: the ``email`` parser
    costs more than the rest of an intake for the three parts of a typical message."""
    headers: dict[str, str] = {}
    name = None
    for line in block.decode("latin-1").split("\r\n"):
        if line[:1] in (" ", "\t") and name:  # folded continuation line
            headers[name] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise InvalidPayload("MIME part with a malformed header line")
        name = name.strip().lower()
        headers[name] = value.strip()
    return headers


def base_media_type(value: str | None) -> str:
    return (value or "application/octet-stream").split(";", 1)[0].strip().lower()


def _part(view: memoryview, start: int, end: int) -> Part:
    raw = view[start:end]
    head = raw[: MAX_HEADER_BYTES + 4].tobytes()
    if head.startswith(b"\r\n"):
        header_end, headers = -2, {}  # a part without headers
    else:
        header_end = head.find(b"\r\n\r\n")
        if header_end < 0:
            raise InvalidPayload("MIME part without a header/body separator or with oversized headers")
        headers = part_headers(head[:header_end])
    data = raw[header_end + 4:]
    if len(data) > MAX_PART_BYTES:
        raise InvalidPayload(f"MIME part larger than {MAX_PART_BYTES} bytes")
    encoding = headers.get("content-transfer-encoding", "binary").lower()
    if encoding == "base64":
        try:
            data = memoryview(base64.b64decode(data.tobytes()))
        except binascii.Error:
            raise InvalidPayload("MIME part with invalid base64 content") from None
    elif encoding not in ("binary", "8bit", "7bit"):
        raise InvalidPayload(f"MIME part with unsupported transfer encoding {shown(encoding, 40)}")
    cid = headers.get("content-id")
    return Part(cid_key(cid) if cid else None, base_media_type(headers.get("content-type")), data)


def parse(body: bytes, header: str) -> Multipart:
    """Split a SOAP message into its root part and the binary parts by Content-ID.

    A plain (non-multipart) SOAP message comes back as a root part without other parts.
    """
    ct = content_type(header)
    view = memoryview(body)
    if ct.get_content_maintype() != "multipart":
        return Multipart(Part(None, ct.get_content_type(), view), {})
    boundary = param(ct, "boundary")
    if not boundary or len(boundary) > 200:
        raise InvalidPayload("multipart message without a usable boundary")
    delim = b"--" + boundary.encode("ascii", "replace")
    if body.startswith(delim):
        pos = 0
    else:
        pos = body.find(b"\r\n" + delim) + 2  # anything before the first boundary is preamble
        if pos < 2:
            raise InvalidPayload("multipart message without its first boundary")
    parts: list[Part] = []
    while True:
        pos += len(delim)
        if body.startswith(b"--", pos):
            break
        line_end = body.find(b"\r\n", pos, pos + 256)  # transport padding after the boundary
        nxt = body.find(b"\r\n" + delim, line_end)
        if line_end < 0 or nxt < 0:
            raise InvalidPayload("multipart message is truncated (no closing boundary)")
        parts.append(_part(view, line_end + 2, nxt))
        if len(parts) > MAX_PARTS:
            raise InvalidPayload(f"multipart message with more than {MAX_PARTS} parts")
        pos = nxt + 2
    if not parts:
        raise InvalidPayload("multipart message without parts")
    start = param(ct, "start")
    root = next((p for p in parts if start and p.content_id == cid_key(start)), parts[0])
    if start and root.content_id != cid_key(start):
        raise InvalidPayload("multipart message: the start part is missing")
    others = {p.content_id: p for p in parts if p is not root and p.content_id}
    return Multipart(root, others)


class BoundaryInContent(Exception):
    """The random boundary occurs inside some content (astronomically unlikely)."""


def build(root: bytes, parts: Sequence[OutPart], *, action: str | None = None) -> tuple[bytes, str]:
    """An MTOM message held in memory: returns the body and its Content-Type header."""
    while True:
        chunks, header = build_stream(root, parts, action=action)
        try:
            return b"".join(chunks), header
        except BoundaryInContent:
            continue  # the message would split wrongly: build it again with a new boundary


def build_stream(root: bytes, parts: Sequence[OutPart], *, action: str | None = None
                 ) -> tuple[Iterator[bytes | memoryview], str]:
    """An MTOM message as it is sent: its chunks (a part given as a file is read in chunks of
    :data:`FILE_CHUNK`) and its Content-Type header. Every chunk is searched for the boundary;
    should it occur, :class:`BoundaryInContent` ends the stream (a receiver then sees a
    message without its closing boundary and refuses it)."""
    boundary = "MIME_boundary_" + uuid.uuid4().hex
    marker = boundary.encode()
    in_chunk = re.compile(re.escape(marker))  # searches memoryviews without copying them
    root_cid = f"root.{uuid.uuid4().hex}@rathaus-gateway"
    header = (f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
              f'start="<{root_cid}>"; start-info="application/soap+xml"')
    if action:
        header += f'; action="{action}"'

    def contents(data: bytes | memoryview | Path) -> Iterator[bytes | memoryview]:
        if not isinstance(data, Path):
            yield data
            return
        with data.open("rb") as handle:
            while chunk := handle.read(FILE_CHUNK):
                yield chunk

    def checked(data: bytes | memoryview | Path) -> Iterator[bytes | memoryview]:
        tail = b""  # the end of the previous chunk: the boundary may straddle two
        for chunk in contents(data):
            if in_chunk.search(chunk) or marker in tail + bytes(chunk[: len(marker)]):
                raise BoundaryInContent
            tail = bytes(chunk[-len(marker):])
            yield chunk

    def body() -> Iterator[bytes | memoryview]:
        yield (b"--" + marker + b'\r\nContent-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"'
               b"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <" + root_cid.encode() + b">\r\n\r\n")
        yield from checked(root)
        for part in parts:
            yield (b"\r\n--" + marker + b"\r\nContent-Type: " + part.media_type.encode("ascii") +
                   b"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <" + part.content_id.encode("ascii") +
                   b">\r\n\r\n")
            yield from checked(part.data)
        yield b"\r\n--" + marker + b"--\r\n"

    return body(), header


def new_content_id() -> str:
    return f"{uuid.uuid4().hex}@rathaus-gateway"
