"""MTOM read as a stream: the same parts as the in-memory parser, whatever the chunks, and the
same refusals -- with every part's size capped and memory bounded by the chunk size."""

from __future__ import annotations

import base64
import os
import tracemalloc
from collections.abc import Iterator

import pytest

from adapters.xta import mtom, mtom_stream
from gateway.errors import InvalidPayload

ROOT = b'<?xml version="1.0"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"/>'
BIG = 10**9


def chunked(body: bytes, size: int) -> Iterator[bytes]:
    return (body[i: i + size] for i in range(0, len(body), size))


def streamed(body: bytes, ctype: str, size: int = 1000, **caps: int) -> list[tuple[str | None, str, bool, bytes]]:
    limits = {"max_part_bytes": BIG, "max_root_bytes": BIG, **caps}
    return [(p.content_id, p.media_type, p.root, b"".join(p.body))
            for p in mtom_stream.parts(chunked(body, size), ctype, **limits)]


def _multipart(*parts: bytes, start: str | None = None) -> tuple[bytes, str]:
    body = b"preamble is ignored\r\n" + b"".join(b"--BB  \r\n" + p + b"\r\n" for p in parts) + b"--BB--\r\nepilogue"
    ctype = 'multipart/related; boundary="BB"; type="application/xop+xml"'
    return body, ctype + (f'; start="{start}"' if start else "")


@pytest.mark.parametrize("size", [1, 3, 17, 4096, 10**7])
def test_parts_match_the_in_memory_parser_whatever_the_chunks(size: int) -> None:
    tricky = b"\r\n--not-the-boundary\r\n\r\n--MIME_boundary" + os.urandom(4096) + b"\r\n-"
    body, ctype = mtom.build(ROOT, [mtom.OutPart("a@x", "application/pdf", tricky),
                                    mtom.OutPart("b@x", "application/octet-stream", os.urandom(50_000)),
                                    mtom.OutPart("c@x", "text/plain", b"")])
    expected = mtom.parse(body, ctype)
    found = streamed(body, ctype, size)
    assert found[0][2] and found[0][3] == ROOT and found[0][1] == "application/xop+xml"
    assert [(cid, media, data) for cid, media, root, data in found[1:]] == [
        (cid, p.media_type, p.data.tobytes()) for cid, p in expected.parts.items()]
    assert not any(root for _, _, root, _ in found[1:])


@pytest.mark.parametrize("size", [1, 5, 1000])
def test_start_parameter_base64_parts_and_parts_without_headers(size: int) -> None:
    attachment = b"Content-ID: <att>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(b"hello" * 100)
    root = b"Content-ID: <root>\r\nContent-Type: application/xop+xml\r\n\r\n" + ROOT
    body, ctype = _multipart(attachment, root, b"\r\nno headers here", start="<root>")
    found = streamed(body, ctype, size)
    assert found == [("att", "application/octet-stream", False, b"hello" * 100),
                     ("root", "application/xop+xml", True, ROOT),
                     (None, "application/octet-stream", False, b"no headers here")]


def test_plain_soap_is_one_root_part() -> None:
    assert streamed(ROOT, "application/soap+xml; charset=utf-8", 7) == [(None, "application/soap+xml", True, ROOT)]


@pytest.mark.parametrize(("body", "ctype", "message"), [
    (b"--BB\r\nContent-ID: <r>\r\n\r\n<x/>", 'multipart/related; boundary="BB"', "truncated"),
    (b"no boundary here", 'multipart/related; boundary="BB"', "first boundary"),
    (b"--BB\r\n\r\n<x/>\r\n--BB--", "multipart/related", "boundary"),
    (b"--BB\r\nContent-ID: <r>\r\n\r\n<x/>\r\n--BB--", 'multipart/related; boundary="BB"; start="<s>"', "start"),
    (b"--BB\r\nContent-ID: <r>\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nx\r\n--BB--",
     'multipart/related; boundary="BB"', "transfer encoding"),
    (b"--BB\r\nContent-ID: <r>" + b"x" * 9000 + b"\r\n--BB--", 'multipart/related; boundary="BB"', "separator"),
    (b"--BB\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8\r\n--BB--", 'multipart/related; boundary="BB"',
     "base64"),
    (b"--BB\r\nbroken header line\r\n\r\nx\r\n--BB--", 'multipart/related; boundary="BB"', "header line"),
    (b"--BB--", 'multipart/related; boundary="BB"', "without parts"),
])
def test_broken_multipart_is_refused(body: bytes, ctype: str, message: str) -> None:
    with pytest.raises(InvalidPayload, match=message):
        streamed(body, ctype, 3)


def test_part_count_and_sizes_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    body, ctype = mtom.build(ROOT, [mtom.OutPart("a@x", "text/plain", b"x" * 1001)])
    with pytest.raises(InvalidPayload, match="larger than 1000"):
        streamed(body, ctype, max_part_bytes=1000)
    with pytest.raises(InvalidPayload, match=f"larger than {len(ROOT) - 1}"):
        streamed(body, ctype, max_root_bytes=len(ROOT) - 1)
    monkeypatch.setattr(mtom_stream, "MAX_PARTS", 3)
    body, ctype = mtom.build(ROOT, [mtom.OutPart(f"{i}@x", "text/plain", b"x") for i in range(5)])
    with pytest.raises(InvalidPayload, match="more than 3 parts"):
        streamed(body, ctype)


def test_a_large_part_streams_through_in_chunks() -> None:
    """64 MiB of a part never generated as one bytes object: memory stays at a few chunks."""
    piece = os.urandom(1024 * 1024)
    head, ctype = mtom.build(ROOT, [mtom.OutPart("big@x", "application/pdf", b"PLACEHOLDER")])
    before, after = head.split(b"PLACEHOLDER")

    def body() -> Iterator[bytes]:
        yield before
        for _ in range(64):
            yield piece
        yield after

    tracemalloc.start()
    try:
        sizes = [sum(len(c) for c in part.body) for part in
                 mtom_stream.parts(body(), ctype, max_part_bytes=BIG, max_root_bytes=BIG)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sizes == [len(ROOT), 64 * 1024 * 1024]
    assert peak < 5 * 1024 * 1024, peak
