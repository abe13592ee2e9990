"""All settings in one place: environment (``RG_*``), then an optional YAML file.

``RG_CONFIG_FILE`` names the YAML file; environment variables override it
(``RG_PROFILE=scaleout``, ``RG_DATABASE_URL=...``). Secrets come from here, never from code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

Scope = Literal["applications:submit", "cases:read", "cases:write", "admin"]


class ClientConfig(BaseModel):
    """A client registered for OAuth2 client credentials (a portal backend, local processing)."""

    client_id: str = Field(pattern=r"^[A-Za-z0-9._-]{3,64}$")
    secret_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the client secret")
    scopes: list[Scope]
    tenants: list[str] | None = Field(default=None, description="ARS the client may act for; None = all")


class WebhookConfig(BaseModel):
    """A local-processing endpoint that receives CloudEvents for cases."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    url: str
    secret: SecretStr
    events: list[str] = Field(default_factory=lambda: ["case.received", "case.status_changed"])
    tenants: list[str] | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RG_", env_nested_delimiter="__", extra="forbid")

    profile: Literal["embedded", "scaleout"] = "embedded"
    durability: Literal["full", "process"] = Field(
        default="full",
        description="full: nothing is acknowledged before it survives a power cut (blobs fsync'd with their "
                    "folder, SQLite synchronous=FULL, PostgreSQL as its server is configured); process: it "
                    "survives the death of a process, not a power cut (no fsync of blobs, SQLite "
                    "synchronous=NORMAL, PostgreSQL synchronous_commit=off) — for throw-away test set-ups only")
    data_dir: Path = REPO_ROOT / "var"
    database_url: str | None = Field(default=None, description="default: SQLite in data_dir (embedded)")
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue_name: str = "rg"
    blob_dir: Path | None = None
    mappings_dir: Path = REPO_ROOT / "mappings"
    fixtures_dir: Path = REPO_ROOT / "fixtures"
    base_dir: Path = REPO_ROOT

    issuer: str = "rathaus-gateway"
    token_signing_key: SecretStr = Field(
        default=SecretStr(""), description="HMAC key for access tokens; at least 32 bytes"
    )
    token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    clients: list[ClientConfig] = Field(default_factory=list)
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    adapters: dict[str, dict[str, Any]] = Field(default_factory=lambda: {"portal": dict[str, Any]()})

    max_body_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    max_attachment_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_attachments: int = Field(default=50, ge=1)

    intake_max_attempts: int = Field(default=8, ge=1)
    delivery_max_attempts: int = Field(default=12, ge=1)
    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=600.0, gt=0)
    job_lease_seconds: float = Field(default=60.0, gt=0)
    delivery_lease_seconds: float = Field(
        default=300.0, gt=0,
        description="how long a claimed outbox delivery (webhook, acknowledgement, forwarding) may run before "
                    "another worker takes it over: longer than the slowest adapter's calls together")
    poll_interval_seconds: float = Field(default=10.0, gt=0)
    worker_idle_seconds: float = Field(default=0.5, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    serve_worker: bool = Field(default=True, description="`serve` starts one worker process beside the API "
                               "(and restarts it should it die); false: run `rathaus-gateway worker` yourself")

    @field_validator("token_signing_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value().encode()) < 32:
            raise ValueError("token_signing_key must be at least 32 bytes")
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'gateway.db'}"

    @property
    def effective_blob_dir(self) -> Path:
        return self.blob_dir or self.data_dir / "blobs"

    @property
    def catalog_dir(self) -> Path:
        return self.mappings_dir / "catalog"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("RG_CONFIG_FILE")
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)
