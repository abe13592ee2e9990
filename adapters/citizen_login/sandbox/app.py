"""Entry point ``adapters.citizen_login.sandbox.app:create_app``: the identity-provider sandbox
(``/idp/...``) and the demo portal (``/portal/``) in one ASGI app. DEMO/TEST ONLY.

Environment (defaults fit `make run`):

==========================================  ===============================================
``CITIZEN_LOGIN_SANDBOX_URL``               its own base URL (``http://127.0.0.1:8103``)
``CITIZEN_LOGIN_SANDBOX_GATEWAY_URL``       the gateway (``http://127.0.0.1:8000``)
``CITIZEN_LOGIN_SANDBOX_SP_METADATA``       service provider metadata URLs, comma-separated
                                            (default: the gateway's for the demo tenant)
``CITIZEN_LOGIN_SANDBOX_TENANT`` / ``_IDP``  the demo portal's tenant and identity provider
``CITIZEN_LOGIN_SANDBOX_CLIENT_ID`` / ``_CLIENT_SECRET``  the demo portal's OAuth client
==========================================  ===============================================
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from adapters.citizen_login.sandbox.idp import SandboxIdp
from adapters.citizen_login.sandbox.idp import router_for as idp_router
from adapters.citizen_login.sandbox.portal import DemoPortal
from adapters.citizen_login.sandbox.portal import router_for as portal_router
from adapters.citizen_login.testing import IDP_ENTITY_ID, REPO, TENANT, certificate, key_pair


def create_app() -> FastAPI:
    env = os.environ.get
    base = env("CITIZEN_LOGIN_SANDBOX_URL", "http://127.0.0.1:8103").rstrip("/")
    gateway = env("CITIZEN_LOGIN_SANDBOX_GATEWAY_URL", "http://127.0.0.1:8000").rstrip("/")
    tenant = env("CITIZEN_LOGIN_SANDBOX_TENANT", TENANT)
    idp_name = env("CITIZEN_LOGIN_SANDBOX_IDP", "sandbox")
    sp_metadata = env("CITIZEN_LOGIN_SANDBOX_SP_METADATA", f"{gateway}/v1/citizen/saml/{tenant}/{idp_name}/metadata")
    idp = SandboxIdp(base_url=base, entity_id=IDP_ENTITY_ID, signing=key_pair("idp-sandbox-signing-2026"),
                     published=(certificate("idp-sandbox-signing-2026"), certificate("idp-sandbox-signing-2027")),
                     sp_metadata_urls=[u.strip() for u in sp_metadata.split(",") if u.strip()])
    portal = DemoPortal(base_url=base, gateway_url=gateway, tenant=tenant, idp=idp_name,
                        client_id=env("CITIZEN_LOGIN_SANDBOX_CLIENT_ID", "demo-portal"),
                        client_secret=env("CITIZEN_LOGIN_SANDBOX_CLIENT_SECRET", "demo-portal-secret"),
                        fixtures=REPO / "fixtures" / "mappings")
    app = FastAPI(title="Citizen login sandbox (TEST)", docs_url=None, redoc_url=None)
    app.include_router(idp_router(idp))
    app.include_router(portal_router(portal))

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{base}/portal/", status_code=303)

    return app
