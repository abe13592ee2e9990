"""Binds a correlation id to every request (:mod:`gateway.logs.correlation`): the client's
``X-Correlation-ID`` if it is a sane id, else a new one; the answer names it in the same header.
A message the request brings in (a portal application, a FIT-Connect callback's submission)
keeps it for the rest of its way. A plain ASGI middleware: errors and refusals carry it too."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.logs import correlation

_HEADER = correlation.HEADER.lower().encode()


class CorrelationId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        value = correlation.sane(Headers(scope=scope).get(correlation.HEADER)) or correlation.new_id()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (_HEADER, value.encode())]}
            await send(message)

        with correlation.bound(value):
            await self.app(scope, receive, send_with_id)
