"""Key pairs and certificates as the SAML code needs them: PEM for python-xmlsec, DER base64
for metadata, ``cryptography`` objects for the HTTP-Redirect binding's query signature."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.errors import ConfigurationError

MIN_RSA_BITS = 2048
_LOADED: dict[tuple[str, str, tuple[tuple[int, int], ...]], KeyPair] = {}


@dataclass(frozen=True)
class Certificate:
    """An X.509 certificate; ``b64`` is its DER in base64 as ``ds:X509Certificate`` holds it."""

    cert: x509.Certificate

    @classmethod
    def from_pem(cls, pem: bytes) -> Certificate:
        return cls(x509.load_pem_x509_certificate(pem))

    @classmethod
    def from_b64(cls, text: str) -> Certificate:
        der = base64.b64decode("".join(text.split()), validate=True)
        return cls(x509.load_der_x509_certificate(der))

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def b64(self) -> str:
        return base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()

    def public_key(self) -> rsa.RSAPublicKey:
        key = self.cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
            raise ValueError(f"only RSA keys of at least {MIN_RSA_BITS} bits are accepted")
        return key

    def valid_at(self, when: dt.datetime) -> bool:
        return self.cert.not_valid_before_utc <= when <= self.cert.not_valid_after_utc


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    private_key: rsa.RSAPrivateKey
    certificate: Certificate

    @classmethod
    def load(cls, key_file: Path, cert_file: Path) -> KeyPair:
        """Load and check a key pair; the RSA key check is slow (about a quarter second for
        3072 bits), so a pair whose files are unchanged is loaded once per process."""
        try:
            stamp = tuple((p.stat().st_mtime_ns, p.stat().st_size) for p in (key_file, cert_file))
        except OSError:
            stamp = ()
        cache_key = (str(key_file), str(cert_file), stamp)
        if cache_key not in _LOADED:
            _LOADED[cache_key] = cls._load(key_file, cert_file)
        return _LOADED[cache_key]

    @classmethod
    def _load(cls, key_file: Path, cert_file: Path) -> KeyPair:
        try:
            private_pem = key_file.read_bytes()
            key = serialization.load_pem_private_key(private_pem, password=None)
            certificate = Certificate.from_pem(cert_file.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot load the key pair {key_file.name} / {cert_file.name}: "
                                     f"{type(exc).__name__}") from None
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_BITS:
            raise ConfigurationError(f"{key_file.name}: an RSA key of at least {MIN_RSA_BITS} bits is needed")
        if key.public_key().public_numbers() != certificate.public_key().public_numbers():
            raise ConfigurationError(f"{cert_file.name} does not belong to {key_file.name}")
        return cls(private_pem, key, certificate)
