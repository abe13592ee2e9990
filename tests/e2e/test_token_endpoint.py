"""The token endpoint: argon2id secrets, rate limit and lockout per client id and per address
(429 problem with Retry-After), counters shared between processes in the scale-out profile."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from urllib.parse import quote_plus

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.config import TokenLimits
from tests.conftest import SECRETS, make_settings
from tests.e2e.conftest import PROBLEM_JSON, problem_type, running_gateway

LIMITS = TokenLimits(requests_per_minute=100, max_failures_per_client=3, max_failures_per_address=6,
                     failure_window_seconds=60, lockout_seconds=120)


def _request(http: httpx.Client | TestClient, client_id: str, secret: str) -> httpx.Response:
    return http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                           "client_secret": secret})


def _assert_locked(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("too-many-requests")
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= LIMITS.lockout_seconds
    assert response.json()["retry_after"] == retry_after


def test_wrong_secrets_lock_the_client_out_even_for_the_right_secret(tmp_path: Path) -> None:
    with running_gateway(tmp_path, token_limits=LIMITS) as api:
        for _ in range(LIMITS.max_failures_per_client):
            assert _request(api.http, "portal", "wrong").status_code == 401
        _assert_locked(_request(api.http, "portal", "wrong"))
        _assert_locked(_request(api.http, "portal", SECRETS["portal"]))  # locked: the secret is not even checked
        # another client from the same address still gets in (the address has failures to spare)
        assert _request(api.http, "fach", SECRETS["fach"]).status_code == 200


def test_guessing_across_client_ids_locks_the_address_out(tmp_path: Path) -> None:
    with running_gateway(tmp_path, token_limits=LIMITS) as api:
        for n in range(LIMITS.max_failures_per_address):
            assert _request(api.http, f"made-up-{n}", "guess").status_code == 401
        _assert_locked(_request(api.http, "fach", SECRETS["fach"]))


def test_request_rate_per_address_is_limited(tmp_path: Path) -> None:
    limits = TokenLimits(requests_per_minute=4)
    with running_gateway(tmp_path, token_limits=limits) as api:
        answers = [_request(api.http, "fach", SECRETS["fach"]).status_code for _ in range(6)]
        assert answers == [200, 200, 200, 200, 429, 429]
        limited = _request(api.http, "fach", SECRETS["fach"])
        assert 0 < int(limited.headers["retry-after"]) <= 60


def test_a_right_secret_resets_the_clients_failures(tmp_path: Path) -> None:
    limits = LIMITS.model_copy(update={"max_failures_per_address": 20})
    with running_gateway(tmp_path, token_limits=limits) as api:
        for _ in range(3):  # 2 failures then a success, three times: never 3 failures in a row
            assert _request(api.http, "portal", "wrong").status_code == 401
            assert _request(api.http, "portal", "wrong").status_code == 401
            assert _request(api.http, "portal", SECRETS["portal"]).status_code == 200


def test_scaleout_processes_share_the_lockout(tmp_path: Path, pg_url: str, redis_url: str) -> None:
    """Two gateway processes (two apps on their own counters' clients) against one Redis:
    failures seen by one lock the client out at the other."""
    settings = make_settings(tmp_path, profile="scaleout", database_url=pg_url, redis_url=redis_url,
                             queue_name=f"rgtest-{uuid.uuid4().hex[:8]}", token_limits=LIMITS)
    gateway = Gateway.create(settings)
    try:
        first, second = TestClient(create_app(gateway)), TestClient(create_app(gateway))
        for client in (first, second, first):
            assert _request(client, "portal", "wrong").status_code == 401
        _assert_locked(_request(second, "portal", SECRETS["portal"]))
        _assert_locked(_request(first, "portal", SECRETS["portal"]))
    finally:
        gateway.close()


@pytest.mark.parametrize("profile", ["embedded"])
def test_secrets_are_checked_against_argon2id_hashes(tmp_path: Path, profile: str) -> None:
    with running_gateway(tmp_path, profile=profile) as api:
        assert all(c.secret_hash.startswith("$argon2id$") for c in api.gw.settings.clients)
        assert _request(api.http, "fach", SECRETS["fach"]).status_code == 200
        assert _request(api.http, "fach", SECRETS["fach"] + "x").status_code == 401


def _basic(client_id: str, secret: str) -> str:
    """RFC 6749 2.3.1: id and secret each form-urlencoded, then ``id:secret`` in base64."""
    return "Basic " + base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()


def test_client_secret_basic_is_accepted(tmp_path: Path) -> None:
    with running_gateway(tmp_path, token_limits=LIMITS) as api:
        issued = api.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                               headers={"Authorization": _basic("fach", SECRETS["fach"])})
        assert issued.status_code == 200, issued.text
        assert issued.headers["cache-control"] == "no-store"
        token = issued.json()["access_token"]
        assert api.http.get("/v1/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        # the client id may be repeated in the body (some clients do), as long as it is the same
        same = api.http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "fach"},
                             headers={"Authorization": _basic("fach", SECRETS["fach"])})
        assert same.status_code == 200, same.text


def test_a_wrong_basic_secret_gets_a_basic_challenge_and_counts_as_a_failure(tmp_path: Path) -> None:
    with running_gateway(tmp_path, token_limits=LIMITS) as api:
        for _ in range(LIMITS.max_failures_per_client):
            wrong = api.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                  headers={"Authorization": _basic("portal", "wrong")})
            assert wrong.status_code == 401
            assert wrong.headers["www-authenticate"] == 'Basic realm="rathaus-gateway"'
            assert wrong.headers["content-type"] == PROBLEM_JSON
            assert wrong.json()["error"] == "invalid_client"
        _assert_locked(api.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                     headers={"Authorization": _basic("portal", SECRETS["portal"])}))


@pytest.mark.parametrize("body,header", [
    ({"client_id": "fach", "client_secret": "demo"}, "fach"),  # two methods at once
    ({"client_secret": "x"}, "fach"),
    ({"client_id": "portal"}, "fach"),  # another client id in the body
    ({}, "not base64!"),
    ({}, base64.b64encode(b"no-colon").decode()),
    ({}, base64.b64encode(b"\xff\xfe:x").decode()),
], ids=["both-methods", "secret-in-body-too", "other-client-id", "not-base64", "no-colon", "not-utf8"])
def test_malformed_or_doubled_client_authentication_is_invalid_request(tmp_path: Path, body: dict[str, str],
                                                                       header: str) -> None:
    with running_gateway(tmp_path, token_limits=LIMITS) as api:
        authorization = _basic(header, SECRETS["fach"]) if header == "fach" else f"Basic {header}"
        refused = api.http.post("/oauth/token", data={"grant_type": "client_credentials", **body},
                                headers={"Authorization": authorization})
        assert refused.status_code == 400, refused.text
        assert refused.json()["type"] == problem_type("token-request-refused")
        assert refused.json()["error"] == "invalid_request"
        assert "access_token" not in refused.text
