"""All settings in one place: environment (``RG_*``), then an optional YAML file.

``RG_CONFIG_FILE`` names the YAML file; environment variables override it
(``RG_PROFILE=scaleout``, ``RG_DATABASE_URL=...``). Secrets come from here, never from code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway import client_secrets, published_credentials
from gateway.yamlfile import load_yaml

REPO_ROOT = Path(__file__).resolve().parents[1]

Scope = Literal["applications:submit", "cases:read", "cases:write", "admin"]


class ClientConfig(BaseModel):
    """A client registered for OAuth2 client credentials (a portal backend, local processing)."""

    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(pattern=r"^[A-Za-z0-9._-]{3,64}$")
    secret_hash: str = Field(description="argon2id PHC string of the client secret "
                                         "(`rathaus-gateway clients hash-secret` prints one)")
    scopes: list[Scope]
    tenants: list[str] | None = Field(default=None, description="ARS the client may act for; None = all")

    @model_validator(mode="before")
    @classmethod
    def _no_unsalted_hash(cls, data: Any) -> Any:
        if isinstance(data, dict) and "secret_sha256" in data:
            raise ValueError(f"client {data.get('client_id')!r}: {client_secrets.UNSALTED_MESSAGE}")
        return data

    @field_validator("secret_hash")
    @classmethod
    def _strong_hash(cls, value: str) -> str:
        return client_secrets.check_hash(value)

    @model_validator(mode="after")
    def _admins_name_their_tenants(self) -> ClientConfig:
        # an admin sees quarantined originals and dead letters: never of every municipality by default
        if "admin" in self.scopes and not self.tenants:
            raise ValueError(f"client {self.client_id!r} has scope admin: list the municipalities (tenants) "
                             "it administers")
        return self


class TokenLimits(BaseModel):
    """Rate limit and lockout of ``/oauth/token`` (429 with ``Retry-After``). Counters live in
    Redis in the scale-out profile (shared by every process) and in process memory in the
    embedded profile (one process; with ``serve --processes N`` each has its own counters)."""

    model_config = ConfigDict(extra="forbid")
    requests_per_minute: int = Field(default=30, ge=1, description="per client id and per client address")
    max_failures_per_client: int = Field(default=5, ge=1, description="failed logins of one client id ...")
    max_failures_per_address: int = Field(default=20, ge=1, description="... or from one address ...")
    failure_window_seconds: int = Field(default=300, ge=1, description="... within this window ...")
    lockout_seconds: int = Field(default=300, ge=1, description="... lock it out for this long")


class ConsoleAccount(BaseModel):
    """An admin of the console (``/console/``): password as an argon2id hash, the municipalities
    the admin may see, and whether the admin may read raw originals (personal data; every view
    is audited)."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=r"^[A-Za-z0-9._-]{3,64}$")
    password_hash: str = Field(description="argon2id PHC string (`rathaus-gateway clients hash-secret` prints one)")
    tenants: list[str] = Field(min_length=1, description="ARS of the municipalities this admin administers")
    may_view_originals: bool = Field(default=False, description="may read raw originals (audited per view)")

    @field_validator("password_hash")
    @classmethod
    def _strong_hash(cls, value: str) -> str:
        return client_secrets.check_hash(value)


class ConsoleSettings(BaseModel):
    """The admin console: accounts, session lifetime, login limits (the token endpoint's kind)."""

    model_config = ConfigDict(extra="forbid")
    accounts: list[ConsoleAccount] = Field(default_factory=list)
    idle_timeout_seconds: int = Field(default=900, ge=60, le=8 * 3600,
                                      description="a session ends after this long without a request")
    max_session_seconds: int = Field(default=8 * 3600, ge=300, le=24 * 3600,
                                     description="a session ends this long after the login, however busy")
    login_limits: TokenLimits = Field(default_factory=lambda: TokenLimits(requests_per_minute=20))

    @model_validator(mode="after")
    def _unique_usernames(self) -> ConsoleSettings:
        names = [a.username for a in self.accounts]
        if len(names) != len(set(names)):
            raise ValueError("console.accounts: a username is listed twice")
        return self


