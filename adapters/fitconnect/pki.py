"""Test-PKI tooling: RSA-4096 keys, CA and leaf certificates, CSRs, JWKs with ``x5c``.

Used by the ``rathaus-gateway fitconnect`` CLI and to make the fixtures in ``fixtures/pki``
and ``fixtures/fitconnect``. Nothing here is meant for production keys: production keys
come from the Verwaltungs-PKI, the gateway only reads them from files.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

Usage = Literal["encryption", "signature"]

KEY_BITS = 4096  # FIT-Connect requires RSA keys of 4096 bits for destinations


def generate_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Rathaus-Gateway TEST PKI (not for production)"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _usage_flags(usage: Usage | None) -> x509.KeyUsage:
    # CA: certificate and CRL signing; encryption leaf: keyEncipherment (wrapKey);
    # signature leaf: digitalSignature (SET signing).
    return x509.KeyUsage(
        digital_signature=usage == "signature",
        content_commitment=False,
        key_encipherment=usage == "encryption",
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=usage is None,
        crl_sign=usage is None,
        encipher_only=False,
        decipher_only=False,
    )


def issue_certificate(
    public_key: rsa.RSAPublicKey,
    common_name: str,
    issuer_key: rsa.RSAPrivateKey,
    issuer_cert: x509.Certificate | None,
    usage: Usage | None,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    """Issue a CA certificate (``usage=None``) or a leaf for encryption/signature.

    With ``issuer_cert=None`` the certificate is self-signed (a root).
    """
    subject = _name(common_name)
    issuer = issuer_cert.subject if issuer_cert is not None else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=usage is None, path_length=None), critical=True)
        .add_extension(_usage_flags(usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer_cert is not None:
        issuer_public = issuer_cert.public_key()
        assert isinstance(issuer_public, rsa.RSAPublicKey)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_csr(key: rsa.RSAPrivateKey, common_name: str, usage: Usage) -> x509.CertificateSigningRequest:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(common_name))
        .add_extension(_usage_flags(usage), critical=True)
        .sign(key, hashes.SHA256())
    )


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def private_jwk(key: rsa.RSAPrivateKey, kid: str, usage: Usage, chain: list[x509.Certificate]) -> dict[str, object]:
    """A private JWK as FIT-Connect tools store it: kid, alg, key_ops and the x5c chain."""
    priv = key.private_numbers()
    pub = priv.public_numbers
    return {
        "kty": "RSA",
        "kid": kid,
        "alg": "RSA-OAEP-256" if usage == "encryption" else "PS512",
        "key_ops": ["unwrapKey"] if usage == "encryption" else ["sign"],
        "n": _b64url_uint(pub.n),
        "e": _b64url_uint(pub.e),
        "d": _b64url_uint(priv.d),
        "p": _b64url_uint(priv.p),
        "q": _b64url_uint(priv.q),
        "dp": _b64url_uint(priv.dmp1),
        "dq": _b64url_uint(priv.dmq1),
        "qi": _b64url_uint(priv.iqmp),
        "x5c": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii") for c in chain],
    }


PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")
PUBLIC_OPS = {"unwrapKey": "wrapKey", "decrypt": "encrypt", "sign": "verify"}


def public_jwk(private: dict[str, object]) -> dict[str, object]:
    """The public half of a private JWK, with key_ops mapped to their public counterparts."""
    public = {k: v for k, v in private.items() if k not in PRIVATE_MEMBERS}
    ops = private.get("key_ops")
    if isinstance(ops, list):
        public["key_ops"] = [PUBLIC_OPS.get(str(op), str(op)) for op in ops]
    return public


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_key_pem(data: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key
