"""``GET /metrics``: Prometheus' text format (see :mod:`gateway.metrics`).

The scraper authenticates with the bearer token of the ``metrics.token`` setting (a Prometheus
``authorization`` credential) or with an access token that has scope ``admin``. The figures are
the installation's — counts by channel, service, kind and adapter, no municipality label and
nothing of an applicant."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from gateway.api.auth import TokenService
from gateway.api.deps import GatewayDep
from gateway.errors import AuthenticationFailed
from gateway.metrics import exposition

router = APIRouter(tags=["admin"])

TEXT = "text/plain"


def _authorize(request: Request, configured: str) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed("a Bearer token is required (metrics.token or an access token with scope admin)")
    if configured and hmac.compare_digest(token.encode(), configured.encode()):
        return
    tokens: TokenService = request.app.state.tokens
    tokens.verify(token).require("admin")


@router.get("/metrics", response_class=Response, summary="Prometheus metrics", responses={
    200: {"description": "the metrics in Prometheus' text exposition format 0.0.4",
          "content": {TEXT: {"schema": {"type": "string"}}}}})
def metrics(request: Request, gateway: GatewayDep) -> Response:
    """Intake, latency, deliveries, retries and dead letters (counted in every process), queue
    depth and adapter and circuit state (read from the database). Bearer: ``metrics.token``
    or an access token with scope ``admin``."""
    _authorize(request, gateway.settings.metrics.token.get_secret_value())
    body, content_type = exposition.render(gateway.db, gateway.health)
    return Response(body, media_type=content_type)