class WebhookConfig(BaseModel):
    """A local-processing endpoint that receives CloudEvents for cases."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    url: str
    secret: SecretStr
    events: list[str] = Field(default_factory=lambda: ["case.received", "case.status_changed"])
    tenants: list[str] | None = None


class HealthSettings(BaseModel):
    """Adapter health and the circuit breaker around every call to an adapter (polls,
    acknowledgements, sends, reply deliveries, webhooks): see :mod:`gateway.health`."""

    model_config = ConfigDict(extra="forbid")
    failure_threshold: int = Field(default=5, ge=1, description="consecutive failures that open the circuit")
    cooldown_seconds: float = Field(default=30.0, gt=0, description="how long an open circuit waits before "
                                    "one probe call; doubled after every failed probe ...")
    cooldown_max_seconds: float = Field(default=600.0, gt=0, description="... up to this")
    probe_timeout_seconds: float = Field(default=300.0, gt=0, description="a probe not reported within this "
                                         "(its worker died) lets another worker probe")
    error_window_seconds: float = Field(default=300.0, gt=0, description="the recent window of the error rate")
    degraded_error_rate: float = Field(default=0.25, ge=0, le=1, description="error rate (with at least 4 "
                                       "calls in the window) from which an adapter counts as degraded")
    degraded_lag_seconds: float = Field(default=900.0, gt=0, description="age of the oldest waiting message or "
                                        "delivery from which an adapter counts as degraded")
    write_interval_seconds: float = Field(default=5.0, ge=0, description="successes of a healthy adapter are "
                                          "written at most this often (failures at once)")


class MetricsSettings(BaseModel):
    """``GET /metrics`` (Prometheus): see :mod:`gateway.metrics`."""

    model_config = ConfigDict(extra="forbid")
    token: SecretStr = Field(default=SecretStr(""), description="a bearer token for the scraper (at least 32 "
                             "bytes); without it only access tokens with scope admin may scrape")
    directory: Path | None = Field(default=None, description="prometheus-client's multiprocess directory "
                                   "shared by the API and worker processes of one host; default data_dir/metrics")

    @field_validator("token")
    @classmethod
    def _token_long_enough(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value().encode()) < 32:
            raise ValueError("metrics.token must be at least 32 bytes")
        return value


class RepliesSettings(BaseModel):
    """Replies to the applicant (gateway/replies): documents, pending uploads, following deliveries."""

    model_config = ConfigDict(extra="forbid")
    max_documents: int = Field(default=20, ge=0, le=100, description="documents per reply")
    max_document_bytes: int = Field(default=15 * 1024 * 1024, ge=1024, description="per document (PDF)")
    upload_ttl_seconds: int = Field(default=86400, ge=60, description="an unused uploaded document expires")
    upload_quota_count: int = Field(default=200, ge=1, description="pending uploaded documents per client")
    upload_quota_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024, description="... and their bytes")
    follow_interval_seconds: float = Field(default=60.0, gt=0, description="first look at a delivery's remote "
                                           "state after a change; doubled each time nothing changed ...")
    follow_max_interval_seconds: float = Field(default=86400.0, gt=0, description="... up to this")
    follow_days: float = Field(default=30.0, gt=0, description="a delivery is followed no longer than this")
    follow_lease_seconds: float = Field(default=120.0, gt=0, description="a worker's claim on following one")


class MasterKeyConfig(BaseModel):
    """A master key: 32 random bytes as base64 (``openssl rand -base64 32``), given here or in a
    file (base64 or the raw bytes). It wraps data keys only (gateway/store/crypto)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    key: SecretStr | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> MasterKeyConfig:
        if (self.key is None) == (self.key_file is None):
            raise ValueError(f"master key {self.id!r}: give either key or key_file")
        return self


class AtRestSettings(BaseModel):
    """Encryption of personal data at rest (case documents, replies, recipients, verified
    results, raw originals, attachments, reply documents): AES-256-GCM under data keys wrapped
    by the current master key. Without master keys the gateway does not start, unless
    ``store_in_clear`` says explicitly that personal data may be stored in clear."""

    model_config = ConfigDict(extra="forbid")
    master_keys: list[MasterKeyConfig] = Field(default_factory=list, description="by id; keep an old key "
                                               "listed until `rathaus-gateway keys rotate` has finished")
    current_key_id: str | None = Field(default=None, description="the key that wraps new data keys; "
                                       "default: the last listed")
    accept_clear: bool = Field(default=False, description="read values and blobs stored in clear (before "
                               "encryption was switched on) until `keys rotate --reseal` has sealed them; "
                               "otherwise anything unsealed is refused as tampered")
    store_in_clear: bool = Field(default=False, description="run without master keys and store personal data "
                                 "in clear (a throw-away test set-up; never the default)")

    @model_validator(mode="after")
    def _known_current(self) -> AtRestSettings:
        if not self.master_keys and not self.store_in_clear:
            raise ValueError("at_rest.master_keys is empty: personal data would be stored in clear — configure a "
                             "master key (see the README, 'Personal data at rest'), or set "
                             "at_rest.store_in_clear: true for a throw-away set-up")
        ids = [key.id for key in self.master_keys]
        if len(set(ids)) != len(ids):
            raise ValueError("at_rest.master_keys: ids must be unique")
        if self.current_key_id is not None and self.current_key_id not in ids:
            raise ValueError("at_rest.current_key_id must name one of at_rest.master_keys")
        return self


