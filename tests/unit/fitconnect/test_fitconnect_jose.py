"""JWE/JWS allow-lists, size and inflation caps, key selection by kid."""

from __future__ import annotations

import base64
import json

import pytest
from joserfc import jwe, jws
from joserfc.jwk import RSAKey

from adapters.fitconnect import jose, testing
from adapters.fitconnect.keys import DestinationKeys, jose_key, load_own_key

KEYS = testing.KEY_DIR
REGISTRY = jose.FitConnectJWERegistry(1024 * 1024, 64 * 1024)


@pytest.fixture(scope="module")
def keys() -> DestinationKeys:
    return DestinationKeys.load([KEYS / "tangerhuette-enc-2026.jwk.json", KEYS / "tangerhuette-enc-2027.jwk.json"],
                                KEYS / "tangerhuette-sig-2026.jwk.json")


def public(keys: DestinationKeys, kid: str) -> RSAKey:
    return jose_key(keys.decryption[kid].public_jwk)


def test_round_trip_with_either_rotation_key(keys: DestinationKeys) -> None:
    for kid in ("tangerhuette-enc-2026", "tangerhuette-enc-2027"):
        token = jose.encrypt(b'{"a": 1}', public(keys, kid), kid, "application/json", REGISTRY)
        assert jose.decrypt(token, keys.for_kid, REGISTRY) == b'{"a": 1}'


def test_unknown_kid_is_refused(keys: DestinationKeys) -> None:
    token = jose.encrypt(b"x", public(keys, "tangerhuette-enc-2026"), "someone-else", "text/plain", REGISTRY)
    with pytest.raises(jose.JoseFailure, match="kid"):
        jose.decrypt(token, keys.for_kid, REGISTRY)


@pytest.mark.parametrize("header", [
    {"alg": "RSA-OAEP", "enc": "A256GCM"},
    {"alg": "RSA1_5", "enc": "A256GCM"},
    {"alg": "RSA-OAEP-256", "enc": "A128CBC-HS256"},
    {"alg": "dir", "enc": "A256GCM"},
])
def test_other_algorithms_are_refused(keys: DestinationKeys, header: dict[str, str]) -> None:
    body = base64.urlsafe_b64encode(json.dumps({**header, "kid": "tangerhuette-enc-2026"}).encode()).rstrip(b"=")
    token = body.decode() + ".AAAA.AAAA.AAAA.AAAA"
    with pytest.raises(jose.JoseFailure, match="algorithm not allowed"):
        jose.decrypt(token, keys.for_kid, REGISTRY)


def test_inflation_is_capped(keys: DestinationKeys) -> None:
    big = jose.FitConnectJWERegistry(1024 * 1024, 16 * 1024 * 1024)
    bomb = jwe.encrypt_compact({"alg": "RSA-OAEP-256", "enc": "A256GCM", "zip": "DEF", "kid": "tangerhuette-enc-2026"},
                               b"\0" * (8 * 1024 * 1024), public(keys, "tangerhuette-enc-2026"), registry=big)
    assert len(bomb) < 64 * 1024  # tiny on the wire ...
    with pytest.raises(jose.JoseFailure):
        jose.decrypt(bomb, keys.for_kid, REGISTRY)  # ... refused at the 64 KB cap
    assert len(jose.decrypt(bomb, keys.for_kid, big)) == 8 * 1024 * 1024


def test_oversized_token_is_refused_before_parsing(keys: DestinationKeys) -> None:
    small = jose.FitConnectJWERegistry(1000, 1000)
    token = jose.encrypt(b"y" * 50_000, public(keys, "tangerhuette-enc-2026"), "tangerhuette-enc-2026",
                         "text/plain", REGISTRY)
    with pytest.raises(jose.JoseFailure, match="size"):
        jose.decrypt(token, keys.for_kid, small)


def test_tampered_ciphertext_and_tag_fail(keys: DestinationKeys) -> None:
    token = jose.encrypt(b"z" * 100, public(keys, "tangerhuette-enc-2026"), "tangerhuette-enc-2026",
                         "text/plain", REGISTRY)
    parts = token.split(".")
    for index in (3, 4):
        changed = list(parts)
        changed[index] = ("B" if changed[index][0] == "A" else "A") + changed[index][1:]
        with pytest.raises(jose.JoseFailure):
            jose.decrypt(".".join(changed), keys.for_kid, REGISTRY)


def test_set_round_trip_and_refusals(keys: DestinationKeys) -> None:
    signing = keys.signing
    verify_key = jose_key(signing.public_jwk)
    token = jose.sign_set({"jti": "1"}, signing.key, signing.kid)
    assert jose.set_header(token) == {"typ": "secevent+jwt", "alg": "PS512", "kid": signing.kid}
    assert jose.verify_set(token, lambda kid: verify_key if kid == signing.kid else None) == {"jti": "1"}
    other = load_own_key(KEYS / "landkreis-sig-2026.jwk.json", "signature")
    with pytest.raises(jose.JoseFailure, match="signature"):
        jose.verify_set(token, lambda kid: jose_key(other.public_jwk))
    raw = json.loads((KEYS / "tangerhuette-sig-2026.jwk.json").read_text())
    any_alg = RSAKey.import_key({k: v for k, v in raw.items() if k not in ("alg", "key_ops", "x5c")})
    rs512 = jws.serialize_compact({"alg": "RS512", "typ": "secevent+jwt", "kid": signing.kid}, b"{}", any_alg,
                                  algorithms=["RS512"])
    with pytest.raises(jose.JoseFailure, match="header"):
        jose.verify_set(rs512, lambda kid: verify_key)
    untyped = jws.serialize_compact({"alg": "PS512", "kid": signing.kid}, b"{}", signing.key, algorithms=["PS512"])
    with pytest.raises(jose.JoseFailure, match="header"):
        jose.verify_set(untyped, lambda kid: verify_key)


def test_authentication_tag_is_the_last_segment() -> None:
    assert jose.authentication_tag("a.b.c.d.TAG") == "TAG"
