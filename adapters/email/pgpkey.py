"""The applicant's OpenPGP key: parse and check it before anything is encrypted to it.

Parsing and encryption are Sequoia-PGP's (``pysequoia``, no gpg binary); this module adds the
gateway's own rules on top of Sequoia's standard policy: size caps before parsing, exactly one
public certificate and no secret key material, not revoked, not expired, and every live
encryption-capable key on an allow-list (RSA within bit limits, named ECDH curves, X25519/X448,
optionally ML-KEM composites). Sequoia encrypts to *every* live encryption key of a certificate,
so one weak key makes the whole certificate unusable here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pysequoia
from pysequoia.packet import PacketPile, PublicKeyAlgorithm, SignatureType, Tag

from adapters.email.errors import RecipientKeyUnusable
from adapters.email.options import PgpPolicy

_ARMOR_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
_ARMOR_END = "-----END PGP PUBLIC KEY BLOCK-----"
_ARMOR_CHARS = re.compile(r"^[\x20-\x7e\r\n\t]*$")

# DER contents of the curve OIDs (RFC 6637, RFC 9580 section 9.2).
_CURVES: dict[bytes, str] = {
    bytes.fromhex("2b060104019755010501"): "Curve25519",
    bytes.fromhex("2b656e"): "X25519",
    bytes.fromhex("2b656f"): "X448",
    bytes.fromhex("2a8648ce3d030107"): "NIST P-256",
    bytes.fromhex("2b81040022"): "NIST P-384",
    bytes.fromhex("2b81040023"): "NIST P-521",
    bytes.fromhex("2b2403030208010107"): "brainpoolP256r1",
    bytes.fromhex("2b240303020801010b"): "brainpoolP384r1",
    bytes.fromhex("2b240303020801010d"): "brainpoolP512r1",
}
_KEY_TAGS = (Tag.PublicKey, Tag.PublicSubkey)
_REVOCATIONS = (SignatureType.KeyRevocation, SignatureType.SubkeyRevocation)


@dataclass(frozen=True)
class RecipientKey:
    """A checked certificate, ready for :func:`encrypt_to`."""

    cert: pysequoia.Cert
    fingerprint: str
    encryption_keys: tuple[str, ...]  # e.g. ("RSA-3072",) or ("ECDH Curve25519",)


@dataclass
class _Key:
    algorithm: PublicKeyAlgorithm
    body: bytes
    created: datetime | None
    encrypts: bool | None = None  # None: no key flags seen
    validity_seconds: float | None = None
    revoked: bool = False


def _describe(key: _Key, policy: PgpPolicy) -> str:
    """A short name of an encryption key, or raise if the policy does not allow it."""
    material = key.body[6:]
    if key.body[:1] == b"\x06":  # v6 keys put a four-octet length before the key material
        material = material[4:]
    algo = key.algorithm
    if algo == PublicKeyAlgorithm.RSAEncryptSign:
        bits = int.from_bytes(material[:2], "big") if len(material) >= 2 else 0
        if not policy.min_rsa_bits <= bits <= policy.max_rsa_bits:
            raise RecipientKeyUnusable(f"the applicant's key has an RSA encryption key of {bits} bits; "
                                       f"{policy.min_rsa_bits} to {policy.max_rsa_bits} are accepted")
        return f"RSA-{bits}"
    if algo == PublicKeyAlgorithm.ECDH:
        size = material[0] if material else 0
        curve = _CURVES.get(bytes(material[1:1 + size]), "unknown curve")
        if curve not in policy.allowed_curves:
            raise RecipientKeyUnusable(f"the applicant's key encrypts with ECDH on {curve}, which is not accepted")
        return f"ECDH {curve}"
    if algo in (PublicKeyAlgorithm.X25519, PublicKeyAlgorithm.X448):
        name = "X25519" if algo == PublicKeyAlgorithm.X25519 else "X448"
        if name not in policy.allowed_curves:
            raise RecipientKeyUnusable(f"the applicant's key encrypts with {name}, which is not accepted")
        return name
    if algo in (PublicKeyAlgorithm.MLKEM768_X25519, PublicKeyAlgorithm.MLKEM1024_X448) and policy.allow_post_quantum:
        return "ML-KEM-768+X25519" if algo == PublicKeyAlgorithm.MLKEM768_X25519 else "ML-KEM-1024+X448"
    name = repr(algo).rsplit(".", 1)[-1][:40]
    raise RecipientKeyUnusable(f"the applicant's key encrypts with {name}, which is not accepted")


def _keys(raw: bytes, policy: PgpPolicy) -> list[_Key]:
    packets = list(PacketPile.from_bytes(raw))
    if len(packets) > policy.max_packets:
        raise RecipientKeyUnusable(f"the applicant's key has more than {policy.max_packets} packets")
    if any(p.tag in (Tag.SecretKey, Tag.SecretSubkey) for p in packets):
        raise RecipientKeyUnusable("the key block holds secret key material; only a public key is accepted")
    keys: list[_Key] = []
    for packet in packets:
        if packet.tag in _KEY_TAGS:
            assert packet.key_algorithm is not None
            keys.append(_Key(packet.key_algorithm, bytes(packet.body), packet.key_created))
        elif packet.tag == Tag.Signature and keys:
            key = keys[-1]
            if packet.signature_type in _REVOCATIONS:
                key.revoked = True
            flags = packet.key_flags
            if flags is not None:
                key.encrypts = bool(key.encrypts) or flags.transport_encryption or flags.storage_encryption
            if packet.key_validity_period is not None:
                key.validity_seconds = packet.key_validity_period.total_seconds()
    return keys


def _alive(key: _Key, now: datetime) -> bool:
    if key.revoked:
        return False
    if key.validity_seconds and key.created is not None:
        return (now - key.created).total_seconds() < key.validity_seconds
    return True


def parse_recipient_key(armored: str, policy: PgpPolicy, now: datetime | None = None) -> RecipientKey:
    """Parses and checks an applicant's ASCII-armored public key; raises RecipientKeyUnusable."""
    now = now or datetime.now(UTC)
    if len(armored.encode("utf-8")) > policy.max_key_bytes:
        raise RecipientKeyUnusable(f"the applicant's key is larger than {policy.max_key_bytes} bytes")
    text = armored.strip()
    if not (text.startswith(_ARMOR_BEGIN) and text.endswith(_ARMOR_END)) or not _ARMOR_CHARS.match(text):
        raise RecipientKeyUnusable("the applicant's key is not an ASCII-armored OpenPGP public key block")
    try:
        certs = pysequoia.Cert.split_bytes(text.encode("ascii"))
    except (RuntimeError, ValueError):
        raise RecipientKeyUnusable("the applicant's key cannot be parsed") from None
    if len(certs) != 1:
        raise RecipientKeyUnusable(f"the key block holds {len(certs)} certificates; exactly one is needed")
    cert = certs[0]
    try:
        keys = _keys(text.encode("ascii"), policy)
        if cert.is_revoked:
            raise RecipientKeyUnusable("the applicant's key is revoked")
        expiration = cert.expiration
    except RuntimeError:
        # Sequoia's standard policy refuses the primary key outright (e.g. RSA-1024, SHA-1 bindings).
        raise RecipientKeyUnusable("the applicant's key uses algorithms that are no longer secure") from None
    if expiration is not None and expiration <= now:
        raise RecipientKeyUnusable("the applicant's key has expired")
    # A key without any key flags may still be used for encryption by some implementations; judge it too.
    candidates = [k for k in keys if k.encrypts is not False and _alive(k, now)]
    described = tuple(_describe(k, policy) for k in candidates if k.encrypts or _can_encrypt(k.algorithm))
    if not described:
        raise RecipientKeyUnusable("the applicant's key has no usable encryption key")
    try:
        pysequoia.encrypt(b"probe", [cert])
    except RuntimeError:
        raise RecipientKeyUnusable("the applicant's key has no encryption key Sequoia's policy accepts") from None
    return RecipientKey(cert=cert, fingerprint=cert.fingerprint, encryption_keys=described)


def _can_encrypt(algorithm: PublicKeyAlgorithm) -> bool:
    return algorithm not in (PublicKeyAlgorithm.EdDSA, PublicKeyAlgorithm.Ed25519, PublicKeyAlgorithm.Ed448,
                             PublicKeyAlgorithm.ECDSA, PublicKeyAlgorithm.DSA, PublicKeyAlgorithm.RSASign,
                             PublicKeyAlgorithm.MLDSA65_Ed25519, PublicKeyAlgorithm.MLDSA87_Ed448,
                             PublicKeyAlgorithm.SLHDSA128f, PublicKeyAlgorithm.SLHDSA128s,
                             PublicKeyAlgorithm.SLHDSA256s)


def encrypt_to(key: RecipientKey, plaintext: bytes) -> bytes:
    """ASCII-armored OpenPGP message for ``key`` (Sequoia picks the packet versions the key advertises)."""
    try:
        return pysequoia.encrypt(plaintext, [key.cert], armor=True)
    except RuntimeError:
        raise RecipientKeyUnusable("encryption to the applicant's key failed") from None