class RetentionSettings(BaseModel):
    """How long personal data is kept: raw originals after their acknowledgement; messages that
    never became a case (discarded, quarantined, dead) after they came to rest; closed cases
    after the retention period of their service (``retention_days`` in the catalog)."""

    model_config = ConfigDict(extra="forbid")
    raw_original_days: float | None = Field(default=30.0, ge=0, description="a raw original is deleted this "
                                            "long after its message was acknowledged; None keeps it")
    discarded_days: float | None = Field(default=30.0, ge=0, description="a discarded message's raw original, "
                                         "parts and verify checkpoint are deleted this long after the discard; "
                                         "None keeps them")
    quarantine_days: float | None = Field(default=90.0, ge=0, description="the same for a quarantined message or "
                                          "dead letter nobody replayed or discarded, this long after it entered "
                                          "that state (time for an admin to fix and replay it); None keeps them")
    interval_seconds: float = Field(default=3600.0, gt=0, description="how often the worker applies retention")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RG_", env_nested_delimiter="__", extra="forbid")

    profile: Literal["embedded", "scaleout"] = "embedded"
    demo: bool = Field(default=False, description="the demo profile of `make run` (and of the tests): only then are "
                                                  "the published demo/test credentials accepted — the secrets of "
                                                  "fixtures/demo/*.yaml and any key or certificate file with the "
                                                  "content of a file under fixtures/")
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
    blob_store: Literal["auto", "filesystem", "database"] = Field(
        default="auto", description="where attachment and original bytes live: auto = in the database in the "
                                    "scale-out profile (no shared volume between hosts), in blob_dir otherwise")
    mappings_dir: Path = REPO_ROOT / "mappings"
    fixtures_dir: Path = REPO_ROOT / "fixtures"
    base_dir: Path = REPO_ROOT

    issuer: str = "rathaus-gateway"
    token_signing_key: SecretStr = Field(
        default=SecretStr(""), description="HMAC key for access tokens; at least 32 bytes"
    )
    token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    token_limits: TokenLimits = Field(default_factory=TokenLimits)
    clients: list[ClientConfig] = Field(default_factory=list)
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    adapters: dict[str, dict[str, Any]] = Field(default_factory=lambda: {"portal": dict[str, Any]()})
    replies: RepliesSettings = Field(default_factory=RepliesSettings)
    at_rest: AtRestSettings = Field(default_factory=AtRestSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

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
    blob_gc_grace_seconds: float = Field(
        default=3600.0, ge=60,
        description="an unreferenced blob is deleted only when older than this: longer than any intake takes "
                    "from writing a blob to committing the row that references it")
    blob_gc_interval_seconds: float = Field(default=3600.0, gt=0, description="how often the worker collects")
    poll_interval_seconds: float = Field(default=10.0, gt=0)
    worker_idle_seconds: float = Field(default=0.5, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    health: HealthSettings = Field(default_factory=HealthSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="JSON logs on "
                                                                     "stderr from this level on")
    serve_worker: bool = Field(default=True, description="`serve` starts one worker process beside the API "
                               "(and restarts it should it die); false: run `rathaus-gateway worker` yourself")

    @field_validator("token_signing_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value().encode()) < 32:
            raise ValueError("token_signing_key must be at least 32 bytes")
        return value

    @model_validator(mode="after")
    def _no_demo_credentials_outside_the_demo(self) -> Settings:
        if self.demo:
            return self
        if self.token_signing_key.get_secret_value() == client_secrets.DEMO_TOKEN_SIGNING_KEY:
            raise ValueError("token_signing_key is the published demo key: set a key of your own "
                             "(e.g. `openssl rand -base64 48`), or `demo: true` for the demo only")
        for client in self.clients:
            if client_secrets.is_demo_secret(client.secret_hash):
                raise ValueError(f"client {client.client_id!r} uses a published demo secret: give it a secret of "
                                 "its own (`rathaus-gateway clients hash-secret`), or set `demo: true` for the "
                                 "demo only")
        for account in self.console.accounts:
            if client_secrets.is_demo_secret(account.password_hash):
                raise ValueError(f"console account {account.username!r} uses the published demo password: give it "
                                 "a password of its own, or set `demo: true` for the demo only")
        found = published_credentials.findings(self.model_dump(), self.base_dir)
        if found:
            raise ValueError("published demo/test credentials outside the demo — replace them with keys and "
                             "secrets of your own, or set `demo: true` for the demo only: " + "; ".join(found))
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'gateway.db'}"

    @property
    def effective_blob_store(self) -> Literal["filesystem", "database"]:
        if self.blob_store == "auto":
            return "database" if self.profile == "scaleout" else "filesystem"
        return self.blob_store

    @property
    def effective_blob_dir(self) -> Path:
        return self.blob_dir or self.data_dir / "blobs"

    @property
    def metrics_dir(self) -> Path:
        return self.metrics.directory or self.data_dir / "metrics"

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
            sources.append(_YamlFileSource(settings_cls, Path(config_file)))
        return tuple(sources)


class _YamlFileSource(PydanticBaseSettingsSource):
    """The settings file, read by the project's one YAML loader (duplicate keys refused with
    file:line, no aliases, bounded size) rather than pydantic-settings' own YAML reader."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        data = load_yaml(path).data
        self._data: dict[str, Any] = dict(data) if isinstance(data, dict) else {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)
