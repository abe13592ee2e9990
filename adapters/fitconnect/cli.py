"""``rathaus-gateway fitconnect ...``: test keys, test-PKI certificates and CSRs.

Everything this creates is for the TEST PKI only. Production destination keys are issued
by the Verwaltungs-PKI; for those, create a key and a CSR here (``csr``) and hand the CSR
to the PKI, then put the returned chain into the key file's ``x5c``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.fitconnect import pki
from adapters.fitconnect.keys import private_key_from_jwk

app = typer.Typer(help="FIT-Connect channel: test keys, test-PKI certificates, CSRs.", no_args_is_help=True)

UsageOpt = Annotated[str, typer.Option(help="encryption | signature")]


def _usage(value: str) -> pki.Usage:
    if value not in ("encryption", "signature"):
        raise typer.BadParameter("usage must be 'encryption' or 'signature'")
    return "encryption" if value == "encryption" else "signature"


def _validity(days: int) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    return start, start + dt.timedelta(days=days)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    typer.echo(f"wrote {path}")


@app.command("init-test-pki")
def init_test_pki(out: Path = Path("fixtures/pki"), days: int = 7300) -> None:
    """Create a TEST root CA and an intermediate CA (RSA-4096) in OUT."""
    start, end = _validity(days)
    root_key = pki.generate_rsa()
    root = pki.issue_certificate(root_key.public_key(), "Rathaus-Gateway TEST Root CA", root_key, None,
                                 None, start, end)
    inter_key = pki.generate_rsa()
    inter = pki.issue_certificate(inter_key.public_key(), "Rathaus-Gateway TEST Intermediate CA", root_key,
                                  root, None, start, end)
    _write(out / "test-root-ca.pem", pki.cert_pem(root))
    _write(out / "test-root-ca.key.pem", pki.key_pem(root_key))
    _write(out / "test-intermediate-ca.pem", pki.cert_pem(inter))
    _write(out / "test-intermediate-ca.key.pem", pki.key_pem(inter_key))


def issue_key_file(kid: str, usage: pki.Usage, common_name: str, ca_cert: Path, ca_key: Path,
                   out: Path, days: int, key: rsa.RSAPrivateKey | None = None) -> dict[str, object]:
    """Create (or reuse) a key, certify it under the CA and write it as a private JWK file."""
    issuer = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    issuer_key = pki.load_key_pem(ca_key.read_bytes())
    key = key or pki.generate_rsa()
    start, end = _validity(days)
    leaf = pki.issue_certificate(key.public_key(), common_name, issuer_key, issuer, usage, start, end)
    # x5c: leaf first, then the issuing CA unless it is itself the (self-signed) anchor.
    chain = [leaf] if issuer.issuer == issuer.subject else [leaf, issuer]
    jwk = pki.private_jwk(key, kid, usage, chain)
    _write(out, (json.dumps(jwk, indent=2) + "\n").encode())
    return jwk


@app.command("create-key")
def create_key(
    kid: str,
    out: Path,
    usage: UsageOpt = "encryption",
    common_name: str = "TEST destination key",
    ca_cert: Path = Path("fixtures/pki/test-intermediate-ca.pem"),
    ca_key: Path = Path("fixtures/pki/test-intermediate-ca.key.pem"),
    days: int = 3650,
) -> None:
    """Create an RSA-4096 key with a TEST-PKI certificate, written as a private JWK with x5c."""
    issue_key_file(kid, _usage(usage), common_name, ca_cert, ca_key, out, days)


@app.command("renew-cert")
def renew_cert(
    key_file: Path,
    usage: UsageOpt = "encryption",
    common_name: str = "TEST destination key",
    ca_cert: Path = Path("fixtures/pki/test-intermediate-ca.pem"),
    ca_key: Path = Path("fixtures/pki/test-intermediate-ca.key.pem"),
    days: int = 3650,
) -> None:
    """Issue a new TEST certificate for an existing key file (keeps the key and kid)."""
    jwk = json.loads(key_file.read_text())
    issue_key_file(str(jwk["kid"]), _usage(usage), common_name, ca_cert, ca_key, key_file, days,
                   key=private_key_from_jwk(jwk))


@app.command("create-author-key")
def create_author_key(
    out: Path,
    common_name: str = "TEST authority (ZBP author)",
    ca_cert: Path = Path("fixtures/pki/test-intermediate-ca.pem"),
    ca_key: Path = Path("fixtures/pki/test-intermediate-ca.key.pem"),
    days: int = 3650,
) -> None:
    """Create the signing key of an authority writing to the citizen postbox (ZBP) with a TEST
    certificate: OUT.key.pem (PKCS#8) and OUT.cert.pem. In production both come from the BPKI."""
    issuer = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    key = pki.generate_rsa()
    start, end = _validity(days)
    cert = pki.issue_certificate(key.public_key(), common_name, pki.load_key_pem(ca_key.read_bytes()), issuer,
                                 "signature", start, end)
    _write(out.with_name(out.name + ".key.pem"), pki.key_pem(key))
    _write(out.with_name(out.name + ".cert.pem"), pki.cert_pem(cert))


@app.command("csr")
def create_csr(key_file: Path, out: Path, usage: UsageOpt = "encryption",
               common_name: str = "destination key") -> None:
    """Write a PEM CSR for the key in KEY_FILE (a private JWK), e.g. for the Verwaltungs-PKI."""
    key = private_key_from_jwk(json.loads(key_file.read_text()))
    csr = pki.make_csr(key, common_name, _usage(usage))
    _write(out, csr.public_bytes(serialization.Encoding.PEM))


@app.command("public-jwk")
def show_public_jwk(key_file: Path) -> None:
    """Print the public JWK (with x5c) of a private key file, as published for a destination."""
    typer.echo(json.dumps(pki.public_jwk(json.loads(key_file.read_text())), indent=2))
