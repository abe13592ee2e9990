"""Typed options of the FIT-Connect channel (``adapters: {fitconnect: {...}}`` in the settings).

File paths are relative to the gateway's ``base_dir``. Secrets (client secret, callback
secrets) are ``SecretStr`` so they never show up in reprs or logs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
VERSION_PATTERN = r"^\d{1,3}\.\d{1,3}\.\d{1,3}$"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DestinationLimits(_Options):
    """What this destination takes in; larger submissions are rejected with a clear problem."""

    max_attachment_bytes: int = Field(default=512 * 1024 * 1024, ge=1024,
                                      description="decrypted size of one attachment (its fragments joined)")
    max_fragments: int = Field(default=1000, ge=1, description="fragments of one attachment")
    max_total_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1024,
                                 description="everything fetched for one submission, encrypted")


class DestinationOptions(_Options):
    """One destination (Zustellpunkt) the gateway subscribes to, i.e. one municipality's inbox."""

    id: str = Field(pattern=UUID_PATTERN)
    api_version: Literal["v1", "v2"] = Field(default="v1", description="Submission API generation to fetch with")
    metadata_versions: list[str] | None = Field(
        default=None, description="metadata versions this destination announces (its metadataVersions); "
                                  "default: every version with a schema here")
    limits: DestinationLimits = Field(default_factory=DestinationLimits)
    tenant_ars: str = Field(pattern=r"^\d{12}$")
    callback_secret: SecretStr | None = None
    decryption_keys: list[Path] = Field(min_length=1, max_length=2,
                                        description="private JWK files; two during a key rotation")
    signing_key: Path = Field(description="private JWK file for accept/reject SETs (PS512)")
    services: list[str] = Field(default_factory=list,
                                description="LeiKa keys this destination accepts; empty: leave it to the catalog")

    @field_validator("callback_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("callback_secret must have at least 32 characters")
        return value


    @field_validator("metadata_versions")
    @classmethod
    def _versions(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or any(not re.fullmatch(VERSION_PATTERN, v) for v in value)):
            raise ValueError("metadata_versions lists versions like 2.1.0")
        return value


class Limits(_Options):
    """Hard caps of the channel: what is larger is refused before it is parsed or inflated.
    Attachments are streamed; ``max_attachment_bytes`` bounds one encrypted attachment or
    fragment as it is downloaded (the destination's limits bound the decrypted content)."""

    max_metadata_bytes: int = Field(default=512 * 1024, ge=1024)
    max_data_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_attachment_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)
    max_inflated_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, description="cap for zip: DEF")
    max_data_attachment_bytes: int = Field(default=128 * 1024 * 1024, ge=1024,
                                           description="Fachdaten sent as a purpose: data attachment (parsed whole)")
    max_attachments: int = Field(default=1000, ge=0, description="attachments and fragments of one submission")
    max_events: int = Field(default=200, ge=1)


class ForwardingTarget(_Options):
    api_version: Literal["v1", "v2"] | None = None
    metadata_version: str | None = Field(default=None, pattern=VERSION_PATTERN)


class ForwardingOptions(_Options):
    """How cases are sent to other destinations: the API generation and metadata version, per
    destination id where it differs from the default; ``fragment_bytes`` splits larger
    attachments into fragments (metadata 1.3.0 and later)."""

    api_version: Literal["v1", "v2"] = "v1"
    metadata_version: str = Field(default="1.1.0", pattern=VERSION_PATTERN)
    fragment_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    targets: dict[str, ForwardingTarget] = Field(default_factory=dict)

    def for_target(self, destination_id: str) -> tuple[Literal["v1", "v2"], str]:
        target = self.targets.get(destination_id) or ForwardingTarget()
        return target.api_version or self.api_version, target.metadata_version or self.metadata_version


class RoutingOptions(_Options):
    """The Routing API (destination by LeiKa key and ARS) and the key its destinationSignature
    is checked with (the Self-Service-Portal's JWKS)."""

    url: str = Field(description="base URL, e.g. https://routing-api-prod.fit-connect.fitko.net/v1")
    portal_jwks_url: str = Field(description="JWKS of the Self-Service-Portal that signs destinationSignature")
    portal_issuer: str = Field(description="iss of destinationSignature, the Self-Service-Portal's URL")


