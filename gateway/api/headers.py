"""Security headers on every response, and ``Cache-Control: no-store`` on every response of
the API proper (cases, attachments, events, admin, tokens all carry personal data or
credentials; nothing there may sit in a browser's or a proxy's cache).

A plain ASGI middleware, so it also covers answers made outside the routes (the body-size
refusal, 404s of unknown paths, errors).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# API responses are data, never pages: nothing may load from them or frame them.
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
# The documentation pages run Swagger UI / ReDoc from the gateway's own assets: their inline
# start-up script and styles, nothing from elsewhere.
DOCS_CSP = (b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            b"img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'")
DOCS_PREFIXES = ("/docs", "/redoc")
HSTS = b"max-age=31536000; includeSubDomains"

_ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
           (b"x-frame-options", b"DENY")]


def _uncacheable(path: str) -> bool:
    """The API proper: everything but the health probes, the OpenAPI document and the docs."""
    return not (path.startswith(DOCS_PREFIXES) or path in ("/openapi.json", "/healthz", "/readyz"))


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        added = list(_ALWAYS)
        added.append((b"content-security-policy", DOCS_CSP if path.startswith(DOCS_PREFIXES) else API_CSP))
        if scope.get("scheme") == "https":
            added.append((b"strict-transport-security", HSTS))
        no_store = _uncacheable(path)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                headers = [(n, v) for n, v in message.get("headers", [])
                           if not (no_store and n.lower() in (b"cache-control", b"pragma"))
                           and n.lower() != b"server"]
                headers.extend((n, v) for n, v in added if n not in names)
                if no_store:
                    headers.extend([(b"cache-control", b"no-store"), (b"pragma", b"no-cache")])
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
