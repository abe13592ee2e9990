"""The sandbox keeps uploaded attachments in files: shape checked while streaming, served from disk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.fitconnect.sandbox.attachments import NotAJwe, TokenFiles, TooLarge

TOKEN = "eyJhbGciOiJSU0EtT0FFUC0yNTYifQ.a2V5.aXY.Y2lwaGVydGV4dA.dGFnLXRhZy10YWc"


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i: i + size]


def receive(files: TokenFiles, data: bytes, size: int = 3, max_bytes: int = 10**6) -> str:
    path = asyncio.run(files.receive(_chunks(data, size), max_bytes))
    files.adopt("a1", path)
    return files["a1"]


@pytest.mark.parametrize("size", [1, 2, 7, 1000])
def test_a_token_streams_in_whatever_the_chunks_and_its_tag_is_read_from_the_end(size: int) -> None:
    files = TokenFiles()
    assert receive(files, b"\r\n " + TOKEN.encode() + b"\n", size) == TOKEN  # whitespace around it dropped
    assert files.tag("a1") == "dGFnLXRhZy10YWc" and "a1" in files and list(files) == ["a1"]
    assert files.path("a1").read_bytes() == TOKEN.encode()


@pytest.mark.parametrize("data", [
    b"a.b.c.d", b"a.b.c.d.e.f", b"a..c.d.", b".b.c.d.e", b"a.b.c d.e", b"a.b.c.d.e+", b"a.b.c.d.\xff", b"",
    b"a.b.c.d.e \n x",
])
def test_anything_but_a_compact_jwe_is_refused_and_nothing_is_kept(data: bytes) -> None:
    files = TokenFiles()
    with pytest.raises(NotAJwe):
        receive(files, data)
    assert len(files) == 0


def test_an_upload_beyond_the_limit_is_refused() -> None:
    files = TokenFiles()
    with pytest.raises(TooLarge):
        receive(files, TOKEN.encode(), max_bytes=len(TOKEN) - 1)
    assert len(files) == 0


def test_tokens_replaced_and_removed_as_strings() -> None:
    files = TokenFiles()
    files["a1"], files["a2"] = TOKEN, TOKEN.replace("dGFn", "eHh4")
    files["a1"], files["a2"] = files["a2"], files["a1"]
    assert files.tag("a1").startswith("eHh4") and files["a2"] == TOKEN
    del files["a1"]
    assert list(files) == ["a2"]
