"""MTOM multipart: round trips, zero-copy parts, and refusal of broken or oversized messages."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import pytest

from adapters.xta import mtom
from gateway.errors import InvalidPayload

ROOT = b'<?xml version="1.0"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"/>'


def test_round_trip_keeps_binary_content_exact() -> None:
    tricky = b"\r\n--not-the-boundary\r\n\r\n" + os.urandom(4096) + b"\r\n"
    big = os.urandom(5 * 1024 * 1024)
    body, ctype = mtom.build(ROOT, [mtom.OutPart("a@x", "application/pdf", tricky),
                                    mtom.OutPart("b@x", "application/octet-stream", big)], action="urn:act")
    parsed = mtom.parse(body, ctype)
    assert parsed.root.data.tobytes() == ROOT
    assert parsed.parts["a@x"].data.tobytes() == tricky
    assert parsed.parts["a@x"].media_type == "application/pdf"
    assert parsed.parts["b@x"].data.tobytes() == big
    assert 'action="urn:act"' in ctype and 'type="application/xop+xml"' in ctype


def test_parts_are_views_into_the_received_bytes_not_copies() -> None:
    body, ctype = mtom.build(ROOT, [mtom.OutPart("a@x", "application/pdf", b"x" * 100_000)])
    part = mtom.parse(body, ctype).parts["a@x"]
    assert part.data.obj is body


def test_a_binary_part_and_a_base64_part_give_their_exact_content() -> None:
    content = b"\r\n--BB look-alike\r\n" + os.urandom(50_000)
    body, ctype = mtom.build(ROOT, [mtom.OutPart("a@x", "application/pdf", content)])
    assert mtom.parse(body, ctype).parts["a@x"].data.tobytes() == content
    attachment = b"Content-ID: <att>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"hello")
    root = b"Content-ID: <root>\r\nContent-Type: application/xop+xml\r\n\r\n" + ROOT
    body, ctype = _multipart(attachment, root, start="<root>")
    assert mtom.parse(body, ctype).parts["att"].data.tobytes() == b"hello"


def test_plain_soap_is_a_root_without_parts() -> None:
    parsed = mtom.parse(ROOT, "application/soap+xml; charset=utf-8")
    assert parsed.root.data.tobytes() == ROOT and parsed.parts == {}


def test_content_id_and_xop_href_normalise_to_the_same_key() -> None:
    assert mtom.cid_key("<a@b.de>") == mtom.cid_key("cid:a%40b.de") == "a@b.de"


def _multipart(*parts: bytes, boundary: str = "BB", start: str | None = None) -> tuple[bytes, str]:
    body = b"preamble is ignored\r\n" + b"".join(b"--BB\r\n" + p + b"\r\n" for p in parts) + b"--BB--\r\n"
    ctype = f'multipart/related; boundary="{boundary}"; type="application/xop+xml"'
    return body, ctype + (f'; start="{start}"' if start else "")


def test_start_parameter_selects_the_root_and_base64_parts_are_decoded() -> None:
    attachment = b"Content-ID: <att>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"hello")
    root = b"Content-ID: <root>\r\nContent-Type: application/xop+xml\r\n\r\n" + ROOT
    body, ctype = _multipart(attachment, root, start="<root>")
    parsed = mtom.parse(body, ctype)
    assert parsed.root.data.tobytes() == ROOT
    assert parsed.parts["att"].data.tobytes() == b"hello"


@pytest.mark.parametrize(("body", "ctype", "message"), [
    (b"--BB\r\nContent-ID: <r>\r\n\r\n<x/>", 'multipart/related; boundary="BB"', "truncated"),
    (b"no boundary here", 'multipart/related; boundary="BB"', "first boundary"),
    (b"--BB\r\n\r\n<x/>\r\n--BB--", "multipart/related", "boundary"),
    (b"--BB\r\nContent-ID: <r>\r\n\r\n<x/>\r\n--BB--", 'multipart/related; boundary="BB"; start="<s>"', "start"),
    (b"--BB\r\nContent-ID: <r>\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nx\r\n--BB--",
     'multipart/related; boundary="BB"', "transfer encoding"),
    (b"--BB\r\nContent-ID: <r>" + b"x" * 9000 + b"\r\n--BB--", 'multipart/related; boundary="BB"', "separator"),
])
def test_broken_multipart_is_refused(body: bytes, ctype: str, message: str) -> None:
    with pytest.raises(InvalidPayload, match=message):
        mtom.parse(body, ctype)


def test_part_count_and_part_size_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mtom, "MAX_PARTS", 3)
    body, ctype = mtom.build(ROOT, [mtom.OutPart(f"{i}@x", "text/plain", b"x") for i in range(5)])
    with pytest.raises(InvalidPayload, match="more than 3 parts"):
        mtom.parse(body, ctype)
    monkeypatch.setattr(mtom, "MAX_PART_BYTES", 1000)
    body, ctype = mtom.build(ROOT, [mtom.OutPart("a@x", "text/plain", b"x" * 1001)])
    with pytest.raises(InvalidPayload, match="larger than 1000"):
        mtom.parse(body, ctype)


def test_a_boundary_found_in_the_content_is_replaced_and_a_stream_ends_instead(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ids = iter([uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3), uuid.UUID(int=4)])
    monkeypatch.setattr(mtom.uuid, "uuid4", lambda: next(ids))
    clash = b"x" * 10 + b"MIME_boundary_" + uuid.UUID(int=1).hex.encode() + b"y"
    body, ctype = mtom.build(ROOT, [mtom.OutPart("a@x", "application/pdf", clash)])
    assert uuid.UUID(int=3).hex in ctype  # built again with a new boundary
    assert mtom.parse(body, ctype).parts["a@x"].data.tobytes() == clash
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(mtom.FILE_CHUNK - 5) + b"MIME_boundary_")  # straddles two chunks ...
    with big.open("ab") as handle:
        handle.write(uuid.UUID(int=999).hex.encode() + os.urandom(100))
    monkeypatch.setattr(mtom.uuid, "uuid4", lambda: uuid.UUID(int=999))
    chunks, _ = mtom.build_stream(ROOT, [mtom.OutPart("b@x", "application/pdf", big)])
    with pytest.raises(mtom.BoundaryInContent):
        b"".join(chunks)
