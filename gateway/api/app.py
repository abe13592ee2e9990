"""Builds the FastAPI application for one gateway."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from gateway import __version__
from gateway.api import docs, openapi, problems, routes_admin, routes_cases, routes_events, routes_token
from gateway.api.auth import TokenService
from gateway.api.headers import SecurityHeaders
from gateway.api.limits import BodySizeLimit
from gateway.api.throttle import Counters, MemoryCounters, RedisCounters, TokenThrottle
from gateway.config import Settings

if TYPE_CHECKING:
    from gateway.runtime import Gateway

DESCRIPTION = """Integration gateway of a municipal Digitales Rathaus.

Every application — from the town portal, FIT-Connect, XTA/XÖV — becomes one internal case.
Authenticate with OAuth2 client credentials at `/oauth/token`; errors are RFC 9457 problems."""


def _worker_lifespan(gateway: Gateway) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = threading.Thread(target=gateway.run_worker, args=(stop,), name="worker", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=10)

    return lifespan


def token_throttle(settings: Settings) -> TokenThrottle:
    counters: Counters
    if settings.profile == "scaleout":
        counters = RedisCounters(settings.redis_url, f"{settings.queue_name}:token-limits:")
    else:
        counters = MemoryCounters()
    return TokenThrottle(settings.token_limits, counters, frozenset(c.client_id for c in settings.clients))


def create_app(gateway: Gateway, run_worker: bool = False) -> FastAPI:
    """The API of ``gateway``; with ``run_worker`` the worker loop runs beside it."""
    app = FastAPI(title="Rathaus-Gateway", version=__version__, description=DESCRIPTION,
                  lifespan=_worker_lifespan(gateway) if run_worker else None, docs_url=None, redoc_url=None)
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
    for ctx in gateway.contexts:
        for router in ctx.routers:
            app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=gateway.settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)  # outermost: also on the body-size refusal
    return app
