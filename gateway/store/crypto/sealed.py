"""Sealed column values: text encrypted with AES-256-GCM under a data key, stored as text.

``rg1:<data key id>:<base64(nonce | ciphertext | tag)>``. The associated data names the
column (``purpose``), so a value copied into another column fails; values without the prefix
are plaintext written before encryption was switched on (read as they are, sealed again by
``keys rotate --reseal``).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.errors import SealedDataInvalid

PREFIX = "rg1:"
NONCE_BYTES = 12


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def key_id_of(value: str) -> str | None:
    if not is_sealed(value):
        return None
    key_id, sep, _ = value[len(PREFIX):].partition(":")
    return key_id if sep else None


def _aad(purpose: str, key_id: str) -> bytes:
    return f"{PREFIX}{purpose}:{key_id}".encode()


def seal(plain: str, purpose: str, key: bytes, key_id: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plain.encode(), _aad(purpose, key_id))
    return f"{PREFIX}{key_id}:{base64.b64encode(nonce + sealed).decode('ascii')}"


def open_value(value: str, purpose: str, key_for: Callable[[str], bytes]) -> str:
    key_id = key_id_of(value)
    if key_id is None:
        raise SealedDataInvalid("not a sealed value")
    try:
        raw = base64.b64decode(value[len(PREFIX) + len(key_id) + 1:], validate=True)
    except (binascii.Error, ValueError):
        raise SealedDataInvalid("sealed value malformed") from None
    try:
        plain = AESGCM(key_for(key_id)).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(purpose, key_id))
    except (InvalidTag, ValueError):
        raise SealedDataInvalid("sealed value failed its integrity check") from None
    return plain.decode()
