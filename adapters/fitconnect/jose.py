"""JOSE for FIT-Connect: JWE (RSA-OAEP-256 + A256GCM, optional DEF) and SET/JWS (PS512).

Library: joserfc, pinned to 1.8.0 (``pyproject.toml``), on top of ``cryptography``.

Why joserfc (and not jwcrypto or authlib's older ``authlib.jose``): it is maintained (regular
releases, security advisories answered with patch releases), fully typed (``py.typed``, passes
``mypy --strict`` here), does all cryptography through ``cryptography`` (OpenSSL), and its
registries are explicit allow-lists: a ``JWERegistry`` only resolves algorithms it holds and
was told to allow. Why 1.8.0: it is the newest release on the package index, and past every
published joserfc advisory known to us -- the DEF inflation cap (250 KB since 0.12.0), raw
content in ``ExceededSizeError`` messages (fixed 1.4.2), b64=false payload-size bypass
(CVE-2026-48990, 1.6.7), empty HMAC keys (CVE-2026-49852, 1.6.8), padded-segment malleability
(CVE-2026-62995, 1.7.2), list-valued iss/sub (CVE-2026-75509, 1.7.3), empty JWS JSON signature
list (CVE-2026-102946, 1.7.4), compact JWS split before the size check (CVE-2026-119284,
1.7.6); 1.8.0's compact JWE parser checks the total size before splitting.

What runs where:

* keys, SET signing/verification (``jws``) and JWE encryption (``jwe.encrypt_compact``) are
  joserfc's public API;
* JWE decryption (:func:`decrypt`) runs the cryptography through joserfc's algorithm models,
  taken from the registry by name: the RSA-OAEP-256 key-management model unwraps the CEK with
  the joserfc key, the A256GCM content-encryption model checks the tag (protected header as
  AAD) and decrypts, and :class:`CappedDeflate` (a subclass of joserfc's DEF model registered
  in our registry) inflates with a hard cap. Header validation is joserfc's
  ``JWERegistry.check_header`` (``crit`` handling, value types, no unregistered parameters).
  Only the compact *parsing* is ours: ``jwe.decrypt_compact`` splits and copies the token and
  stdlib-decodes every segment, which measured 1 to 2 ms of CPU more per 270 KB attachment
  (about 0.3 ms at 70 KB) than locating the dots and decoding the ciphertext with SIMD
  ``pybase64`` from a memoryview -- more than the whole non-RSA budget of an intake. The parsing is at least
  as strict as joserfc's (no padding, no ``+ / =``, canonical last character, per-segment caps).

Allow-lists are enforced twice on purpose: the registry below only *contains* the three
algorithms FIT-Connect uses (so nothing else can be negotiated, whatever joserfc adds in later
versions), and :func:`decrypt` checks the header (alg, enc, zip, no ``crit``) before any key is
touched. Sizes are capped before parsing; ``zip: DEF`` inflates at most ``max_inflated + 1``
bytes (a zip bomb stops at the cap). Errors are :class:`JoseFailure` with fixed messages.
"""

from __future__ import annotations

import binascii
import secrets
import zlib
from collections.abc import Callable
from typing import Any

import orjson
import pybase64
from joserfc import jwe, jws
from joserfc.errors import DecodeError, ExceededSizeError, JoseError
from joserfc.jwa import DeflateZipModel, JWEKeyEncryption
from joserfc.jwk import RSAKey
from joserfc.util import urlsafe_b64decode

ALG_KEY_WRAP = "RSA-OAEP-256"
ENC_CONTENT = "A256GCM"
ZIP_DEFLATE = "DEF"
ALG_SIGNATURE = "PS512"
SET_TYPE = "secevent+jwt"
MAX_HEADER_B64 = 2048
MAX_SET_LENGTH = 64 * 1024
TAG_BYTES = 16
# last character of an unpadded base64url segment whose unused low bits are zero, by length % 4
_CANONICAL_LAST = {2: b"AQgw", 3: b"AEIMQUYcgkosw048"}


class JoseFailure(Exception):
    """Decryption or signature check failed; the message names no content."""


