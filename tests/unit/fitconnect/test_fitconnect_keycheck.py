"""Validation of destination public keys before encrypting for them."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from adapters.fitconnect import pki, testing
from adapters.fitconnect.keycheck import KeyRejected, load_anchors, validate_public_jwk
from adapters.fitconnect.keys import private_key_from_jwk

ANCHORS = load_anchors(testing.TRUST_ANCHOR.read_bytes())


def published(name: str) -> dict[str, Any]:
    return pki.public_jwk(json.loads((testing.KEY_DIR / name).read_text()))


ENC = published("tangerhuette-enc-2026.jwk.json")
SIG = published("tangerhuette-sig-2026.jwk.json")


def with_cert(jwk: dict[str, Any], cert: x509.Certificate, extra: list[str] | None = None) -> dict[str, Any]:
    der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    return {**jwk, "x5c": [der, *(extra or [])]}


def test_valid_keys_pass() -> None:
    validate_public_jwk(ENC, "encryption", ANCHORS)
    validate_public_jwk(SIG, "signature", ANCHORS)


@pytest.mark.parametrize("change", [
    {"alg": "RSA-OAEP"}, {"alg": "PS512"}, {"key_ops": ["encrypt"]}, {"key_ops": ["wrapKey", "verify"]},
    {"kty": "EC"}, {"e": "AQAB" + "A"}, {"d": "secret"},
])
def test_jwk_members_are_checked(change: dict[str, Any]) -> None:
    with pytest.raises(KeyRejected):
        validate_public_jwk({**ENC, **change}, "encryption", ANCHORS)


def test_signature_key_is_not_an_encryption_key() -> None:
    with pytest.raises(KeyRejected):
        validate_public_jwk(SIG, "encryption", ANCHORS)


def test_modulus_must_equal_the_certificate() -> None:
    other = published("landkreis-enc-2026.jwk.json")
    with pytest.raises(KeyRejected, match="n/e"):
        validate_public_jwk({**ENC, "n": other["n"]}, "encryption", ANCHORS)


def test_self_signed_certificate_has_no_valid_chain() -> None:
    key = private_key_from_jwk(json.loads((testing.KEY_DIR / "tangerhuette-enc-2026.jwk.json").read_text()))
    now = dt.datetime.now(dt.UTC)
    own = pki.issue_certificate(key.public_key(), "self signed", key, None, "encryption",
                                now - dt.timedelta(days=1), now + dt.timedelta(days=30))
    with pytest.raises(KeyRejected, match="trust anchor"):
        validate_public_jwk(with_cert(ENC, own), "encryption", ANCHORS)


def test_chain_must_end_at_the_anchor() -> None:
    other_root = load_anchors(pki.cert_pem(pki.issue_certificate(
        private_key_from_jwk(json.loads((testing.KEY_DIR / "landkreis-sig-2026.jwk.json").read_text())).public_key(),
        "other root", private_key_from_jwk(json.loads((testing.KEY_DIR / "landkreis-sig-2026.jwk.json").read_text())),
        None, None, dt.datetime.now(dt.UTC) - dt.timedelta(days=1), dt.datetime.now(dt.UTC) + dt.timedelta(days=9))))
    with pytest.raises(KeyRejected, match="anchor"):
        validate_public_jwk(ENC, "encryption", other_root)


def test_expired_or_not_yet_valid() -> None:
    with pytest.raises(KeyRejected, match="validity"):
        validate_public_jwk(ENC, "encryption", ANCHORS, now=dt.datetime(2070, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(KeyRejected, match="validity"):
        validate_public_jwk(ENC, "encryption", ANCHORS, now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))


def test_leaf_key_usage_must_fit() -> None:
    # A certificate for the encryption key that only allows signatures.
    ca_key = pki.load_key_pem((testing.REPO / "fixtures/pki/test-intermediate-ca.key.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((testing.REPO / "fixtures/pki/test-intermediate-ca.pem").read_bytes())
    key = private_key_from_jwk(json.loads((testing.KEY_DIR / "tangerhuette-enc-2026.jwk.json").read_text()))
    now = dt.datetime.now(dt.UTC)
    wrong = pki.issue_certificate(key.public_key(), "wrong usage", ca_key, ca, "signature",
                                  now - dt.timedelta(days=1), now + dt.timedelta(days=30))
    with pytest.raises(KeyRejected, match="key usage"):
        validate_public_jwk(with_cert(ENC, wrong, ENC["x5c"][1:]), "encryption", ANCHORS)
