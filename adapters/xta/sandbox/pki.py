"""TEST ONLY: generate the test PKI for mutual TLS between the gateway and the sandbox.

    python -m adapters.xta.sandbox.pki fixtures/xta/tls

Writes a CA, a server certificate for 127.0.0.1/localhost and client certificates for the
demo municipality and the state-portal stand-in (PEM, EC P-256, valid for ten years). The
keys are published on purpose: they protect nothing and must never be used outside tests.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID = dt.timedelta(days=3650)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Rathaus-Gateway TEST ONLY"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(directory: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    (directory / f"{stem}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (directory / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue(ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, common_name: str,
           usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]) -> tuple[ec.EllipticCurvePrivateKey,
                                                                              x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + VALID)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def generate(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    ca = (x509.CertificateBuilder().subject_name(_name("XTA Sandbox Test CA")).issuer_name(_name("XTA Sandbox Test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + VALID)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    _write(directory, "ca", ca_key, ca)
    server_sans: list[x509.GeneralName] = [x509.DNSName("localhost"),
                                           x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    _write(directory, "server", *_issue(ca_key, ca, "localhost", ExtendedKeyUsageOID.SERVER_AUTH, server_sans))
    for stem, cn in (("client-tangerhuette", "wgb:150905350535 Stadt Tangerhuette"),
                     ("client-landesportal", "wgb:150000000000 Landesportal")):
        _write(directory, stem, *_issue(ca_key, ca, cn, ExtendedKeyUsageOID.CLIENT_AUTH, []))


if __name__ == "__main__":
    generate(Path(sys.argv[1] if len(sys.argv) > 1 else "fixtures/xta/tls"))