class CappedDeflate(DeflateZipModel):
    """joserfc's DEF model with a per-registry hard cap on the inflated size.

    joserfc's own model caps at a fixed 250 KB, accepts zlib-wrapped data and does not notice a
    truncated stream. This one inflates raw DEFLATE (RFC 7516) at most ``max_inflated + 1``
    bytes, so a zip bomb stops at the cap instead of inflating, and refuses truncated streams
    and trailing data. Compression (for encrypting) is joserfc's.
    """

    def __init__(self, max_inflated: int) -> None:
        self.max_inflated = max_inflated

    def decompress(self, s: bytes) -> bytes:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            value = inflater.decompress(s, self.max_inflated + 1)
        except zlib.error:
            raise DecodeError("invalid DEFLATE data") from None
        if len(value) > self.max_inflated:
            raise ExceededSizeError(f"Decompressed content exceeds {self.max_inflated} bytes")
        # below the cap, all input was consumed: a missing end of stream is a truncated stream
        if not inflater.eof or inflater.unused_data:
            raise DecodeError("invalid DEFLATE data")
        return value


class FitConnectJWERegistry(jwe.JWERegistry):
    """A JWE registry that knows only RSA-OAEP-256, A256GCM and a capped DEF, with the caps of one
    kind of content: ``max_token_length`` bounds the encoded ciphertext, ``max_inflated`` the
    inflated plaintext. joserfc encrypts with it; :func:`decrypt` takes its algorithm models and
    caps from it, and so would ``jwe.decrypt_compact``."""

    def __init__(self, max_token_length: int, max_inflated: int) -> None:
        super().__init__(algorithms=[ALG_KEY_WRAP, ENC_CONTENT, ZIP_DEFLATE])
        known = jwe.JWERegistry.algorithms
        self.algorithms = {
            "alg": {ALG_KEY_WRAP: known["alg"][ALG_KEY_WRAP]},
            "enc": {ENC_CONTENT: known["enc"][ENC_CONTENT]},
            "zip": {ZIP_DEFLATE: CappedDeflate(max_inflated)},
        }
        self.zip_cap = max_inflated
        self.max_ciphertext_length = max_token_length
        self.max_aad_length = MAX_HEADER_B64
        self.max_protected_header_length = MAX_HEADER_B64

    @property
    def max_compact_length(self) -> int:
        """The longest compact JWE accepted: the per-segment caps plus the four dots."""
        return (self.max_protected_header_length + self.max_encrypted_key_length
                + self.max_initialization_vector_length + self.max_ciphertext_length
                + self.max_auth_tag_length + 4)


def _segment_json(segment: str | bytes) -> dict[str, Any]:
    if len(segment) > MAX_HEADER_B64:
        raise JoseFailure("header too large")
    try:
        # joserfc's strict base64url: no padding, no "+ / =", canonical last character
        value = orjson.loads(urlsafe_b64decode(segment.encode("ascii") if isinstance(segment, str) else segment))
    except ValueError:  # binascii.Error, UnicodeEncodeError and orjson.JSONDecodeError included
        raise JoseFailure("header is not base64url JSON") from None
    if not isinstance(value, dict):
        raise JoseFailure("header is not a JSON object")
    return value


def jwe_header(token: str | bytes) -> dict[str, Any]:
    if isinstance(token, bytes):
        return _segment_json(token[: token.find(b".")])
    return _segment_json(token[: token.find(".")])


def authentication_tag(token: str | bytes) -> str:
    """FIT-Connect's authentication tag of a compact JWE: its last segment (sliced, no copy of the rest)."""
    tag = token[(token.rfind(b".") if isinstance(token, bytes) else token.rfind(".")) + 1:]
    return tag.decode("ascii", "replace") if isinstance(tag, bytes) else tag


