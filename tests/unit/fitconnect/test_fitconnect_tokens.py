"""OAuth2 client credentials: form-encoded, cached, renewed before expiry, refreshed on 401."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest

from adapters.fitconnect.api import RemoteRefused, SubmissionApi
from adapters.fitconnect.tokens import TokenSource
from gateway.errors import UpstreamUnavailable


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def token_server(requests: list[dict[str, list[str]]], lifetime: int = 1800) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            assert request.headers["content-type"] == "application/x-www-form-urlencoded"
            requests.append(parse_qs(request.content.decode()))
            return httpx.Response(200, json={"access_token": f"t{len(requests)}", "token_type": "Bearer",
                                             "expires_in": lifetime})
        if request.headers.get("authorization") == "Bearer t1" and request.url.path == "/v1/revoked":
            return httpx.Response(401)
        return httpx.Response(200, json={"seen": request.headers.get("authorization")})
    return httpx.MockTransport(handle)


def test_token_is_cached_and_renewed_before_expiry() -> None:
    requests: list[dict[str, list[str]]] = []
    clock = Clock()
    tokens = TokenSource(httpx.Client(transport=token_server(requests), base_url="http://z"), "http://z/token",
                         "client", "secret", clock)
    assert tokens.token() == "t1"
    assert requests[0] == {"grant_type": ["client_credentials"], "client_id": ["client"],
                           "client_secret": ["secret"]}
    clock.now = 1600.0
    assert tokens.token() == "t1"  # still more than 3 minutes left
    clock.now = 1621.0
    assert tokens.token() == "t2"  # renewed 180 s (10 %) before the 30-minute expiry
    assert len(requests) == 2


def test_lifetime_is_capped_at_thirty_minutes() -> None:
    requests: list[dict[str, list[str]]] = []
    clock = Clock()
    tokens = TokenSource(httpx.Client(transport=token_server(requests, lifetime=86400)), "http://z/token",
                         "c", "s", clock)
    tokens.token()
    clock.now = 1700.0
    tokens.token()
    assert len(requests) == 2


def test_a_401_gets_one_fresh_token() -> None:
    requests: list[dict[str, list[str]]] = []
    http = httpx.Client(transport=token_server(requests))
    api = SubmissionApi("http://z", TokenSource(http, "http://z/token", "c", "s"), http)
    assert api.get_json("/v1/revoked") == {"seen": "Bearer t2"}


def test_token_endpoint_failures() -> None:
    for status, error in ((503, UpstreamUnavailable), (401, RemoteRefused)):
        http = httpx.Client(transport=httpx.MockTransport(lambda request, s=status: httpx.Response(s)))
        with pytest.raises(error):
            TokenSource(http, "http://z/token", "c", "s").token()


@pytest.mark.parametrize("response", [
    httpx.Response(200, content=b"<html>not json</html>"),
    httpx.Response(200, json={"token_type": "Bearer"}),
    httpx.Response(200, json={"access_token": {"nested": 1}}),
    httpx.Response(200, json=["access_token"]),
])
def test_an_unusable_token_answer_is_a_transient_error(response: httpx.Response) -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda request: response))
    with pytest.raises(UpstreamUnavailable, match="usable token"):
        TokenSource(http, "http://z/token", "c", "s").token()


def test_token_and_jwks_answers_are_read_with_a_cap() -> None:
    def endless() -> Iterator[bytes]:
        while True:
            yield b"x" * 65536

    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=endless())))
    with pytest.raises(RemoteRefused, match="size limit"):
        TokenSource(http, "http://z/token", "c", "s").token()
    api = SubmissionApi("http://z", TokenSource(http, "http://z/token", "c", "s"), http)
    with pytest.raises(RemoteRefused, match="size limit"):
        api.get_jwks("http://elsewhere.invalid/jwks.json")  # a JWKS outside the API, read without auth
