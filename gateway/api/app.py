"""Builds the FastAPI application for one gateway."""

from __future__ import annotations

from fastapi import FastAPI

from gateway import __version__
from gateway.api import (
    docs,
    openapi,
    problems,
    routes_admin,
    routes_cases,
    routes_events,
    routes_metrics,
    routes_replies,
    routes_token,
)
from gateway.api.auth import TokenService
from gateway.api.correlation import CorrelationId
from gateway.api.headers import SecurityHeaders
from gateway.api.limits import BodySizeLimit
from gateway.api.throttle import TokenThrottle, counters_for
from gateway.bootstrap import Gateway
from gateway.config import Settings
from gateway.console import install as install_console

DESCRIPTION = """Integration gateway of a municipal Digitales Rathaus.

Every application — from the town portal, FIT-Connect, XTA/XÖV — becomes one internal case.
Authenticate with OAuth2 client credentials at `/oauth/token`; errors are RFC 9457 problems."""


def token_throttle(settings: Settings) -> TokenThrottle:
    return TokenThrottle(settings.token_limits, counters_for(settings, "token-limits"),
                         frozenset(c.client_id for c in settings.clients))


def create_app(gateway: Gateway) -> FastAPI:
    """The API of ``gateway``. It never runs the worker loop: that has a process of its own."""
    app = FastAPI(title="Rathaus-Gateway", version=__version__, description=DESCRIPTION, docs_url=None,
                  redoc_url=None)
    app.state.gateway = gateway
    app.state.tokens = TokenService(gateway.settings)
    app.state.token_throttle = token_throttle(gateway.settings)
    problems.install(app)
    docs.install(app)
    openapi.install(app)
    app.include_router(routes_token.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_cases.router)
    app.include_router(routes_events.router)
    app.include_router(routes_metrics.router)
    app.include_router(routes_replies.router)
    for ctx in gateway.contexts:
        for router in ctx.routers:
            app.include_router(router)
    install_console(app, gateway)  # /console/: the admin console (pages, outside the OpenAPI document)
    app.add_middleware(BodySizeLimit, max_bytes=gateway.settings.max_body_bytes)
    app.add_middleware(CorrelationId)  # bound before anything is logged, named in every answer
    app.add_middleware(SecurityHeaders)  # outermost: also on the body-size refusal
    return app
