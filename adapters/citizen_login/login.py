"""The citizen login as the routes see it: options, the service providers by (tenant,
identity provider), the session service and the pending requests — built from the options."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from adapters.citizen_login.idp_metadata import MetadataSource
from adapters.citizen_login.keys import KeyPair
from adapters.citizen_login.options import CitizenLoginOptions, KeyFiles
from adapters.citizen_login.pending import PendingStore
from adapters.citizen_login.replay import RedisReplayCache, ReplayCache, StateReplayCache
from adapters.citizen_login.service import SamlLogin
from adapters.citizen_login.sp import ServiceProvider
from gateway.errors import ConfigurationError, NotFound
from gateway.ports import StateStore
from gateway.sessions import SessionService

NAME = "citizen_login"


def load_options(raw: dict[str, object]) -> CitizenLoginOptions:
    try:
        return CitizenLoginOptions.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "options"
        raise ConfigurationError(f"adapters.{NAME}.{where}: {first['msg']}") from None


@dataclass
class CitizenLogin:
    """Everything the routes need: the logins by (tenant, identity provider), the sessions."""

    options: CitizenLoginOptions
    logins: dict[tuple[str, str], SamlLogin]
    sessions: SessionService
    pending: PendingStore

    def login(self, tenant_ars: str, idp: str) -> SamlLogin:
        try:
            return self.logins[(tenant_ars, idp)]
        except KeyError:
            raise NotFound("no such login for this municipality", tenant=tenant_ars, identity_provider=idp) from None


def _pairs(files: list[KeyFiles], base_dir: Path) -> tuple[KeyPair, ...]:
    return tuple(KeyPair.load(base_dir / f.key, base_dir / f.cert) for f in files)


def build(options: CitizenLoginOptions, base_dir: Path, state: StateStore,
          clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
          replay: ReplayCache | None = None) -> CitizenLogin:
    if replay is None:
        replay = (RedisReplayCache.from_url(options.redis_url) if options.replay_cache == "redis" and options.redis_url
                  else StateReplayCache(state))
    pending = PendingStore(state, options.request_ttl_seconds)
    logins: dict[tuple[str, str], SamlLogin] = {}
    for tenant in options.tenants:
        signing, encryption = _pairs(tenant.signing_keys, base_dir), _pairs(tenant.encryption_keys, base_dir)
        for idp in tenant.identity_providers:
            sp = ServiceProvider.build(tenant, idp, options.public_base_url, signing, encryption)
            logins[(tenant.tenant_ars, idp.name)] = SamlLogin(
                sp, MetadataSource(idp, base_dir, clock=clock), pending, replay,
                return_origins=options.return_origins, clock=clock, skew_seconds=options.clock_skew_seconds,
                max_age_seconds=options.max_response_age_seconds, max_response_bytes=options.max_response_bytes)
    sessions = SessionService(NAME, options.session_signing_key.get_secret_value().encode(), state, clock)
    return CitizenLogin(options=options, logins=logins, sessions=sessions, pending=pending)
