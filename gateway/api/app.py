"""Builds the FastAPI application for one gateway."""

from __future__ import annotations

from fastapi import FastAPI

from gateway import __version__
from gateway.api import problems, routes_admin, routes_cases, routes_events
from gateway.api.auth import TokenService
from gateway.api.limits import BodySizeLimit
from gateway.bootstrap import Gateway

DESCRIPTION = """Integration gateway of a municipal Digitales Rathaus.

Every application — from the town portal, FIT-Connect, XTA/XÖV — becomes one internal case.
Authenticate with OAuth2 client credentials at `/oauth/token`; errors are RFC 9457 problems."""


def create_app(gateway: Gateway) -> FastAPI:
    """The API of ``gateway``. It never runs the worker loop: that has a process of its own."""
    app = FastAPI(title="Rathaus-Gateway", version=__version__, description=DESCRIPTION)
    app.state.gateway = gateway
    app.state.tokens = TokenService(gateway.settings)
    problems.install(app)
    app.include_router(routes_admin.router)
    app.include_router(routes_cases.router)
    app.include_router(routes_events.router)
    for ctx in gateway.contexts:
        for router in ctx.routers:
            app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=gateway.settings.max_body_bytes)
    return app
