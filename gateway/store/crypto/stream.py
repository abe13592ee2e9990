"""The chunked AEAD format of encrypted blobs: bounded memory in both directions.

Layout: a header, then the content in frames of at most :data:`CHUNK` plaintext bytes, each
sealed on its own with AES-256-GCM (ciphertext + 16-byte tag)::

    header = MAGIC (4) | data key id (36, ASCII) | nonce prefix (8, random per blob)
    frame i = AES-GCM(data key, nonce = prefix | i as 4 bytes big-endian,
                      plaintext chunk i, associated data = header | i | final flag)

Every frame but the last holds exactly :data:`CHUNK` bytes; the last holds 1..CHUNK bytes (0
only for empty content) and is sealed with the final flag set. So a reordered frame fails (its
counter is in the nonce), a cut after any frame fails (that frame was not sealed as final), a
frame appended after the final one fails (the final one was not sealed as non-final), and a
header moved to another blob fails (it is authenticated with every frame). A frame's plaintext
is released only after its tag has been checked. The plaintext size follows from the stored
size alone (:func:`plain_size`).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.errors import SealedDataInvalid

MAGIC = b"RGE1"
KEY_ID_BYTES = 36
PREFIX_BYTES = 8
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES + PREFIX_BYTES
CHUNK = 64 * 1024
TAG_BYTES = 16
FRAME = CHUNK + TAG_BYTES
MAX_FRAMES = 2**32


def header(key_id: str, prefix: bytes | None = None) -> bytes:
    encoded = key_id.encode("ascii")
    if len(encoded) != KEY_ID_BYTES:
        raise ValueError("a data key id has 36 characters")
    return MAGIC + encoded + (prefix if prefix is not None else os.urandom(PREFIX_BYTES))


def key_id_of(head: bytes) -> str | None:
    """The data key id of an encrypted blob's first bytes; None if they are not this format."""
    if len(head) < HEADER_BYTES or not head.startswith(MAGIC):
        return None
    return head[len(MAGIC):len(MAGIC) + KEY_ID_BYTES].decode("ascii", "replace")


def _nonce_and_aad(head: bytes, index: int, final: bool) -> tuple[bytes, bytes]:
    if index >= MAX_FRAMES:
        raise ValueError("content too large for one blob")
    counter = struct.pack(">I", index)
    return head[-PREFIX_BYTES:] + counter, head + counter + (b"\x01" if final else b"\x00")


def encrypt(chunks: Iterable[bytes], key: bytes, key_id: str) -> Iterator[bytes]:
    """The header, then one sealed frame per :data:`CHUNK` of what ``chunks`` yields."""
    aead, head = AESGCM(key), header(key_id)
    yield head
    pending, index = bytearray(), 0
    for chunk in chunks:
        pending += chunk
        offset = 0
        while len(pending) - offset > CHUNK:  # strictly more: the last frame is only known at the end
            nonce, aad = _nonce_and_aad(head, index, final=False)
            yield aead.encrypt(nonce, bytes(pending[offset:offset + CHUNK]), aad)
            offset += CHUNK
            index += 1
        del pending[:offset]  # once per incoming chunk, not once per frame
    nonce, aad = _nonce_and_aad(head, index, final=True)
    yield aead.encrypt(nonce, bytes(pending), aad)


def decrypt(stored: Iterable[bytes], key_for: Callable[[str], bytes]) -> Iterator[bytes]:
    """The plaintext of an encrypted blob, frame by frame, each only after its tag checked.
    ``key_for`` gives the data key of the id the header names."""
    frames = _frames(stored)
    head = next(frames)[0]
    key_id = key_id_of(head)
    if key_id is None:
        raise SealedDataInvalid("not an encrypted blob")
    aead = AESGCM(key_for(key_id))
    for index, (frame, final) in enumerate(frames):
        if len(frame) < TAG_BYTES or (not final and len(frame) != FRAME):
            raise SealedDataInvalid("encrypted blob truncated or malformed")
        nonce, aad = _nonce_and_aad(head, index, final)
        try:
            plain = aead.decrypt(nonce, frame, aad)
        except InvalidTag:
            raise SealedDataInvalid("encrypted blob failed its integrity check") from None
        if plain or index == 0:
            yield plain


def _frames(stored: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """The header (its first HEADER_BYTES bytes), then each frame with whether it is the last:
    a frame is only known to be the last once the stored bytes have ended after it."""
    source = iter(stored)
    buffer, offset = bytearray(), 0

    def more() -> bool:
        nonlocal offset
        for chunk in source:
            if chunk:
                del buffer[:offset]  # once per incoming chunk, not once per frame
                offset = 0
                buffer.extend(chunk)
                return True
        return False

    ended = False
    while len(buffer) < HEADER_BYTES and not ended:
        ended = not more()
    yield bytes(buffer[:HEADER_BYTES]), False
    offset = min(HEADER_BYTES, len(buffer))
    while True:
        while len(buffer) - offset <= FRAME and not ended:  # one byte beyond a frame: another follows
            ended = not more()
        final = len(buffer) - offset <= FRAME
        yield bytes(buffer[offset:offset + FRAME]), final
        offset += FRAME
        if final:
            return


def sealed_size(plain: int) -> int:
    frames = max(1, -(-plain // CHUNK))
    return HEADER_BYTES + plain + frames * TAG_BYTES


def plain_size(stored: int) -> int:
    """The plaintext size of an encrypted blob of ``stored`` bytes (the inverse of :func:`sealed_size`)."""
    body = stored - HEADER_BYTES
    if body < TAG_BYTES:
        raise SealedDataInvalid("encrypted blob truncated")
    full, rest = divmod(body, FRAME)
    if rest == 0:
        return full * CHUNK
    if rest < TAG_BYTES or (rest == TAG_BYTES and full > 0):
        raise SealedDataInvalid("encrypted blob malformed")
    return full * CHUNK + rest - TAG_BYTES
