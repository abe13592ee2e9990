"""Security headers on every response, no caching of personal data, no ``server`` header,
and API docs that work without internet (local assets only)."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from gateway.api.headers import SecurityHeaders
from gateway.server import uvicorn_config
from tests.e2e.conftest import Api, hund_envelope, new_key

COMMON = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY"}


def _assert_common(response: httpx.Response) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (response.request.url, name)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "server" not in response.headers
    assert "strict-transport-security" not in response.headers  # plain http here


def test_every_kind_of_response_has_the_security_headers(api: Api) -> None:
    case = api.create_case()
    responses = [
        api.http.get("/healthz"), api.http.get("/openapi.json"), api.http.get("/docs"),
        api.http.get("/no/such/path"), api.http.get("/v1/cases"),  # 401
        api.get(f"/v1/cases/{case['case_id']}"), api.get("/v1/events"),
        api.http.post("/oauth/token", data={"grant_type": "client_credentials"}),  # 400
        api.http.post("/v1/applications", content=b"x" * 10, headers={**api.auth("portal"),
                                                                      "content-type": "text/plain"}),
    ]
    for response in responses:
        _assert_common(response)


@pytest.mark.parametrize("path", ["/v1/cases", "/v1/events", "/v1/admin/inbox"])
def test_personal_data_is_never_cacheable(api: Api, path: str) -> None:
    client = "admin" if "admin" in path else "fach"
    response = api.get(path, client)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"


def test_case_and_attachment_responses_are_not_cacheable(api: Api) -> None:
    created = api.create_case()
    response = api.get(f"/v1/cases/{created['case_id']}")
    assert response.headers["cache-control"] == "no-store"
    submitted = api.submit(hund_envelope(), key=new_key())
    assert submitted.headers["cache-control"] == "no-store"


def test_docs_are_served_from_local_assets_only(api: Api) -> None:
    for page in ("/docs", "/redoc"):
        html = api.http.get(page)
        assert html.status_code == 200
        sources = re.findall(r'(?:src|href)="([^"]+)"', html.text)
        assert sources, page
        for source in sources:
            assert source.startswith("/"), f"{page} loads {source} from elsewhere"
            asset = api.http.get(source)
            assert asset.status_code == 200, source
            assert len(asset.content) > 1000, source
        assert "fonts.googleapis" not in html.text


def test_hsts_only_over_https() -> None:
    asyncio.run(_hsts_only_over_https())


async def _hsts_only_over_https() -> None:
    async def app(scope: dict[str, object], receive: object, send: object) -> None:  # a bare ASGI app
        await send({"type": "http.response.start", "status": 200, "headers": [(b"server", b"x")]})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"{}"})  # type: ignore[operator]

    wrapped = SecurityHeaders(app)  # type: ignore[arg-type]
    for base, expected in (("https://gw.example", True), ("http://gw.example", False)):
        transport = httpx.ASGITransport(app=wrapped)
        async with httpx.AsyncClient(transport=transport, base_url=base) as client:
            response = await client.get("/v1/cases")
        assert ("strict-transport-security" in response.headers) is expected
        assert "server" not in response.headers


def test_every_server_config_omits_the_server_header() -> None:
    config = uvicorn_config(lambda *_: None, "127.0.0.1", 1)
    assert config.server_header is False
