"""Content of the large-content benchmark, generated while it is sent (never committed), and
the floor it is measured against.

The content is an AES-256-CTR keystream: incompressible like a scanned plan, reproducible,
and produced faster than anything downstream consumes it. A FIT-Connect attachment is sealed
as a compact JWE (RSA-OAEP-256 + A256GCM, as ``adapters.fitconnect.jose.encrypt`` does it) on
the way out, so neither the plaintext nor the token is ever held whole.

The floor is the least work any gateway must do for the same bytes: for a FIT-Connect JWE one
pass of base64url decoding, AES-256-GCM decryption and SHA-512 over the token as stored, plus
one fsync'd write of the plaintext; for an XTA MTOM part (binary, not encrypted) one SHA-512
pass and one fsync'd write.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CHUNK = 768 * 1024  # a multiple of 3: the base64url of whole chunks needs no padding
READ_CHUNK = 1024 * 1024  # a multiple of 4: whole base64 groups
_OAEP_256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def pseudo_random(size: int, seed: str) -> Iterator[bytes]:
    """``size`` bytes of AES-256-CTR keystream in chunks of :data:`CHUNK`."""
    stream = Cipher(algorithms.AES(hashlib.sha256(seed.encode()).digest()), modes.CTR(bytes(16))).encryptor()
    zeros = bytes(CHUNK)
    while size > 0:
        n = min(CHUNK, size)
        yield stream.update(zeros[:n])
        size -= n


@dataclass
class SealedJwe:
    """A compact JWE as it streams out; what the floor needs to read it again."""

    public_key: rsa.RSAPublicKey
    kid: str
    media_type: str
    cek: bytes = field(default_factory=lambda: os.urandom(32))
    iv: bytes = field(default_factory=lambda: os.urandom(12))
    prefix_bytes: int = 0  # header, encrypted key and IV segments with their dots
    ciphertext_chars: int = 0
    tag: bytes = b""
    aad: bytes = b""

    def chunks(self, plain: Iterable[bytes]) -> Iterator[bytes]:
        header = b64url(json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": self.kid,
                                    "cty": self.media_type}).encode())
        self.aad = header
        encryptor = Cipher(algorithms.AES(self.cek), modes.GCM(self.iv)).encryptor()
        encryptor.authenticate_additional_data(header)
        prefix = header + b"." + b64url(self.public_key.encrypt(self.cek, _OAEP_256)) + b"." + b64url(self.iv) + b"."
        self.prefix_bytes = len(prefix)
        yield prefix
        carry = b""
        for chunk in plain:
            data = carry + encryptor.update(chunk) if carry else encryptor.update(chunk)
            whole = len(data) - len(data) % 3
            carry = data[whole:]
            encoded = b64url(data[:whole])
            self.ciphertext_chars += len(encoded)
            yield encoded
        last = b64url(carry + encryptor.finalize())
        self.ciphertext_chars += len(last)
        self.tag = encryptor.tag
        yield last + b"." + b64url(self.tag)


def floor_jwe(tokens: list[tuple[Path, SealedJwe]], out: Path) -> float:
    """Seconds for one pass of base64url decoding, AES-256-GCM and SHA-512 over the stored
    tokens (fragments in order), the plaintext written to ``out`` and fsync'd."""
    started = time.perf_counter()
    digest = hashlib.sha512()
    with out.open("wb") as sink:
        for path, sealed in tokens:
            decryptor = Cipher(algorithms.AES(sealed.cek), modes.GCM(sealed.iv)).decryptor()
            decryptor.authenticate_additional_data(sealed.aad)
            with path.open("rb") as source:
                source.seek(sealed.prefix_bytes)
                left = sealed.ciphertext_chars
                while left > 0:
                    data = source.read(min(READ_CHUNK, left))
                    left -= len(data)
                    padded = data.translate(_TO_STANDARD) + b"=" * (-len(data) % 4)
                    plain = decryptor.update(binascii.a2b_base64(padded, strict_mode=True))
                    digest.update(plain)
                    sink.write(plain)
            decryptor.finalize_with_tag(sealed.tag)
        sink.flush()
        os.fsync(sink.fileno())
    digest.hexdigest()
    return time.perf_counter() - started


def floor_binary(source_path: Path, out: Path) -> float:
    """Seconds for one SHA-512 pass over a file and one fsync'd write of it."""
    started = time.perf_counter()
    digest = hashlib.sha512()
    with source_path.open("rb") as source, out.open("wb") as sink:
        while data := source.read(READ_CHUNK):
            digest.update(data)
            sink.write(data)
        sink.flush()
        os.fsync(sink.fileno())
    digest.hexdigest()
    return time.perf_counter() - started


def write_file(path: Path, chunks: Iterable[bytes]) -> str:
    """Write ``chunks`` to ``path``; their SHA-512."""
    digest = hashlib.sha512()
    with path.open("wb") as sink:
        for chunk in chunks:
            digest.update(chunk)
            sink.write(chunk)
    return digest.hexdigest()
