"""Configuration of the e-mail reply adapter (``adapters: {email: {...}}`` in the gateway settings).

Secrets (the relay password) come from the settings file or the environment, never from code.
"""

from __future__ import annotations

import ipaddress
import string
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from adapters.email.model import EMAIL_ADDRESS_PATTERN

REFERENCE_PLACEHOLDER = "reference"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RelayOptions(_Strict):
    """The SMTP relay (submission server) the gateway hands its mail to."""

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(587, ge=1, le=65535)
    tls: Literal["starttls", "none-test-only"] = Field(
        "starttls", description="starttls: required, the relay certificate is verified; none-test-only: "
        "plain SMTP, allowed only to a loopback relay (tests)")
    ca_file: Path | None = Field(None, description="PEM CA bundle for the relay certificate; system CAs if "
                                 "unset (relative to the gateway's base dir)")
    username: str | None = None
    password: SecretStr | None = None
    local_hostname: str | None = Field(None, description="name sent in EHLO; the host's FQDN if unset")
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="connect and every single SMTP exchange")

    @model_validator(mode="after")
    def _secure(self) -> RelayOptions:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.tls == "none-test-only":
            if not _is_loopback(self.host):
                raise ValueError("tls: none-test-only is allowed for a loopback relay only")
            if self.username is not None:
                raise ValueError("credentials are never sent without TLS")
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SenderIdentity(_Strict):
    """Who the mail comes from and where a notice points the applicant to (one per municipality)."""

    authority_name: str = Field(min_length=1, max_length=120, description="e.g. Stadt Tangerhütte")
    from_address: str = Field(pattern=EMAIL_ADDRESS_PATTERN, max_length=254)
    envelope_from: str | None = Field(None, pattern=EMAIL_ADDRESS_PATTERN, max_length=254,
                                      description="MAIL FROM (bounces); from_address if unset")
    message_id_domain: str = Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63}$",
                                   description="right-hand side of the Message-IDs the adapter makes")
    fetch_url_template: str = Field(max_length=500, description="where a notice says the reply can be fetched, "
                                    "e.g. https://portal.example.de/postfach?vorgang={reference}; "
                                    "{reference} is the only placeholder")

    @field_validator("fetch_url_template")
    @classmethod
    def _only_reference(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("fetch_url_template must be an https URL")
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        if not fields <= {REFERENCE_PLACEHOLDER}:
            # The URL travels in a mail without encryption: nothing but the case reference may go in.
            raise ValueError("fetch_url_template may only contain the {reference} placeholder")
        return value


class PgpPolicy(_Strict):
    """What an applicant's OpenPGP key must satisfy (checked before anything is encrypted to it)."""

    max_key_bytes: int = Field(64 * 1024, ge=1024, le=1024 * 1024, description="armored key text")
    max_packets: int = Field(200, ge=4, le=10_000)
    min_rsa_bits: int = Field(3072, ge=2048, le=8192)
    max_rsa_bits: int = Field(8192, ge=2048, le=16384)
    allowed_curves: frozenset[str] = Field(
        frozenset({"Curve25519", "X25519", "X448", "NIST P-256", "NIST P-384", "NIST P-521",
                   "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1"}),
        description="ECDH curves and the RFC 9580 X25519/X448 algorithms accepted for encryption")
    allow_post_quantum: bool = Field(True, description="accept ML-KEM composite encryption keys (RFC 9580 + PQC)")


class MailOptions(_Strict):
    relay: RelayOptions
    sender: SenderIdentity
    tenants: dict[str, SenderIdentity] = Field(default_factory=dict,
                                               description="per municipality (ARS) overrides of sender")
    pgp: PgpPolicy = PgpPolicy()
    on_unusable_key: Literal["fail", "notice"] = Field(
        "fail", description="fail: a bad applicant key is a permanent error; notice: send the notice "
        "without personal data instead")
    max_documents: int = Field(20, ge=0, le=100)
    max_document_bytes: int = Field(15 * 1024 * 1024, gt=0)
    max_message_bytes: int = Field(25 * 1024 * 1024, gt=0, description="the whole mail as sent, after "
                                   "base64 and encryption; relays commonly refuse more")

    def identity_for(self, tenant: str | None) -> SenderIdentity:
        return self.tenants.get(tenant or "", self.sender)
