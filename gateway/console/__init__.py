"""The admin console: server-rendered pages under ``/console/`` (Jinja2, no JavaScript) behind
an admin login — adapter overview, case search, quarantine and dead letters (reason, original,
replay, discard), replies, catalog, recent events. German labels.

Two read interfaces let other components fill pages the store alone cannot:
:class:`AdapterHealthSource` (the overview: :class:`WithCircuits`, the store's waiting work with
the circuit breakers of ``gateway/health``) and :class:`ReplyStatusSource` (the replies page:
:class:`RecordedReplies`, the deliveries of ``gateway/replies``). Pass another to :func:`install`
to replace either.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from gateway.api.throttle import TokenThrottle, counters_for
from gateway.bootstrap import Gateway
from gateway.console import routes_cases, routes_messages, routes_pages, routes_session
from gateway.console.auth import Admin, ConsoleAuth
from gateway.console.deps import Console
from gateway.console.health import AdapterHealthRow, AdapterHealthSource, StoreDerivedHealth, WithCircuits
from gateway.console.replies import RecordedReplies, ReplyStatusRow, ReplyStatusSource
from gateway.console.web import CSP, HERE, PREFIX, ConsoleRefusal, LoginRequired, page

__all__ = ["AdapterHealthRow", "AdapterHealthSource", "Admin", "RecordedReplies", "ReplyStatusRow",
           "ReplyStatusSource", "StoreDerivedHealth", "install"]

_CSS = (HERE / "static" / "console.css").read_bytes()


def _throttle(gateway: Gateway, usernames: frozenset[str]) -> TokenThrottle:
    settings = gateway.settings
    return TokenThrottle(settings.console.login_limits, counters_for(settings, "console-login-limits"), usernames)


def install(app: FastAPI, gateway: Gateway, *, health: AdapterHealthSource | None = None,
            replies: ReplyStatusSource | None = None) -> None:
    """Mount the console on ``app`` (its routes stay out of the OpenAPI document)."""
    auth = ConsoleAuth(gateway.settings.console, gateway.state)
    app.state.console = Console(
        auth=auth, throttle=_throttle(gateway, auth.usernames),
        health=health or WithCircuits(StoreDerivedHealth(gateway.db, gateway.adapters, gateway.settings.webhooks,
                                                         gateway.dispatcher.adapter_kinds), gateway.health),
        replies=replies or RecordedReplies(gateway.db))
    for module in (routes_session, routes_pages, routes_cases, routes_messages):
        app.include_router(module.router)

    @app.get(f"{PREFIX}/static/console.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(_CSS, media_type="text/css; charset=utf-8", headers={"Content-Security-Policy": CSP})

    @app.get(PREFIX, include_in_schema=False)
    def bare() -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=308)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"{PREFIX}/anmelden", status_code=303)

    @app.exception_handler(ConsoleRefusal)
    async def _refused(request: Request, exc: ConsoleRefusal) -> Response:
        return page("fehler.html", status=exc.status, headers=exc.headers, admin=None, current="",
                    title=exc.title, message=exc.message)
