"""The applicant's OpenPGP key: good keys pass, every kind of bad key is a clear permanent error."""

from __future__ import annotations

import pysequoia
import pytest

from adapters.email import testing
from adapters.email.errors import RecipientKeyUnusable
from adapters.email.options import PgpPolicy
from adapters.email.pgpkey import parse_recipient_key
from gateway.errors import PermanentError

POLICY = PgpPolicy()


@pytest.mark.parametrize(("name", "described"), [("citizen-rsa3072.pub", ("RSA-3072",)),
                                                 ("citizen-cv25519.pub", ("ECDH Curve25519",))])
def test_a_gnupg_key_is_accepted_with_its_encryption_key_named(name: str, described: tuple[str, ...]) -> None:
    key = parse_recipient_key(testing.key(name), POLICY)
    assert key.encryption_keys == described
    assert len(key.fingerprint) == 40


@pytest.mark.parametrize(("name", "reason"), [
    ("expired.pub", "has expired"),
    ("revoked.pub", "is revoked"),
    ("sign-only.pub", "no usable encryption key"),
    ("rsa1024.pub", "no longer secure"),
    ("dsa-elgamal.pub", "ElGamalEncrypt, which is not accepted"),
    ("secret-instead-of-public", "not an ASCII-armored OpenPGP public key block"),
])
def test_a_bad_key_is_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(RecipientKeyUnusable, match=reason) as caught:
        parse_recipient_key(testing.key(name), POLICY)
    assert isinstance(caught.value, PermanentError)


def test_secret_key_material_under_a_public_armor_is_refused() -> None:
    secret = pysequoia.Tsk.from_bytes(testing.key("citizen-cv25519.sec").encode())
    disguised = pysequoia.armor(bytes(secret), pysequoia.ArmorKind.PublicKey)
    with pytest.raises(RecipientKeyUnusable, match="secret key material"):
        parse_recipient_key(disguised, POLICY)


def test_two_certificates_in_one_block_are_refused() -> None:
    both = b"".join(bytes(pysequoia.Cert.from_bytes(testing.key(n).encode()))
                    for n in ("citizen-rsa3072.pub", "citizen-cv25519.pub"))
    with pytest.raises(RecipientKeyUnusable, match="holds 2 certificates"):
        parse_recipient_key(pysequoia.armor(both, pysequoia.ArmorKind.PublicKey), POLICY)


@pytest.mark.parametrize("text", [
    "not a key at all",
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----",
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n\x00\x01\n-----END PGP PUBLIC KEY BLOCK-----",
])
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(RecipientKeyUnusable):
        parse_recipient_key(text, POLICY)


def test_an_oversized_key_is_refused_before_parsing() -> None:
    huge = testing.key("citizen-rsa3072.pub").replace("\n\n", "\n\n" + "A" * 70_000 + "\n", 1)
    with pytest.raises(RecipientKeyUnusable, match="larger than 65536 bytes"):
        parse_recipient_key(huge, POLICY)


def test_rsa_below_the_policy_minimum_is_refused_and_accepted_when_allowed() -> None:
    tsk = pysequoia.Tsk.generate("RSA 2048 (TEST ONLY) <rsa2048@example.org>", profile=pysequoia.Profile.RFC4880,
                                 cipher_suite=pysequoia.CipherSuite.RSA2k)
    armored = pysequoia.armor(bytes(tsk.extract_certificate()), pysequoia.ArmorKind.PublicKey)
    with pytest.raises(RecipientKeyUnusable, match="RSA encryption key of 2048 bits"):
        parse_recipient_key(armored, POLICY)
    assert parse_recipient_key(armored, PgpPolicy(min_rsa_bits=2048)).encryption_keys == ("RSA-2048",)


def test_a_curve_left_out_of_the_allow_list_is_refused() -> None:
    policy = PgpPolicy(allowed_curves=frozenset({"NIST P-256"}))
    with pytest.raises(RecipientKeyUnusable, match="ECDH on Curve25519"):
        parse_recipient_key(testing.key("citizen-cv25519.pub"), policy)