class PostboxOptions(_Options):
    """The citizen postbox (BundID ZBP), reached as a FIT-Connect submission to its bridge
    destination: messages with documents to a citizen's mailbox and status updates for the
    application status monitor, in an envelope signed with the authority's key (BPKI)."""

    destination_id: str = Field(pattern=UUID_PATTERN, description="the ZBP bridge destination of the environment")
    author_key: Path = Field(description="PEM file: the authority's private signing key (RSA)")
    author_certificate: Path = Field(description="PEM file: its certificate; its CN is the author token's signer")
    sender_name: str = Field(min_length=1, max_length=100, description="the authority as citizens see it")
    metadata_version: str = Field(default="2.1.0", pattern=VERSION_PATTERN)
    retrieval_confirmation_address: str | None = Field(default=None, max_length=320,
                                                       description="told when the citizen retrieves a message")
    reply_address: str | None = Field(default=None, max_length=320, description="where citizens may answer")
    sender_url: str | None = Field(default=None, max_length=255)
    default_stork_qaa_level: int = Field(default=3, ge=1, le=4,
                                         description="level a message asks for when the case names no login")
    minimum_stork_qaa_level: int = Field(default=1, ge=1, le=4)
    max_document_bytes: int = Field(default=20 * 1024 * 1024, ge=1024,
                                    description="largest document of a message (held in memory while encrypted)")
    max_documents: int = Field(default=20, ge=0)
    destination_ttl_seconds: float = Field(default=60.0, ge=0.0, le=3600.0,
                                           description="how long the bridge's status and key are reused")


class ReplyOptions(_Options):
    """Answers through FIT-Connect to the online service that sent an application, when its
    metadata offered ``replyChannel.fitConnect``: the process standards the gateway answers in."""

    process_standards: list[str] = Field(
        default_factory=lambda: ["urn:x-rathaus-gateway:standard:antwort_1.0"], min_length=1,
        description="offered by the sender, answered here; the first one the sender offers is used")
    metadata_version: str = Field(default="2.1.0", pattern=VERSION_PATTERN)
    max_document_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)


class FitConnectOptions(_Options):
    token_url: str
    submission_api_url: str
    client_id: str
    client_secret: SecretStr
    sender_client_id: str | None = Field(default=None, description="default: client_id")
    sender_client_secret: SecretStr | None = None
    trust_anchor: Path = Field(description="PEM file: root(s) of the Verwaltungs-PKI (tests: the TEST root)")
    zustelldienst_issuer: str | None = Field(default=None,
                                             description="iss of the Zustelldienst's SETs; default: API URL")
    jwks_url: str | None = Field(default=None, description="default: <submission_api_url>/.well-known/jwks.json")
    destinations: list[DestinationOptions] = Field(min_length=1)
    poll_interval_seconds: float = Field(default=60.0, gt=0)
    page_limit: int = Field(default=100, ge=1, le=500)
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    callback_max_age_seconds: int = Field(default=300, ge=1, le=300)
    callback_future_skew_seconds: int = Field(default=30, ge=0, le=120)
    limits: Limits = Field(default_factory=Limits)
    forwarding: ForwardingOptions = Field(default_factory=ForwardingOptions)
    routing: RoutingOptions | None = Field(default=None, description="needed to forward without a destination id")
    postbox: PostboxOptions | None = Field(default=None, description="the reply channel to the citizen postbox")
    replies: ReplyOptions = Field(default_factory=ReplyOptions)

    @field_validator("destinations")
    @classmethod
    def _unique(cls, value: list[DestinationOptions]) -> list[DestinationOptions]:
        ids = [d.id for d in value]
        if len(ids) != len(set(ids)):
            raise ValueError("a destination id is configured twice")
        return value

    @property
    def issuer(self) -> str:
        return self.zustelldienst_issuer or self.submission_api_url.rstrip("/")

    @property
    def effective_jwks_url(self) -> str:
        return self.jwks_url or self.submission_api_url.rstrip("/") + "/.well-known/jwks.json"

    def destination(self, destination_id: str) -> DestinationOptions | None:
        return next((d for d in self.destinations if d.id == destination_id), None)
