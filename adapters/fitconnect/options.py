"""Typed options of the FIT-Connect channel (``adapters: {fitconnect: {...}}`` in the settings).

File paths are relative to the gateway's ``base_dir``. Secrets (client secret, callback
secrets) are ``SecretStr`` so they never show up in reprs or logs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DestinationOptions(_Options):
    """One destination (Zustellpunkt) the gateway subscribes to, i.e. one municipality's inbox."""

    id: str = Field(pattern=UUID_PATTERN)
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


class Limits(_Options):
    """Hard caps: what is larger is refused before it is parsed or inflated."""

    max_metadata_bytes: int = Field(default=512 * 1024, ge=1024)
    max_data_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_attachment_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_inflated_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, description="cap for zip: DEF")
    max_attachments: int = Field(default=100, ge=0)
    max_events: int = Field(default=200, ge=1)


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
