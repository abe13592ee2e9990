"""JOSE for FIT-Connect: JWE (RSA-OAEP-256 + A256GCM, optional DEF) and SET/JWS (PS512).

Library: joserfc, pinned to 1.8.0 (``pyproject.toml``), on top of ``cryptography``.

Why joserfc (and not jwcrypto or authlib's older ``authlib.jose``): it is maintained (regular
releases, security advisories answered with patch releases), fully typed (``py.typed``, passes
``mypy --strict`` here), does all cryptography through ``cryptography`` (OpenSSL), and its
registries are explicit allow-lists: a ``JWERegistry`` only resolves algorithms it holds and
was told to allow. Why 1.8.0: it is the newest release on the package index, and past every
published joserfc advisory known to us -- among them the DEF inflation cap, raw content in
``ExceededSizeError`` messages (fixed 1.4.2), padded-segment malleability (1.7.2) and the
compact serialisations split before their size check (1.7.6; 1.8.0 checks the total first).

Everything here is joserfc's public API: ``jwe.decrypt_compact`` / ``jwe.encrypt_compact`` with
our :class:`FitConnectJWERegistry`, ``jws.serialize_compact`` / ``jws.deserialize_compact`` for
SETs. The registry only *contains* the three algorithms FIT-Connect uses (so nothing else can be
negotiated, whatever joserfc adds later), with per-kind size caps, and its DEF model is
:class:`CappedDeflate` (joserfc's public ``DeflateZipModel`` with a hard cap). The key is chosen
by a resolver joserfc calls with the parsed protected header: it applies our header allow-list
(alg, enc, zip, no ``crit``) before it names the key by ``kid`` (two during a rotation), and
joserfc's ``check_header`` refuses unregistered or mistyped members. Errors are
:class:`JoseFailure` with fixed messages.

Attachments and fragments are not decrypted here but in :mod:`.jwe_stream`, in a stream with
bounded memory (joserfc decrypts whole tokens in memory only); it applies the same allow-list,
registry header check and caps.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import orjson
from joserfc import jwe, jws
from joserfc.errors import DecodeError, ExceededSizeError, JoseError
from joserfc.jwa import DeflateZipModel
from joserfc.jwk import GuestProtocol, RSAKey
from joserfc.util import urlsafe_b64decode

ALG_KEY_WRAP = "RSA-OAEP-256"
ENC_CONTENT = "A256GCM"
ZIP_DEFLATE = "DEF"
ALG_SIGNATURE = "PS512"
SET_TYPE = "secevent+jwt"
MAX_HEADER_B64 = 2048
MAX_SET_LENGTH = 64 * 1024
TAG_BYTES = 16


class JoseFailure(Exception):
    """Decryption or signature check failed; the message names no content."""


class InflatedTooLarge(ExceededSizeError):
    """The inflated content would exceed the registry's cap."""


class BrokenDeflate(DecodeError):
    """Not a complete raw DEFLATE stream."""


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
            raise BrokenDeflate("invalid DEFLATE data") from None
        if len(value) > self.max_inflated:
            raise InflatedTooLarge(f"Decompressed content exceeds {self.max_inflated} bytes")
        # below the cap, all input was consumed: a missing end of stream is a truncated stream
        if not inflater.eof or inflater.unused_data:
            raise BrokenDeflate("invalid DEFLATE data")
        return value


class FitConnectJWERegistry(jwe.JWERegistry):
    """A JWE registry that knows only RSA-OAEP-256, A256GCM and a capped DEF, with the caps of one
    kind of content: ``max_token_length`` bounds the encoded ciphertext, ``max_inflated`` the
    inflated plaintext. ``jwe.encrypt_compact`` and ``jwe.decrypt_compact`` take it as their
    registry; :mod:`.jwe_stream` takes its caps and header check."""

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
    """The protected header of a compact JWE, or of its first segment alone (to show or to
    choose by; nothing is trusted from it)."""
    end = token.find(b".") if isinstance(token, bytes) else token.find(".")
    return _segment_json(token[:end] if end >= 0 else token)


def authentication_tag(token: str | bytes) -> str:
    """FIT-Connect's authentication tag of a compact JWE: its last segment."""
    tag = token[(token.rfind(b".") if isinstance(token, bytes) else token.rfind(".")) + 1:]
    return tag.decode("ascii", "replace") if isinstance(tag, bytes) else tag


def check_header(header: dict[str, Any], registry: FitConnectJWERegistry) -> None:
    """The allow-list (alg, enc, zip, no ``crit``), then joserfc's header check of the registry."""
    if header.get("alg") != ALG_KEY_WRAP or header.get("enc") != ENC_CONTENT or "crit" in header:
        raise JoseFailure("algorithm not allowed")
    if header.get("zip", ZIP_DEFLATE) != ZIP_DEFLATE:
        raise JoseFailure("compression not allowed")
    try:
        registry.check_header(header, True)
    except (JoseError, ValueError, TypeError, KeyError):
        raise JoseFailure("header not acceptable") from None


class _Refused(JoseError):
    """Raised inside joserfc's key resolution; carries our fixed reason out."""

    error = "refused"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decrypt(token: str | bytes, key_for_kid: Callable[[object], RSAKey | None],
            registry: FitConnectJWERegistry) -> bytes:
    """Decrypt a compact JWE (RSA-OAEP-256, A256GCM, optional capped DEF) with
    ``jwe.decrypt_compact``.

    The token's length is checked first (joserfc checks it again, and every segment, before it
    decodes anything); then joserfc parses the header and asks our resolver for the key, which
    refuses any header outside the allow-list before it looks up ``kid``; then joserfc checks
    the header against the registry, unwraps the CEK, checks the tag and inflates through the
    registry's :class:`CappedDeflate`.
    """
    if len(token) > registry.max_compact_length:
        raise JoseFailure("token exceeds the size limit")

    def resolve(guest: GuestProtocol) -> RSAKey:
        header = dict(guest.headers())
        try:
            check_header(header, registry)
        except JoseFailure as exc:
            raise _Refused(str(exc)) from None
        key = key_for_kid(header.get("kid"))
        if key is None:
            raise _Refused("no decryption key for this kid")
        if not key.is_private:
            raise _Refused("no private key")
        return key

    try:
        return jwe.decrypt_compact(token, resolve, registry=registry).plaintext or b""
    except _Refused as exc:
        raise JoseFailure(exc.reason) from None
    except InflatedTooLarge:
        raise JoseFailure("inflated content exceeds the size limit") from None
    except BrokenDeflate:
        raise JoseFailure("decompression failed") from None
    except ExceededSizeError:
        raise JoseFailure("token exceeds the size limit") from None
    except (JoseError, TypeError, KeyError):
        raise JoseFailure("decryption failed") from None
    except ValueError:  # not five segments, not ASCII, not base64url
        raise JoseFailure("not a compact JWE") from None


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
