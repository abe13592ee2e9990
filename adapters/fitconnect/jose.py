"""JOSE for FIT-Connect: JWE (RSA-OAEP-256 + A256GCM) and SET/JWS (PS512).

joserfc does keys, JWS (SETs) and JWE encryption; JWE *decryption*, the intake hot path,
is done here on ``cryptography`` primitives (see :func:`decrypt` for why).

Allow-lists are enforced twice on purpose: the registry below only *knows* the three
algorithms FIT-Connect uses (so nothing else can be negotiated, whatever joserfc adds in
later versions), and the header is checked before any key is touched. Sizes are capped
before parsing; ``zip: DEF`` is inflated with a hard cap (a zip bomb stops at the cap).
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Callable
from typing import Any

import orjson
import pybase64
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

ALG_KEY_WRAP = "RSA-OAEP-256"
ENC_CONTENT = "A256GCM"
ZIP_DEFLATE = "DEF"
ALG_SIGNATURE = "PS512"
SET_TYPE = "secevent+jwt"
MAX_HEADER_B64 = 2048
MAX_SET_LENGTH = 64 * 1024


class JoseFailure(Exception):
    """Decryption or signature check failed; the message names no content."""


_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class FitConnectJWERegistry(jwe.JWERegistry):
    """A JWE registry that knows only RSA-OAEP-256, A256GCM and DEF (joserfc encrypts with it);
    it also carries the caps our own :func:`decrypt` applies (``zip_cap``, ``max_ciphertext_length``)."""

    def __init__(self, max_token_length: int, max_inflated: int) -> None:
        super().__init__(algorithms=[ALG_KEY_WRAP, ENC_CONTENT, ZIP_DEFLATE])
        known = jwe.JWERegistry.algorithms
        self.algorithms = {
            "alg": {ALG_KEY_WRAP: known["alg"][ALG_KEY_WRAP]},
            "enc": {ENC_CONTENT: known["enc"][ENC_CONTENT]},
            "zip": {ZIP_DEFLATE: known["zip"][ZIP_DEFLATE]},  # only for encrypting: decrypt() inflates itself
        }
        self.zip_cap = max_inflated
        self.max_ciphertext_length = max_token_length
        self.max_aad_length = MAX_HEADER_B64
        self.max_protected_header_length = MAX_HEADER_B64


def _segment_json(segment: str) -> dict[str, Any]:
    if len(segment) > MAX_HEADER_B64:
        raise JoseFailure("header too large")
    try:
        value = orjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        raise JoseFailure("header is not base64url JSON") from None
    if not isinstance(value, dict):
        raise JoseFailure("header is not a JSON object")
    return value


def jwe_header(token: str | bytes) -> dict[str, Any]:
    if isinstance(token, bytes):
        return _segment_json(token[: token.find(b".")].decode("ascii", "replace"))
    return _segment_json(token[: token.find(".")])


def authentication_tag(token: str | bytes) -> str:
    """FIT-Connect's authentication tag of a compact JWE: its last segment (sliced, no copy of the rest)."""
    tag = token[(token.rfind(b".") if isinstance(token, bytes) else token.rfind(".")) + 1:]
    return tag.decode("ascii", "replace") if isinstance(tag, bytes) else tag


