"""The citizen postbox (BundID *Zentrales Bürgerpostfach*, ZBP) reached through FIT-Connect:
the service identifiers, the signed envelope and the author's key.

A message to a citizen's mailbox (service ``message_v6``) or a status update for the
application status monitor (``status_v6``) is an ordinary FIT-Connect submission to the ZBP
bridge destination. Its data is an *envelope*::

    {"content": "<the message or status object as a JSON string>",
     "sha512sum": "<base64 of an RSASSA-PKCS1-v1_5 SHA-512 signature over the content's bytes>",
     "authorToken": "<JWT, RS512: iat, exp = iat + 1800, signer = CN of the certificate, roles [THIRD_PARTY]>",
     "authorCertificate": "<the author's X.509 certificate, PEM>"}

Sources (facts only, no code copied; details and confidence in ``adapters/fitconnect/README.md``,
section *Citizen postbox*): the PHP client optiGov/php-fitconnect @ 8dac2d6 (``EnvelopeBuilder``,
``Signer``: the four members, ``sha512sum`` as PKCS#1 v1.5 + SHA-512 in standard base64, the JWT
header and claims), two users of the official Java SDK's ZBP module (``ZBPEnvelopeBuilder``, the
service name), a ZBP integration-test suite calling ``int.zbp.bund.de`` directly (``openssl dgst
-sha512 -sign`` over the exact content bytes, base64) and docs.fitko.de (ZBP pages, beginnings).
Unverified: the published schema file, the token's claim set and lifetime (one source).
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.jwk import RSAKey

from gateway.errors import ConfigurationError

MESSAGE_SERVICE = "urn:schema-fitko-de:fit-connect:id.bund.de:message_v6"
STATUS_SERVICE = "urn:schema-fitko-de:fit-connect:id.bund.de:status_v6"
SERVICE_NAMES = {MESSAGE_SERVICE: "ZBP Message Forwarding", STATUS_SERVICE: "ZBP State Forwarding"}
# the data schema of both services (no separate status schema URI is known anywhere)
SCHEMA_URI = "https://schema.fitko.de/fit-connect/id.bund.de/message_v6/1.0.0/zbp-message.schema.json"
AUTHOR_TOKEN_ALG = "RS512"  # noqa: S105 - an algorithm name, not a secret
TOKEN_LIFETIME_SECONDS = 1800
AUTHOR_ROLE = "THIRD_PARTY"
MIN_AUTHOR_KEY_BITS = 2048  # the BPKI's key size is not known here; never below 2048
ENVELOPE_MEMBERS = ("content", "sha512sum", "authorToken", "authorCertificate")


@dataclass(frozen=True)
class Author:
    """The authority that writes to citizens' postboxes: its signing key and certificate (in
    production both from the BPKI; here the TEST PKI). ``signer`` is the certificate's CN."""

    key: rsa.RSAPrivateKey
    jose_key: RSAKey
    certificate: x509.Certificate
    certificate_pem: str
    signer: str

    @classmethod
    def load(cls, key_file: Path, certificate_file: Path, now: dt.datetime | None = None) -> Author:
        try:
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            certificate = x509.load_pem_x509_certificate(certificate_file.read_bytes())
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigurationError(f"ZBP author key or certificate unreadable: {type(exc).__name__}") from None
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_AUTHOR_KEY_BITS:
            raise ConfigurationError(f"ZBP author key must be RSA with at least {MIN_AUTHOR_KEY_BITS} bits")
        public = certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey) or public.public_numbers() != key.public_key().public_numbers():
            raise ConfigurationError("ZBP author certificate does not belong to the author key")
        now = now or dt.datetime.now(dt.UTC)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise ConfigurationError("ZBP author certificate is outside its validity period")
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if len(names) != 1:
            raise ConfigurationError("ZBP author certificate needs exactly one common name (the token's signer)")
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
        return cls(key=key, jose_key=RSAKey.import_key(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
            certificate=certificate, certificate_pem=pem, signer=str(names[0].value))


def content_signature(content: bytes, key: rsa.RSAPrivateKey) -> str:
    """``sha512sum``: RSASSA-PKCS1-v1_5 with SHA-512 over exactly these bytes, standard base64."""
    return base64.b64encode(key.sign(content, padding.PKCS1v15(), hashes.SHA512())).decode("ascii")


def author_token(author: Author, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {"iat": issued, "exp": issued + TOKEN_LIFETIME_SECONDS, "signer": author.signer, "roles": [AUTHOR_ROLE]}
    return jws.serialize_compact({"typ": "JWT", "alg": AUTHOR_TOKEN_ALG}, orjson.dumps(claims), author.jose_key,
                                 algorithms=[AUTHOR_TOKEN_ALG])


def envelope(content: bytes, author: Author, now: float | None = None) -> bytes:
    """The FIT-Connect data of a ZBP submission: ``content`` (the payload's JSON, UTF-8) signed
    as it is -- the receiver verifies these very bytes, so they are never re-serialised."""
    return orjson.dumps({
        "content": content.decode("utf-8"),
        "sha512sum": content_signature(content, author.key),
        "authorToken": author_token(author, now),
        "authorCertificate": author.certificate_pem,
    })


def created_date(now: dt.datetime) -> str:
    """``createdDate`` of a status update: UTC with milliseconds, ``2025-01-14T15:15:42.198Z``."""
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
