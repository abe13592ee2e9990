"""One service provider: a tenant's registration with one identity provider."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.citizen_login.keys import KeyPair
from adapters.citizen_login.options import IdentityProviderOptions, TenantLogin

PATH_PREFIX = "/v1/citizen"


@dataclass(frozen=True)
class ServiceProvider:
    tenant_ars: str
    entity_id: str
    base_url: str
    display_name: str
    signing_keys: tuple[KeyPair, ...]
    encryption_keys: tuple[KeyPair, ...]
    idp: IdentityProviderOptions

    @classmethod
    def build(cls, tenant: TenantLogin, idp: IdentityProviderOptions, base_url: str,
              signing: tuple[KeyPair, ...], encryption: tuple[KeyPair, ...]) -> ServiceProvider:
        return cls(tenant_ars=tenant.tenant_ars, entity_id=f"{tenant.entity_id_base.rstrip('/')}/{idp.name}",
                   base_url=base_url.rstrip("/"), display_name=tenant.organisation_display_name,
                   signing_keys=signing, encryption_keys=encryption, idp=idp)

    @property
    def path(self) -> str:
        return f"{PATH_PREFIX}/saml/{self.tenant_ars}/{self.idp.name}"

    @property
    def acs_url(self) -> str:
        return f"{self.base_url}{self.path}/acs"

    @property
    def slo_url(self) -> str:
        return f"{self.base_url}{self.path}/slo"

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}{self.path}/metadata"

    @property
    def signing_key(self) -> KeyPair:
        return self.signing_keys[0]
