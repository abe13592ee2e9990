"""Service catalog per tenant: what a municipality offers, through which channels, at
which trust level, and which mapping and local queue each application goes to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from gateway.case.model import AccountIdentity, LeikaKey, TrustLevel
from gateway.errors import (
    ChannelNotAllowed,
    ConfigurationError,
    TrustLevelTooLow,
    UnknownService,
    UnknownTenant,
    UnsupportedFormat,
)
from gateway.yamlfile import load_yaml


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenantConfig(_Model):
    ars: str = Field(pattern=r"^[0-9]{12}$")
    name: str
    reference_prefix: str = Field(pattern=r"^[A-Z]{2,6}$")


ChannelName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{1,31}$")]
REPLY_KINDS = ("decision", "request", "notice", "status")


def _unique(names: list[str]) -> list[str]:
    if len(names) != len(set(names)):
        raise ValueError("a reply channel is listed twice")
    return names


UniqueChannels = Annotated[list[ChannelName], AfterValidator(_unique)]


class ReplyPolicy(_Model):
    """Which reply channels may carry each kind of reply, in fallback order: a reply goes through
    the first channel that can serve its case (the applicant's own choice first, when listed);
    a channel that refuses it hands over to the next. Where none is left, the reply becomes a
    "send by post" task. Channel names are those the adapters register (``email``, ``xta``,
    ``hybridmail``, ``postbox``, ``fitconnect``, ...)."""

    decision: UniqueChannels = Field(default_factory=list, description="Bescheid")
    request: UniqueChannels = Field(default_factory=list, description="Nachforderung (missing documents)")
    notice: UniqueChannels = Field(default_factory=list, description="Mitteilung")
    status: UniqueChannels = Field(default_factory=list, description="status update")

    def channels_for(self, kind: str) -> list[str]:
        channels: list[str] = getattr(self, kind)
        return channels


NO_REPLY_CHANNELS = ReplyPolicy()


class ServiceEntry(_Model):
    leika: LeikaKey
    name: str
    mappings: list[str] = Field(min_length=1)
    min_trust_level: TrustLevel | Literal["none"] = "none"
    channels: list[str] = Field(min_length=1)
    trust_vouched_by: list[str] = Field(
        default_factory=list,
        description="channels whose sender authenticated the applicant itself (an EfA service over "
                    "FIT-Connect or XTA): the gateway sees no login there, the sender answers for it")
    queue: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    retention_days: int | None = Field(default=None, ge=0, description="a closed or withdrawn case is purged "
                                       "this many days after it was closed; None keeps it")
    replies: ReplyPolicy | None = Field(default=None, description="reply channels of this service; the "
                                        "tenant's `replies` when absent")


class TenantCatalog(_Model):
    tenant: TenantConfig
    replies: ReplyPolicy | None = Field(default=None, description="reply channels of every service that has "
                                        "none of its own")
    services: list[ServiceEntry]


@runtime_checkable
class MappingLookup(Protocol):
    """The part of the mapping registry the catalog needs."""

    def source_format_of(self, mapping_id: str) -> str: ...


class RegistryLookup:
    """Adapts a mapping registry (anything with ``get(id).source_format``) to the lookup."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def source_format_of(self, mapping_id: str) -> str:
        source_format: str = self.registry.get(mapping_id).source_format
        return source_format

    def get(self, mapping_id: str) -> Any:
        return self.registry.get(mapping_id)


@dataclass(frozen=True)
class Route:
    tenant: TenantConfig
    service: ServiceEntry
    mapping_id: str


class Catalog:
    def __init__(self, tenants: dict[str, TenantCatalog]) -> None:
        self._tenants = tenants

    @classmethod
    def load(cls, directory: Path, mappings: MappingLookup) -> Catalog:
        tenants: dict[str, TenantCatalog] = {}
        files = sorted(directory.glob("*.yaml"))
        if not files:
            raise ConfigurationError(f"{directory}: no tenant catalog (*.yaml) found")
        for path in files:
            doc = load_yaml(path)
            try:
                entry = TenantCatalog.model_validate(doc.data)
            except ValidationError as exc:
                first = exc.errors()[0]
                raise doc.error([str(p) if isinstance(p, str) else p for p in first["loc"]],
                                f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
            if entry.tenant.ars in tenants:
                raise doc.error(["tenant", "ars"], f"tenant {entry.tenant.ars} is defined twice")
            seen: set[str] = set()
            for index, service in enumerate(entry.services):
                if service.leika in seen:
                    raise doc.error(["services", index, "leika"], f"service {service.leika} listed twice")
                seen.add(service.leika)
                for m_index, mapping_id in enumerate(service.mappings):
                    try:
                        mappings.source_format_of(mapping_id)
                    except ConfigurationError:
                        raise doc.error(["services", index, "mappings", m_index],
                                        f"unknown mapping {mapping_id!r}") from None
            tenants[entry.tenant.ars] = entry
        return cls(tenants)

    def tenants(self) -> list[TenantCatalog]:
        return [self._tenants[ars] for ars in sorted(self._tenants)]

    def tenant(self, ars: str) -> TenantCatalog:
        try:
            return self._tenants[ars]
        except KeyError:
            raise UnknownTenant("this installation serves no municipality with that ARS", tenant=ars) from None

    def reply_policy(self, tenant_ars: str, leika: str) -> ReplyPolicy:
        """The reply channels of a service: its own, else its municipality's, else none (every
        reply becomes a "send by post" task)."""
        entry = self.tenant(tenant_ars)
        service = next((s for s in entry.services if s.leika == leika), None)
        if service is not None and service.replies is not None:
            return service.replies
        return entry.replies or NO_REPLY_CHANNELS

    def reply_channel_uses(self) -> list[tuple[str, str, str]]:
        """(where, kind, channel name) for every reply channel the catalog names."""
        uses: list[tuple[str, str, str]] = []
        for ars in sorted(self._tenants):
            entry = self._tenants[ars]
            policies = [(f"tenant {ars}", entry.replies),
                        *((f"tenant {ars} service {s.leika}", s.replies) for s in entry.services)]
            for where, policy in policies:
                if policy is not None:
                    uses.extend((where, kind, name) for kind in REPLY_KINDS for name in policy.channels_for(kind))
        return uses

    def route(self, *, tenant_ars: str, leika: str | None, source_format: str, channel: str,
              account: AccountIdentity | None, mappings: MappingLookup) -> Route:
        """Decide where an application goes, or refuse it with the reason."""
        entry = self.tenant(tenant_ars)
        candidates = [s for s in entry.services if leika is None or s.leika == leika]
        if leika is None:
            candidates = [s for s in candidates
                          if any(mappings.source_format_of(m) == source_format for m in s.mappings)]
        if not candidates:
            raise UnknownService("the municipality does not offer this service", service=leika or source_format)
        service = candidates[0]
        if channel not in service.channels:
            raise ChannelNotAllowed(f"service {service.leika} is not accepted through channel {channel!r}",
                                    service=service.leika, channel=channel)
        if service.min_trust_level != "none" and channel not in service.trust_vouched_by:
            required = service.min_trust_level
            actual = account.trust_level if account else None
            if actual is None or actual.rank < required.rank:
                raise TrustLevelTooLow(
                    f"service {service.leika} needs trust level {required.value}, "
                    f"the applicant has {actual.value if actual else 'no login'}",
                    service=service.leika, required=required.value,
                )
        for mapping_id in service.mappings:
            if mappings.source_format_of(mapping_id) == source_format:
                return Route(tenant=entry.tenant, service=service, mapping_id=mapping_id)
        raise UnsupportedFormat(f"service {service.leika} has no mapping for format {source_format!r}",
                                service=service.leika, format=source_format)
