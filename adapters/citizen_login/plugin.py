"""Entry point ``adapters.citizen_login.plugin:install``: one service provider per tenant and
identity provider, the session service, and the HTTP routes.

::

    adapters:
      citizen_login:
        public_base_url: https://gateway.tangerhuette.de
        session_signing_key: ...            # >= 32 bytes, the same in every process
        return_origins: [https://portal.tangerhuette.de]
        rate_limits: {requests_per_minute: 60, max_failures: 10, failure_window_seconds: 300,
                      lockout_seconds: 300}   # per client address (the defaults)
        tenants:
          - tenant_ars: "150905350535"
            entity_id_base: https://gateway.tangerhuette.de/saml
            organisation_display_name: Einheitsgemeinde Stadt Tangerhütte
            signing_keys: [{key: secrets/saml-sign-2026.key.pem, cert: secrets/saml-sign-2026.cert.pem}]
            encryption_keys: [{key: secrets/saml-enc-2026.key.pem, cert: secrets/saml-enc-2026.cert.pem}]
            identity_providers:
              - {name: bundid, profile: bundid, entity_id: "https://id.bund.de/idp",
                 metadata_url: "https://id.bund.de/idp", online_service_id: "..."}
"""

from __future__ import annotations

from adapters.citizen_login.limits import COUNTERS, AddressThrottle
from adapters.citizen_login.login import NAME, CitizenLogin, build, load_options
from adapters.citizen_login.routes import router_for
from gateway.plugins import AdapterContext

__all__ = ["NAME", "CitizenLogin", "build", "install", "load_options"]


def install(ctx: AdapterContext) -> None:
    login = build(load_options(ctx.options), ctx.base_dir, ctx.state)
    ctx.adapters.sessions.register(NAME, login.sessions)
    ctx.routers.append(router_for(login, AddressThrottle(login.options.rate_limits, ctx.counters(COUNTERS))))
