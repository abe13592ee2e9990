"""The chunked AES-256-GCM format of encrypted blobs: round trips at every boundary, and every
kind of damage — a flipped bit, a cut, a dropped, swapped or appended frame, a foreign header,
the wrong key — fails before any plaintext of the damaged frame is released."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from gateway.errors import SealedDataInvalid
from gateway.store.crypto import stream
from gateway.store.crypto.stream import CHUNK, FRAME, HEADER_BYTES

KEY, KEY_ID = os.urandom(32), str(uuid.uuid4())


def sealed(content: bytes, pieces: int = 7) -> bytes:
    step = max(1, len(content) // pieces)
    parts = [content[i:i + step] for i in range(0, len(content), step)] or [b""]
    return b"".join(stream.encrypt(parts, KEY, KEY_ID))


def opened(data: bytes, piece: int = 10_000, key: bytes = KEY) -> bytes:
    return b"".join(stream.decrypt((data[i:i + piece] for i in range(0, len(data), piece)), lambda _: key))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17])
def test_round_trip_and_sizes_at_every_frame_boundary(size: int) -> None:
    content = os.urandom(size)
    data = sealed(content)
    assert opened(data) == content
    assert opened(data, piece=1 << 20) == content
    assert len(data) == stream.sealed_size(size)
    assert stream.plain_size(len(data)) == size
    assert content[:64] not in data or size < 16


def test_the_header_names_the_data_key() -> None:
    data = sealed(b"Erika Mustermann")
    assert stream.key_id_of(data[:HEADER_BYTES]) == KEY_ID
    assert stream.key_id_of(b"plain text, no header at all, long enough to look like one.....") is None


def three_frames() -> tuple[bytes, bytes, list[bytes]]:
    content = os.urandom(2 * CHUNK + 100)
    data = sealed(content)
    body = data[HEADER_BYTES:]
    return content, data[:HEADER_BYTES], [body[:FRAME], body[FRAME:2 * FRAME], body[2 * FRAME:]]


def test_a_flipped_bit_anywhere_fails() -> None:
    _, head, frames = three_frames()
    data = bytearray(head + b"".join(frames))
    for position in (5, HEADER_BYTES + 3, HEADER_BYTES + FRAME + 9, len(data) - 1):
        damaged = bytearray(data)
        damaged[position] ^= 1
        with pytest.raises(SealedDataInvalid):
            opened(bytes(damaged))


def test_a_cut_after_any_frame_or_within_one_fails() -> None:
    _, head, frames = three_frames()
    for kept in (head, head + frames[0], head + frames[0] + frames[1], head + frames[0][:100]):
        with pytest.raises(SealedDataInvalid):
            opened(kept)


def test_reordered_dropped_or_appended_frames_fail() -> None:
    _, head, frames = three_frames()
    for arrangement in ([frames[1], frames[0], frames[2]], [frames[0], frames[2]],
                        [*frames, frames[2]], [frames[0], frames[1], frames[1], frames[2]]):
        with pytest.raises(SealedDataInvalid):
            opened(head + b"".join(arrangement))


def test_a_header_of_another_blob_fails() -> None:
    _, _, frames = three_frames()
    other = sealed(b"x")[:HEADER_BYTES]
    with pytest.raises(SealedDataInvalid):
        opened(other + b"".join(frames))


def test_the_wrong_key_fails() -> None:
    with pytest.raises(SealedDataInvalid):
        opened(sealed(b"Erika Mustermann"), key=os.urandom(32))


def test_no_plaintext_of_a_damaged_frame_is_released() -> None:
    content, head, frames = three_frames()
    damaged = bytearray(frames[1])
    damaged[10] ^= 1
    released: list[bytes] = []
    chunks: Iterator[bytes] = stream.decrypt(iter([head, frames[0], bytes(damaged), frames[2]]), lambda _: KEY)
    with pytest.raises(SealedDataInvalid):
        for chunk in chunks:
            released.append(chunk)
    assert released == [content[:CHUNK]]  # the first, intact frame only


def test_a_malformed_stored_size_is_refused() -> None:
    with pytest.raises(SealedDataInvalid):
        stream.plain_size(HEADER_BYTES + 3)
    with pytest.raises(SealedDataInvalid):
        stream.plain_size(HEADER_BYTES + FRAME + 16)  # an empty final frame after a full one is never written