def _b64url(raw: bytes, start: int, end: int) -> bytes:
    """Decode ``raw[start:end]`` as strict base64url (no padding, no ``+ / =``, canonical last
    character, as joserfc's decoder) from a memoryview.

    SIMD pybase64 needs ~0.06 ms for a 270 KB attachment, the stdlib (joserfc) ~1 ms; the
    unpadded tail (at most 3 characters) apart.
    """
    if raw.find(b"+", start, end) >= 0 or raw.find(b"/", start, end) >= 0 or raw.find(b"=", start, end) >= 0:
        raise JoseFailure("not base64url")
    view = memoryview(raw)[start:end]
    rest = len(view) % 4
    if rest == 1 or (rest and raw[end - 1] not in _CANONICAL_LAST[rest]):
        raise JoseFailure("not base64url")
    bulk = len(view) - rest
    try:
        head = pybase64.b64decode(view[:bulk], altchars=b"-_", validate=True)
        if not rest:
            return head
        tail = bytes(view[bulk:]) + b"=" * (4 - rest)
        return head + pybase64.b64decode(tail, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise JoseFailure("not base64url") from None


def decrypt(token: str | bytes, key_for_kid: Callable[[object], RSAKey | None],
            registry: FitConnectJWERegistry) -> bytes:
    """Decrypt a compact JWE: RSA-OAEP-256 key wrap, A256GCM, optional capped DEF.

    In this order: total size; the five segments located within their caps (no split, no
    copy); the header allow-list (alg, enc, zip, no ``crit``) and joserfc's header check; the
    segments decoded; only then the key named by ``kid`` (two may be active during a rotation);
    then joserfc's RSA-OAEP-256 model unwraps the CEK, its A256GCM model checks the
    tag and decrypts, the registry's :class:`CappedDeflate` inflates. The allow-list is
    absolute: any other alg/enc/zip, or a ``crit`` header, is refused.
    """
    if len(token) > registry.max_compact_length:
        raise JoseFailure("token exceeds the size limit")
    try:
        raw = token.encode("ascii") if isinstance(token, str) else token
    except UnicodeEncodeError:
        raise JoseFailure("not a compact JWE") from None
    # Locate the four dots, each within its segment's cap, instead of split():
    # the ciphertext is decoded from a view, not a copy.
    d1 = raw.find(b".", 0, registry.max_protected_header_length + 1)
    d2 = raw.find(b".", d1 + 1, d1 + registry.max_encrypted_key_length + 2)
    d3 = raw.find(b".", d2 + 1, d2 + registry.max_initialization_vector_length + 2)
    d4 = raw.rfind(b".")
    if min(d1, d2, d3) < 0 or d4 <= d3 or len(raw) - d4 - 1 > registry.max_auth_tag_length:
        raise JoseFailure("not a compact JWE")
    if d4 - d3 - 1 > registry.max_ciphertext_length:
        raise JoseFailure("token exceeds the size limit")
    header_segment = raw[:d1]
    header = _segment_json(header_segment)
    if header.get("alg") != ALG_KEY_WRAP or header.get("enc") != ENC_CONTENT or "crit" in header:
        raise JoseFailure("algorithm not allowed")
    if header.get("zip", ZIP_DEFLATE) != ZIP_DEFLATE:
        raise JoseFailure("compression not allowed")
    try:
        registry.check_header(header, True)
        key_wrap = registry.get_alg(header["alg"])
        content = registry.get_enc(header["enc"])
    except JoseError:
        raise JoseFailure("header not acceptable") from None
    if not isinstance(key_wrap, JWEKeyEncryption):  # pragma: no cover - the registry holds RSA-OAEP-256 only
        raise JoseFailure("algorithm not allowed")
    encrypted_key, iv, tag = _b64url(raw, d1 + 1, d2), _b64url(raw, d2 + 1, d3), _b64url(raw, d4 + 1, len(raw))
    # a stray "." inside the ciphertext range fails the strict base64url check
    ciphertext = _b64url(raw, d3 + 1, d4)
    key = key_for_kid(header.get("kid"))
    if key is None:
        raise JoseFailure("no decryption key for this kid")
    if not key.is_private:
        raise JoseFailure("no private key")
    recipient: jwe.Recipient[RSAKey] = jwe.Recipient(jwe.CompactEncryption(header), None, key)
    recipient.encrypted_key = encrypted_key
    try:
        if len(tag) != TAG_BYTES:
            raise ValueError("tag length")
        content.check_iv(iv)
        cek = key_wrap.decrypt_cek(recipient)
        if len(cek) * 8 != content.cek_size:
            # as joserfc's decrypt: a random CEK makes the tag check fail, no separate answer
            cek = secrets.token_bytes(content.cek_size // 8)
        plaintext = content.decrypt(ciphertext, tag, cek, iv, header_segment)
    except (JoseError, ValueError):
        raise JoseFailure("decryption failed") from None
    if "zip" not in header:
        return plaintext
    try:
        return registry.get_zip(header["zip"]).decompress(plaintext)
    except ExceededSizeError:
        raise JoseFailure("inflated content exceeds the size limit") from None
    except JoseError:
        raise JoseFailure("decompression failed") from None


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
