"""JWE decryption -- joserfc's ``jwe.decrypt_compact`` (metadata, data) and the stream decryptor
(attachments, fragments), both through the same tests: interoperability, allow-lists, caps,
tampering and key choice by kid.

Tokens come from three producers: joserfc's public API, ``jose.encrypt`` (what the sandbox and
the sender use) and :func:`seal`, built on ``cryptography`` alone, so a refusal or an accepted
token never depends on the code under test having produced it.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import time
import tracemalloc
import warnings
import zlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jwe
from joserfc.errors import ExceededSizeError, SecurityWarning, UnsupportedAlgorithmError
from joserfc.jwk import RSAKey

from adapters.fitconnect import jose, jwe_stream, testing
from adapters.fitconnect.keys import DestinationKeys, jose_key

KID_2026, KID_2027 = "tangerhuette-enc-2026", "tangerhuette-enc-2027"
CAP = 64 * 1024
REGISTRY = jose.FitConnectJWERegistry(1024 * 1024, CAP)
OAEP_256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
BOMB_INFLATED = 64 * 1024 * 1024


@pytest.fixture(scope="module")
def keys() -> DestinationKeys:
    return DestinationKeys.load([testing.KEY_DIR / f"{KID_2026}.jwk.json", testing.KEY_DIR / f"{KID_2027}.jwk.json"],
                                testing.KEY_DIR / "tangerhuette-sig-2026.jwk.json")


class Lookup:
    """A ``key_for_kid`` that records every kid it is asked for."""

    def __init__(self, keys: DestinationKeys) -> None:
        self.keys = keys
        self.asked: list[object] = []

    def __call__(self, kid: object) -> RSAKey | None:
        self.asked.append(kid)
        return self.keys.for_kid(kid)


def public(keys: DestinationKeys, kid: str = KID_2026) -> RSAKey:
    return jose_key(keys.decryption[kid].public_jwk)


def private(keys: DestinationKeys, kid: str = KID_2026) -> RSAKey:
    return keys.decryption[kid].key


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def seal(header: dict[str, Any], payload: bytes, key: RSAKey) -> str:
    """A compact JWE (RSA-OAEP-256 + A256GCM) made with ``cryptography`` only; ``payload`` goes in as
    given (already compressed when the header says ``zip``), whatever the header claims."""
    cek, iv = os.urandom(32), os.urandom(12)
    protected = b64(json.dumps(header).encode())
    wrapped = key.public_key.encrypt(cek, OAEP_256)
    sealed = AESGCM(cek).encrypt(iv, payload, protected.encode())
    return ".".join([protected, b64(wrapped), b64(iv), b64(sealed[:-16]), b64(sealed[-16:])])


def header(kid: str = KID_2026, **extra: Any) -> dict[str, Any]:
    return {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": kid, "cty": "application/json", **extra}


def stream_decrypt(token: str | bytes, key_for_kid: Any, registry: jose.FitConnectJWERegistry) -> bytes:
    """The stream decryptor fed in odd-sized chunks, its plaintext joined."""
    raw = token.encode("utf-8") if isinstance(token, str) else token
    return b"".join(jwe_stream.decrypt_chunks((raw[i: i + 7777] for i in range(0, len(raw), 7777)), key_for_kid,
                                              registry, size=len(raw)))


@pytest.fixture(params=["joserfc", "stream"])
def decrypt(request: pytest.FixtureRequest) -> Any:
    return jose.decrypt if request.param == "joserfc" else stream_decrypt


@pytest.fixture(scope="module")
def bomb(keys: DestinationKeys) -> str:
    """64 MB of zeros, raw-deflated to about 64 KB, sealed with ``zip: DEF``."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunk = bytes(1024 * 1024)
    packed = b"".join(packer.compress(chunk) for _ in range(BOMB_INFLATED // len(chunk))) + packer.flush()
    assert len(packed) * 500 < BOMB_INFLATED
    return seal(header(zip="DEF"), packed, public(keys))


# --- tokens from every producer decrypt ------------------------------------------------------


@pytest.mark.parametrize("as_bytes", [False, True])
@pytest.mark.parametrize("zip_def", [False, True])
def test_tokens_made_by_joserfc_decrypt(decrypt: Any, keys: DestinationKeys, zip_def: bool, as_bytes: bool) -> None:
    plaintext = b'{"antrag": "' + b"Gewerbe " * 4000 + b'"}'
    protected = header(**({"zip": "DEF"} if zip_def else {}))
    token = jwe.encrypt_compact(protected, plaintext, public(keys),
                                algorithms=["RSA-OAEP-256", "A256GCM", "DEF"])
    assert ("zip" in jose.jwe_header(token)) is zip_def
    lookup = Lookup(keys)
    assert decrypt(token.encode() if as_bytes else token, lookup, REGISTRY) == plaintext
    assert lookup.asked == [KID_2026]
    # joserfc's own compact decryption with our registry agrees
    assert jwe.decrypt_compact(token, private(keys), registry=REGISTRY).plaintext == plaintext


@pytest.mark.parametrize("as_bytes", [False, True])
def test_tokens_made_by_jose_encrypt_decrypt(decrypt: Any, keys: DestinationKeys, as_bytes: bool) -> None:
    plaintext = os.urandom(200 * 1024)
    token = jose.encrypt(plaintext, public(keys), KID_2026, "application/pdf", REGISTRY)
    assert 260 * 1024 < len(token) < 280 * 1024
    assert decrypt(token.encode() if as_bytes else token, keys.for_kid, REGISTRY) == plaintext


def test_tokens_sealed_without_joserfc_decrypt(decrypt: Any, keys: DestinationKeys) -> None:
    plain = b'{"a": "' + b"x" * 5000 + b'"}'
    assert decrypt(seal(header(), plain, public(keys)), keys.for_kid, REGISTRY) == plain
    assert decrypt(seal(header(zip="DEF"), deflate(plain), public(keys)), keys.for_kid, REGISTRY) == plain
    assert decrypt(seal(header(), b"", public(keys)), keys.for_kid, REGISTRY) == b""


# --- allow-list: refused before any key is looked up --------------------------------------------


@pytest.mark.parametrize(("alg", "enc"), [
    ("RSA1_5", "A256GCM"),
    ("RSA-OAEP", "A256GCM"),
    ("RSA-OAEP-256", "A128GCM"),
    ("RSA-OAEP-256", "A256CBC-HS512"),
])
def test_foreign_algorithms_are_refused_before_any_key(decrypt: Any, keys: DestinationKeys, alg: str, enc: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # RSA1_5 is deprecated, that is the point
        token = jwe.encrypt_compact({"alg": alg, "enc": enc, "kid": KID_2026}, b"secret", public(keys),
                                    algorithms=[alg, enc])
        # a real token: joserfc decrypts it when told to allow these algorithms ...
        assert jwe.decrypt_compact(token, private(keys), algorithms=[alg, enc]).plaintext == b"secret"
    lookup = Lookup(keys)
    with pytest.raises(jose.JoseFailure, match="algorithm not allowed"):
        decrypt(token, lookup, REGISTRY)  # ... we do not
    assert lookup.asked == []
    with pytest.raises(UnsupportedAlgorithmError):  # and neither does joserfc with our registry
        jwe.decrypt_compact(token, private(keys), registry=REGISTRY)


@pytest.mark.parametrize(("zip_name", "packed"), [
    ("GZIP", gzip.compress(b"{}")),
    ("def", deflate(b"{}")),
    ("", b"{}"),
])
def test_zip_other_than_def_is_refused(decrypt: Any, keys: DestinationKeys, zip_name: str, packed: bytes) -> None:
    lookup = Lookup(keys)
    with pytest.raises(jose.JoseFailure, match="compression not allowed"):
        decrypt(seal(header(zip=zip_name), packed, public(keys)), lookup, REGISTRY)
    assert lookup.asked == []


def test_crit_header_is_refused(decrypt: Any, keys: DestinationKeys) -> None:
    for extra in ({"crit": ["exp"], "exp": 1}, {"crit": []}, {"crit": ["cty"]}):
        lookup = Lookup(keys)
        with pytest.raises(jose.JoseFailure, match="algorithm not allowed"):
            decrypt(seal(header(**extra), b"{}", public(keys)), lookup, REGISTRY)
        assert lookup.asked == []


@pytest.mark.parametrize("extra", [{"x-custom": "1"}, {"kid": 2026}, {"cty": ["application/json"]}, {"jku": "ftp://x"}])
def test_header_failing_joserfc_header_check_is_refused(decrypt: Any, keys: DestinationKeys,
                                                        extra: dict[str, Any]) -> None:
    lookup = Lookup(keys)
    with pytest.raises(jose.JoseFailure, match="header not acceptable"):
        decrypt(seal(header(**extra), b"{}", public(keys)), lookup, REGISTRY)
    assert lookup.asked == []


def test_registry_holds_only_the_three_algorithms() -> None:
    assert {name: sorted(models) for name, models in REGISTRY.algorithms.items()} == {
        "alg": ["RSA-OAEP-256"], "enc": ["A256GCM"], "zip": ["DEF"]}
    for name in ("RSA-OAEP", "RSA1_5", "dir", "A128KW"):
        with pytest.raises(UnsupportedAlgorithmError):
            REGISTRY.get_alg(name)
    # each registry inflates with its own cap
    assert (_cap(REGISTRY), _cap(jose.FitConnectJWERegistry(1000, 123)), _cap(REGISTRY)) == (CAP, 123, CAP)


def _cap(registry: jose.FitConnectJWERegistry) -> int:
    model = registry.get_zip("DEF")
    assert isinstance(model, jose.CappedDeflate)
    return model.max_inflated


# --- size caps ------------------------------------------------------------------------------------


def test_oversized_token_is_refused_before_parsing(decrypt: Any, keys: DestinationKeys) -> None:
    small = jose.FitConnectJWERegistry(1000, 1000)
    lookup = Lookup(keys)
    token = jose.encrypt(b"y" * 50_000, public(keys), KID_2026, "text/plain", REGISTRY)
    with pytest.raises(jose.JoseFailure, match="size"):
        decrypt(token, lookup, small)
    with pytest.raises(jose.JoseFailure, match="size"):
        decrypt("A" * (small.max_compact_length + 1), lookup, small)  # not even a JWE: size first
    assert lookup.asked == []


def test_ciphertext_over_its_cap_is_refused_within_the_total(decrypt: Any, keys: DestinationKeys) -> None:
    small = jose.FitConnectJWERegistry(1000, 1000)
    token = seal(header(), b"z" * 900, public(keys))  # ciphertext 1200 characters, token ~2.1 KB
    assert len(token) <= small.max_compact_length
    lookup = Lookup(keys)
    with pytest.raises(jose.JoseFailure, match="size"):
        decrypt(token, lookup, small)
    assert lookup.asked == []
    assert decrypt(token, keys.for_kid, REGISTRY) == b"z" * 900


def test_oversized_header_and_key_segments_are_refused(decrypt: Any, keys: DestinationKeys) -> None:
    token = seal(header(), b"{}", public(keys))
    head, wrapped, rest = token.split(".", 2)
    for bad in (f"{b64(json.dumps(header(pad='x' * 2000)).encode())}.{wrapped}.{rest}",
                f"{head}.{wrapped}{'A' * 400}.{rest}"):
        with pytest.raises(jose.JoseFailure, match="size"):
            decrypt(bad, keys.for_kid, REGISTRY)


def test_zip_bomb_stops_at_the_cap_without_inflating(decrypt: Any, keys: DestinationKeys, bomb: str) -> None:
    assert len(bomb) < 128 * 1024
    lookup = Lookup(keys)
    tracemalloc.start()
    try:
        started = time.process_time()
        with pytest.raises(jose.JoseFailure, match="inflated content exceeds the size limit"):
            decrypt(bomb, lookup, REGISTRY)
        spent = time.process_time() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lookup.asked == [KID_2026]  # decrypted fine, then stopped while inflating
    # inflating fully would allocate 64 MB; the cap is 64 KB, the token itself ~90 KB
    assert peak < 2 * 1024 * 1024, peak
    assert spent < 1.0


def test_zip_bomb_is_capped_on_joserfcs_own_path_too(keys: DestinationKeys, bomb: str) -> None:
    with pytest.raises(ExceededSizeError):
        jwe.decrypt_compact(bomb, private(keys), registry=REGISTRY)


def test_inflation_cap_is_exact(decrypt: Any, keys: DestinationKeys) -> None:
    at_cap, over = b"a" * CAP, b"a" * (CAP + 1)
    assert decrypt(seal(header(zip="DEF"), deflate(at_cap), public(keys)), keys.for_kid, REGISTRY) == at_cap
    with pytest.raises(jose.JoseFailure, match="inflated content exceeds the size limit"):
        decrypt(seal(header(zip="DEF"), deflate(over), public(keys)), keys.for_kid, REGISTRY)


@pytest.mark.parametrize("packed", [
    deflate(os.urandom(4000))[:-20],  # truncated stream
    deflate(b"{}") + b"trailing",  # data after the end of the stream
    zlib.compress(b"{}"),  # zlib-wrapped, not raw DEFLATE (joserfc's own DEF model would accept it)
    b"\xff\xff\xff",  # not DEFLATE at all
])
def test_broken_deflate_is_refused(decrypt: Any, keys: DestinationKeys, packed: bytes) -> None:
    with pytest.raises(jose.JoseFailure, match="decompression failed"):
        decrypt(seal(header(zip="DEF"), packed, public(keys)), keys.for_kid, REGISTRY)


# --- tampering and malformed tokens ---------------------------------------------------------------


def _flip(segment: str) -> str:
    raw = bytearray(unb64(segment))
    raw[len(raw) // 2] ^= 0x01
    return b64(bytes(raw))


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4], ids=["header", "encrypted_key", "iv", "ciphertext", "tag"])
def test_tampered_segments_fail(decrypt: Any, keys: DestinationKeys, index: int) -> None:
    token = jose.encrypt(b"z" * 1000, public(keys), KID_2026, "text/plain", REGISTRY)
    parts = token.split(".")
    if index == 0:  # still an acceptable header, but not the one the tag covers
        parts[0] = b64(json.dumps(header(cty="text/html")).encode())
    else:
        parts[index] = _flip(parts[index])
    with pytest.raises(jose.JoseFailure, match="decryption failed"):
        decrypt(".".join(parts), keys.for_kid, REGISTRY)
    assert decrypt(token, keys.for_kid, REGISTRY) == b"z" * 1000


def test_short_iv_and_tag_are_refused(decrypt: Any, keys: DestinationKeys) -> None:
    parts = seal(header(), b"{}", public(keys)).split(".")
    for index in (2, 4):
        changed = list(parts)
        changed[index] = b64(unb64(changed[index])[:8])
        with pytest.raises(jose.JoseFailure):
            decrypt(".".join(changed), keys.for_kid, REGISTRY)


def test_non_canonical_base64url_is_refused(decrypt: Any, keys: DestinationKeys) -> None:
    token = seal(header(), b"{}", public(keys))
    head, tag = token.rsplit(".", 1)
    assert len(tag) == 22 and tag[-1] in "AQgw"
    twin = tag[:-1] + chr(ord(tag[-1]) + 1)  # unused low bits set: the same 16 bytes to a lax decoder
    assert unb64(twin) == unb64(tag)
    with pytest.raises(jose.JoseFailure):
        decrypt(f"{head}.{twin}", keys.for_kid, REGISTRY)
    with pytest.raises(jose.JoseFailure):
        decrypt(f"{head}.{tag}==", keys.for_kid, REGISTRY)


@pytest.mark.parametrize("mangle", [
    lambda t: t.replace(".", "..", 1),  # an empty extra segment
    lambda t: t[: t.rfind(".")],  # four segments
    lambda t: t + ".AAAA",  # six segments
    lambda t: t.replace("-", "+").replace("_", "/"),  # base64, not base64url
    lambda t: t + "ä",  # not ASCII
    lambda t: "." + t,  # empty header
])
def test_malformed_tokens_are_refused_cleanly(decrypt: Any, keys: DestinationKeys, mangle: Any) -> None:
    token = jose.encrypt(b"-_" * 500, public(keys), KID_2026, "text/plain", REGISTRY)
    lookup = Lookup(keys)
    with pytest.raises(jose.JoseFailure):
        decrypt(mangle(token), lookup, REGISTRY)
    if decrypt is jose.decrypt:  # refused while parsing, before any key (a stream ends where it ends)
        assert lookup.asked == []


def test_failure_messages_name_no_content(decrypt: Any, keys: DestinationKeys) -> None:
    token = jose.encrypt(b"GEHEIM-INHALT", public(keys), KID_2026, "text/plain", REGISTRY)
    parts = token.split(".")
    parts[4] = _flip(parts[4])
    with pytest.raises(jose.JoseFailure) as failure:
        decrypt(".".join(parts), keys.for_kid, REGISTRY)
    assert str(failure.value) == "decryption failed"
    assert failure.value.__cause__ is None and failure.value.__suppress_context__


# --- key choice by kid ----------------------------------------------------------------------------


def test_unknown_or_missing_kid_is_refused(decrypt: Any, keys: DestinationKeys) -> None:
    for protected in (header(kid="someone-else"), {"alg": "RSA-OAEP-256", "enc": "A256GCM"}):
        with pytest.raises(jose.JoseFailure, match="no decryption key for this kid"):
            decrypt(seal(protected, b"{}", public(keys)), keys.for_kid, REGISTRY)


def test_rotation_picks_the_key_named_by_kid(decrypt: Any, keys: DestinationKeys) -> None:
    for kid in (KID_2026, KID_2027):
        lookup = Lookup(keys)
        token = jose.encrypt(f"fuer {kid}".encode(), public(keys, kid), kid, "text/plain", REGISTRY)
        assert decrypt(token, lookup, REGISTRY) == f"fuer {kid}".encode()
        assert lookup.asked == [kid]
    # encrypted to the 2026 key but naming 2027: the named key is used, and fails
    crossed = seal(header(kid=KID_2027), b"{}", public(keys, KID_2026))
    with pytest.raises(jose.JoseFailure, match="decryption failed"):
        decrypt(crossed, keys.for_kid, REGISTRY)


def test_a_public_key_cannot_decrypt(decrypt: Any, keys: DestinationKeys) -> None:
    token = seal(header(), b"{}", public(keys))
    with pytest.raises(jose.JoseFailure, match="no private key"):
        decrypt(token, lambda kid: public(keys), REGISTRY)
