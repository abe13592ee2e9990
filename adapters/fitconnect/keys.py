"""The gateway's own destination keys, loaded once from files named in the configuration.

Keys are parsed once at start-up and kept as joserfc key objects: re-parsing an RSA-4096
private key costs more than the decryption itself (see the intake benchmark).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

from adapters.fitconnect import pki
from gateway.errors import ConfigurationError


def private_key_from_jwk(jwk: dict[str, Any]) -> rsa.RSAPrivateKey:
    key = RSAKey.import_key(jwk).private_key
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError("key file holds no RSA private key")
    return key


def jose_key(jwk: dict[str, Any]) -> RSAKey:
    """A joserfc key for a JWK whose usage we have checked ourselves.

    FIT-Connect JWKs say ``key_ops: [wrapKey]``/``[unwrapKey]`` (RFC 7517 names for key
    wrapping), while joserfc asks for ``encrypt``/``decrypt`` on RSA-OAEP; the usage is
    enforced by :mod:`adapters.fitconnect.keycheck` and by the loader here, so the joserfc
    key object is built without ``key_ops``.
    """
    return RSAKey.import_key({k: v for k, v in jwk.items() if k not in ("key_ops", "x5c")})


@dataclass(frozen=True)
class OwnKey:
    kid: str
    key: RSAKey
    public_jwk: dict[str, object]


_LOADED: dict[tuple[str, int, int, str], OwnKey] = {}


def load_own_key(path: Path, usage: pki.Usage) -> OwnKey:
    """Load a private JWK file (cached while the file is unchanged).

    Loading validates the RSA-4096 private key, which takes a quarter of a second; a gateway
    that is rebuilt (tests, reloads) must not pay that again for the same file.
    """
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigurationError(f"cannot read FIT-Connect key file {path.name}: {type(exc).__name__}") from None
    cache_key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, usage)
    if cache_key not in _LOADED:
        _LOADED[cache_key] = _load_own_key(path, usage)
    return _LOADED[cache_key]


def _load_own_key(path: Path, usage: pki.Usage) -> OwnKey:
    """Read a private JWK file and check it is an RSA-4096 key for ``usage`` with a kid."""
    try:
        jwk = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read FIT-Connect key file {path.name}: {type(exc).__name__}") from None
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or not jwk.get("kid") or "d" not in jwk:
        raise ConfigurationError(f"{path.name}: not a private RSA JWK with a kid")
    expected_alg = "RSA-OAEP-256" if usage == "encryption" else "PS512"
    if jwk.get("alg") != expected_alg:
        raise ConfigurationError(f"{path.name}: alg must be {expected_alg} for a {usage} key")
    key = jose_key(jwk)
    private = key.private_key
    if not isinstance(private, rsa.RSAPrivateKey) or private.key_size != pki.KEY_BITS:
        raise ConfigurationError(f"{path.name}: FIT-Connect requires RSA keys of {pki.KEY_BITS} bits")
    return OwnKey(kid=str(jwk["kid"]), key=key, public_jwk=pki.public_jwk(jwk))


@dataclass(frozen=True)
class DestinationKeys:
    """Decryption keys by kid (two during a rotation) and the signing key of one destination.

    A JWE names its key in the ``kid`` header. Besides the key's ``kid``, the RFC 7638 JWK
    thumbprint of the public key is accepted as its name: the FIT-Connect client libraries on
    PyPI (``fitconnect``, ``fitconnect-client``) put the thumbprint there instead of the kid
    published at ``/v1/destinations/{id}/keys/{kid}``. A thumbprint names exactly one key.
    """

    decryption: dict[str, OwnKey]
    signing: OwnKey
    thumbprints: dict[str, OwnKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.thumbprints:
            self.thumbprints.update({own.key.thumbprint(): own for own in self.decryption.values()})

    @classmethod
    def load(cls, decryption_files: list[Path], signing_file: Path) -> DestinationKeys:
        decryption: dict[str, OwnKey] = {}
        for path in decryption_files:
            own = load_own_key(path, "encryption")
            if own.kid in decryption:
                raise ConfigurationError(f"{path.name}: kid {own.kid!r} is used by two decryption keys")
            decryption[own.kid] = own
        return cls(decryption=decryption, signing=load_own_key(signing_file, "signature"))

    def for_kid(self, kid: object) -> RSAKey | None:
        """The decryption key a JWE names in its header by kid or thumbprint (either key during a rotation)."""
        if not isinstance(kid, str):
            return None
        own = self.decryption.get(kid) or self.thumbprints.get(kid)
        return own.key if own is not None else None