def _b64url(raw: bytes, start: int, end: int) -> bytes:
    """Decode ``raw[start:end]`` as strict base64url (no padding, no ``+ / =``) from a memoryview.

    SIMD pybase64 needs ~0.04 ms for a 270 KB attachment, the stdlib ~1.1 ms (the intake
    benchmark's whole remaining budget); the unpadded tail (at most 3 characters) apart.
    """
    if raw.find(b"+", start, end) >= 0 or raw.find(b"/", start, end) >= 0 or raw.find(b"=", start, end) >= 0:
        raise JoseFailure("not base64url")
    view = memoryview(raw)[start:end]
    bulk = len(view) - len(view) % 4
    try:
        head = pybase64.b64decode(view[:bulk], altchars=b"-_", validate=True)
        if bulk == len(view):
            return head
        tail = bytes(view[bulk:]) + b"=" * (-len(view) % 4)
        return head + pybase64.b64decode(tail, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise JoseFailure("not base64url") from None


def decrypt(token: str | bytes, key_for_kid: Callable[[object], RSAKey | None],
            registry: FitConnectJWERegistry) -> bytes:
    """Decrypt a compact JWE: RSA-OAEP-256 key wrap, A256GCM, optional capped DEF.

    Implemented on ``cryptography`` primitives instead of joserfc's generic compact parser,
    which copies and stdlib-decodes every segment (the largest non-RSA cost of an intake).
    The allow-list is absolute: any other alg/enc/zip, or a ``crit`` header, is refused.
    """
    raw = token.encode("ascii") if isinstance(token, str) else token
    # header + wrapped key (683 chars for RSA-4096) + iv + tag around the capped ciphertext
    if len(raw) > registry.max_ciphertext_length + MAX_HEADER_B64 + 1024:
        raise JoseFailure("token exceeds the size limit")
    # Locate the four dots instead of split(): the ciphertext is decoded from a view, not a copy.
    d1 = raw.find(b".", 0, MAX_HEADER_B64 + 1)
    d2 = raw.find(b".", d1 + 1, d1 + 1026)
    d3 = raw.find(b".", d2 + 1, d2 + 64)
    d4 = raw.rfind(b".")
    if min(d1, d2, d3) < 0 or d4 <= d3 or len(raw) - d4 > 64:
        raise JoseFailure("not a compact JWE")
    header_segment = raw[:d1]
    header = _segment_json(header_segment.decode("ascii", "replace"))
    if header.get("alg") != ALG_KEY_WRAP or header.get("enc") != ENC_CONTENT or "crit" in header:
        raise JoseFailure("algorithm not allowed")
    if header.get("zip", ZIP_DEFLATE) != ZIP_DEFLATE:
        raise JoseFailure("compression not allowed")
    key = key_for_kid(header.get("kid"))
    if key is None:
        raise JoseFailure("no decryption key for this kid")
    private = key.private_key
    if not isinstance(private, rsa.RSAPrivateKey):
        raise JoseFailure("no private key")
    try:
        cek = private.decrypt(_b64url(raw, d1 + 1, d2), _OAEP)
        iv_bytes, tag_bytes = _b64url(raw, d2 + 1, d3), _b64url(raw, d4 + 1, len(raw))
        if len(cek) != 32 or len(iv_bytes) != 12 or len(tag_bytes) != 16:
            raise JoseFailure("malformed key, iv or tag")
        decryptor = Cipher(algorithms.AES(cek), modes.GCM(iv_bytes, tag_bytes)).decryptor()
        decryptor.authenticate_additional_data(header_segment)
        # a stray "." inside the ciphertext range fails the strict base64url check
        plaintext = decryptor.update(_b64url(raw, d3 + 1, d4)) + decryptor.finalize()
    except (ValueError, InvalidTag):
        raise JoseFailure("decryption failed") from None
    if "zip" in header:
        return _inflate(plaintext, registry.zip_cap)
    return plaintext


def _inflate(data: bytes, cap: int) -> bytes:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        value = inflater.decompress(data, cap)
    except zlib.error:
        raise JoseFailure("decompression failed") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise JoseFailure("inflated content exceeds the size limit")
    return value


def encrypt(plaintext: bytes, key: RSAKey, kid: str, content_type: str, registry: FitConnectJWERegistry) -> str:
    header = {"alg": ALG_KEY_WRAP, "enc": ENC_CONTENT, "kid": kid, "cty": content_type}
    return jwe.encrypt_compact(header, plaintext, key, registry=registry)


def sign_set(payload: dict[str, Any], key: RSAKey, kid: str) -> str:
    header = {"typ": SET_TYPE, "alg": ALG_SIGNATURE, "kid": kid}
    return jws.serialize_compact(header, orjson.dumps(payload), key, algorithms=[ALG_SIGNATURE])


def set_header(token: str) -> dict[str, Any]:
    return _segment_json(token.split(".", 1)[0])


def verify_set(token: str, key_for_kid: Callable[[str], RSAKey | None]) -> dict[str, Any]:
    """Verify a Security Event Token (typ secevent+jwt, PS512 only) and return its claims."""
    if len(token) > MAX_SET_LENGTH or token.count(".") != 2:
        raise JoseFailure("not a compact JWS of acceptable size")
    header = set_header(token)
    if header.get("alg") != ALG_SIGNATURE or header.get("typ") != SET_TYPE:
        raise JoseFailure("SET header not acceptable")
    kid = header.get("kid")
    key = key_for_kid(kid) if isinstance(kid, str) else None
    if key is None:
        raise JoseFailure("unknown SET signing key")
    try:
        signed = jws.deserialize_compact(token, key, algorithms=[ALG_SIGNATURE])
        claims = orjson.loads(signed.payload)
    except (JoseError, ValueError, TypeError):
        raise JoseFailure("SET signature invalid") from None
    if not isinstance(claims, dict):
        raise JoseFailure("SET payload is not an object")
    return claims
