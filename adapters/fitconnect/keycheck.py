"""Validation of a destination's public key before anything is encrypted for it (or a SET
signed with it is believed).

Checks, in FIT-Connect's terms: ``kty`` RSA, 4096 bits, ``e`` AQAB, ``key_ops`` exactly
wrapKey (encryption) or verify (signature), ``alg`` RSA-OAEP-256 or PS512, an ``x5c`` chain
that ends at the configured trust anchor with valid signatures, validity dates, CA flags and
key usage, and ``n``/``e`` equal to the leaf certificate's key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import threading
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

from adapters.fitconnect.keys import jose_key
from gateway.errors import VerificationFailed

Purpose = Literal["encryption", "signature"]
_EXPECTED = {"encryption": ("RSA-OAEP-256", "wrapKey"), "signature": ("PS512", "verify")}
MAX_CHAIN = 5


class KeyRejected(VerificationFailed):
    slug = "fitconnect-key-rejected"
    title = "The destination's public key failed validation"


def _b64url_int(value: object) -> int:
    if not isinstance(value, str):
        raise KeyRejected("JWK member is not a string")
    try:
        return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")
    except (binascii.Error, ValueError):
        raise KeyRejected("JWK member is not base64url") from None


def _chain(jwk: dict[str, Any]) -> list[x509.Certificate]:
    x5c = jwk.get("x5c")
    if not isinstance(x5c, list) or not 1 <= len(x5c) <= MAX_CHAIN:
        raise KeyRejected("x5c certificate chain missing or too long")
    try:
        return [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in x5c]
    except (binascii.Error, ValueError, TypeError):
        raise KeyRejected("x5c holds an unreadable certificate") from None


def _check_dates(cert: x509.Certificate, now: dt.datetime) -> None:
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise KeyRejected("a certificate in the chain is outside its validity period")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return basic.ca and usage.key_cert_sign


def _check_leaf_usage(cert: x509.Certificate, purpose: Purpose) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise KeyRejected("leaf certificate has no key usage") from None
    allowed = usage.key_encipherment if purpose == "encryption" else usage.digital_signature
    if not allowed:
        raise KeyRejected(f"leaf certificate's key usage does not allow {purpose}")


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


@dataclass(frozen=True)
class _Validated:
    key: RSAKey
    valid_from: dt.datetime
    valid_until: dt.datetime


# JWK (canonical JSON), purpose, anchors -> the key that passed: a sender fetches the same
# published key for every submission, and checking its chain costs more than using it
_VALIDATED: dict[tuple[bytes, str, tuple[bytes, ...]], _Validated] = {}
_VALIDATED_MAX = 256
_LOCK = threading.Lock()


def validate_public_jwk(
    jwk: dict[str, Any], purpose: Purpose, anchors: list[x509.Certificate], now: dt.datetime | None = None
) -> RSAKey:
    """Return the joserfc key for ``jwk`` if it passes every check, else raise KeyRejected.

    A key that passed is remembered with the dates its chain is valid between: the same JWK is
    accepted again without repeating the checks while ``now`` lies within them (the checks
    depend on nothing else). A key that failed is checked again every time."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        cache_key = (orjson.dumps(jwk, option=orjson.OPT_SORT_KEYS), purpose,
                     tuple(a.fingerprint(hashes.SHA256()) for a in anchors))
    except TypeError:  # not JSON at all: the checks below say why
        return _validate(jwk, purpose, anchors, now)[0]
    with _LOCK:
        known = _VALIDATED.get(cache_key)
    if known is not None and known.valid_from <= now <= known.valid_until:
        return known.key
    key, valid_from, valid_until = _validate(jwk, purpose, anchors, now)
    with _LOCK:
        if len(_VALIDATED) >= _VALIDATED_MAX:
            _VALIDATED.pop(next(iter(_VALIDATED)))
        _VALIDATED[cache_key] = _Validated(key, valid_from, valid_until)
    return key


def _validate(jwk: dict[str, Any], purpose: Purpose, anchors: list[x509.Certificate],
              now: dt.datetime) -> tuple[RSAKey, dt.datetime, dt.datetime]:
    alg, op = _EXPECTED[purpose]
    if jwk.get("kty") != "RSA" or jwk.get("alg") != alg or jwk.get("key_ops") != [op]:
        raise KeyRejected(f"JWK must be kty RSA, alg {alg}, key_ops [{op}]")
    if any(member in jwk for member in ("d", "p", "q")):
        raise KeyRejected("a published key must not contain private members")
    if jwk.get("e") != "AQAB":
        raise KeyRejected("JWK exponent must be AQAB")
    n = _b64url_int(jwk.get("n"))
    if n.bit_length() != 4096:
        raise KeyRejected("JWK modulus must have 4096 bits")
    chain = _chain(jwk)
    leaf_key = chain[0].public_key()
    if not isinstance(leaf_key, rsa.RSAPublicKey) or leaf_key.public_numbers().n != n \
            or leaf_key.public_numbers().e != 65537:
        raise KeyRejected("JWK n/e differ from the leaf certificate's key")
    _check_leaf_usage(chain[0], purpose)
    for cert in chain:
        _check_dates(cert, now)
    for child, issuer in itertools.pairwise(chain):
        if not _is_ca(issuer) or not _issued_by(child, issuer):
            raise KeyRejected("x5c is not a valid chain")
    top = chain[-1]
    for anchor in anchors:
        if top == anchor or (_is_ca(anchor) and _issued_by(top, anchor)):
            _check_dates(anchor, now)
            used = [*chain, anchor]
            return (jose_key(jwk), max(c.not_valid_before_utc for c in used),
                    min(c.not_valid_after_utc for c in used))
    raise KeyRejected("x5c chain does not end at a configured trust anchor")


def load_anchors(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)
