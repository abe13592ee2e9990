"""Configuration of the citizen login (``adapters: {citizen_login: {...}}`` in the settings).

One service provider per tenant and identity provider: each has its own entityID, metadata and
assertion consumer service, as the Servicekonto, BundID and MUK register each connection
separately. Paths are relative to the gateway's base directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from gateway.case.model import TrustLevel

IdpProfile = Literal["bundid", "servicekonto", "muk", "generic"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyFiles(_Strict):
    key: Path
    cert: Path


def _https_without_port(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.port is not None or parts.query or parts.fragment:
        raise ValueError("an entityID must be an https URL without port, query or fragment")
    return value


class RequestedAttribute(_Strict):
    name: str = Field(pattern=r"^urn:oid:[0-9]+(\.[0-9]+)*$")
    required: bool = False


class IdentityProviderOptions(_Strict):
    """One identity provider a tenant is registered with."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$", description="e.g. bundid, servicekonto-st, muk")
    profile: IdpProfile = "generic"
    entity_id: str = Field(description="the identity provider's entityID, as in its metadata")
    metadata_file: Path | None = None
    metadata_url: str | None = None
    metadata_refresh_seconds: float = Field(3600.0, ge=10)
    metadata_max_bytes: int = Field(1024 * 1024, ge=1024)
    metadata_signing_certs: list[Path] = Field(default_factory=list, description="if set, the metadata's "
                                               "signature must verify with one of these certificates")
    insecure_http: bool = Field(False, description="allow http metadata URLs (sandbox only)")
    binding: Literal["post", "redirect"] = "post"
    require_encrypted_assertions: bool = True
    require_signed_response: bool = False
    pseudonym_attribute: str = "urn:oid:1.3.6.1.4.1.25484.494450.3"
    party: Literal["natural_person", "organisation"] = "natural_person"
    requested_attributes: list[RequestedAttribute] = Field(default_factory=list)
    extra_attributes: dict[str, str] = Field(default_factory=dict, description="short name -> attribute Name "
                                             "(OID URN) for attributes beyond the built-in list")
    # the BundID request extension (akdb:AuthenticationRequest Version 2)
    online_service_id: str | None = None
    authn_methods: dict[str, bool] = Field(default_factory=dict, description="e.g. {eID: true, Benutzername: "
                                           "false}; empty: the identity provider decides")
    enable_status_detail: bool = True
    single_logout: bool = True

    @model_validator(mode="after")
    def _one_metadata_source(self) -> IdentityProviderOptions:
        if (self.metadata_file is None) == (self.metadata_url is None):
            raise ValueError("give exactly one of metadata_file or metadata_url")
        if self.metadata_url and not self.metadata_url.startswith("https://") and not self.insecure_http:
            raise ValueError("metadata_url must be https (insecure_http only for the sandbox)")
        if self.profile == "bundid" and not self.online_service_id:
            raise ValueError("BundID needs the online_service_id it assigned to this service")
        return self


class TenantLogin(_Strict):
    """The service providers of one municipality."""

    tenant_ars: str = Field(pattern=r"^[0-9]{12}$")
    entity_id_base: str = Field(description="https URL without port; each identity provider's SP gets "
                                "<entity_id_base>/<idp name> as its entityID")
    organisation_display_name: str = Field(min_length=1, max_length=200)
    signing_keys: list[KeyFiles] = Field(min_length=1, max_length=2, description="the first signs; a second "
                                         "one is published during a rollover")
    encryption_keys: list[KeyFiles] = Field(min_length=1, max_length=2, description="all are published and "
                                            "tried for decryption (two during a rollover)")
    identity_providers: list[IdentityProviderOptions] = Field(min_length=1)

    _check_entity_id = field_validator("entity_id_base")(classmethod(lambda cls, v: _https_without_port(v)))

    @field_validator("identity_providers")
    @classmethod
    def _unique_names(cls, idps: list[IdentityProviderOptions]) -> list[IdentityProviderOptions]:
        names = [idp.name for idp in idps]
        if len(names) != len(set(names)):
            raise ValueError("identity provider names must be unique per tenant")
        return idps


class RateLimits(_Strict):
    """Rate limit and lockout per client address on the login start, the ACS and the SLO endpoint
    (the gateway's throttle; counters in Redis in the scale-out profile). A login takes two
    requests (start and ACS), so the defaults leave a town hall's shared address room for about
    thirty logins a minute; a citizen rarely sends a rejected response at all."""

    requests_per_minute: int = Field(60, ge=1, description="login starts, ACS and SLO requests together, per "
                                     "client address")
    max_failures: int = Field(10, ge=1, description="SAML responses rejected by a check, from one address ...")
    failure_window_seconds: int = Field(300, ge=1, description="... within this window ...")
    lockout_seconds: int = Field(300, ge=1, description="... lock the address out for this long (429 before the "
                                 "body is read)")


class CitizenLoginOptions(_Strict):
    public_base_url: str = Field(description="where browsers reach the gateway, e.g. https://gateway.example.de; "
                                 "the ACS and logout URLs are built from it")
    session_signing_key: SecretStr = Field(description="HMAC key for citizen session tokens, >= 32 bytes, the "
                                           "same in every process")
    tenants: list[TenantLogin] = Field(min_length=1)
    return_origins: list[str] = Field(min_length=1, description="origins (scheme://host[:port]) the browser may "
                                      "be sent back to after a login: the portal(s)")
    clock_skew_seconds: float = Field(90.0, ge=0, le=600)
    max_response_age_seconds: float = Field(300.0, ge=30, le=3600, description="IssueInstant no older than")
    request_ttl_seconds: float = Field(900.0, ge=60, le=3600, description="how long a login may take")
    max_response_bytes: int = Field(512 * 1024, ge=16 * 1024, le=8 * 1024 * 1024)
    replay_cache: Literal["state", "redis"] = Field("state", description="state: the gateway database (SQLite "
                                                    "in the embedded profile); redis: for scale-out")
    redis_url: str | None = None
    minimum_level: TrustLevel = TrustLevel.NIEDRIG
    rate_limits: RateLimits = Field(default_factory=RateLimits)

    @field_validator("session_signing_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < 32:
            raise ValueError("session_signing_key needs at least 32 bytes")
        return value

    @field_validator("return_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])")
        return [origin.rstrip("/") for origin in origins]

    @model_validator(mode="after")
    def _redis_needs_url(self) -> CitizenLoginOptions:
        if self.replay_cache == "redis" and not self.redis_url:
            raise ValueError("replay_cache redis needs redis_url")
        tenants = [t.tenant_ars for t in self.tenants]
        if len(tenants) != len(set(tenants)):
            raise ValueError("each tenant may appear once")
        return self
