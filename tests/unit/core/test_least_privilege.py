"""Least privilege: admin is a scope of its own and bound to tenants, the published demo
credentials only work in the demo, a token lives no longer than the configured TTL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from pydantic import ValidationError

from gateway.api.auth import TokenService
from gateway.client_secrets import DEMO_TOKEN_SIGNING_KEY
from gateway.config import ClientConfig, Settings
from gateway.errors import AuthenticationFailed, Forbidden
from tests.conftest import SECRETS, TENANT, make_settings, secret_hash

KEY = "test-signing-key-0123456789abcdef0123456789"


def test_admin_implies_no_other_scope(tmp_path: Path) -> None:
    tokens = TokenService(make_settings(tmp_path))
    admin = tokens.verify(str(tokens.issue("admin", SECRETS["admin"], None)["access_token"]))
    admin.require("admin")
    for scope in ("cases:read", "cases:write", "applications:submit"):
        with pytest.raises(Forbidden):
            admin.require(scope)


def test_admin_clients_must_name_their_tenants() -> None:
    with pytest.raises(ValidationError, match="tenants"):
        ClientConfig(client_id="root", secret_hash=secret_hash("root-secret"), scopes=["admin"])
    assert ClientConfig(client_id="root", secret_hash=secret_hash("root-secret"), scopes=["admin"],
                        tenants=[TENANT]).tenants == [TENANT]


def test_demo_signing_key_is_refused_outside_the_demo(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="published demo key"):
        make_settings(tmp_path, token_signing_key=DEMO_TOKEN_SIGNING_KEY)
    assert make_settings(tmp_path, token_signing_key=DEMO_TOKEN_SIGNING_KEY, demo=True).demo


def test_demo_secrets_are_refused_outside_the_demo(tmp_path: Path) -> None:
    demo_client = ClientConfig(client_id="my-portal", secret_hash=secret_hash("demo-portal-secret"),
                               scopes=["applications:submit"], tenants=[TENANT])
    with pytest.raises(ValidationError, match="published demo secret"):
        make_settings(tmp_path, clients=[demo_client])
    assert make_settings(tmp_path, clients=[demo_client], demo=True).clients == [demo_client]


def test_the_demo_configuration_turns_the_demo_profile_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_CONFIG_FILE", str(Path(__file__).resolve().parents[3] / "fixtures/demo/gateway.yaml"))
    assert Settings().demo is True
    monkeypatch.setenv("RG_DEMO", "false")
    with pytest.raises(ValidationError, match="demo"):
        Settings()


def _forged(claims: dict[str, object]) -> str:
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(KEY.encode()))


@pytest.mark.parametrize("lifetime", ["exp_far_future", "exp_beyond_ttl", "iat_in_future", "no_iat"])
def test_token_lifetime_is_capped_by_the_ttl_whatever_exp_says(tmp_path: Path, lifetime: str) -> None:
    tokens = TokenService(make_settings(tmp_path, token_signing_key=KEY, token_ttl_seconds=600))
    now = int(time.time())
    claims: dict[str, object] = {"iss": "rathaus-gateway", "aud": "rathaus-gateway", "sub": "fach",
                                 "scope": "cases:read", "iat": now, "exp": now + 600}
    assert tokens.verify(_forged(claims)).client_id == "fach"  # the well-formed one passes
    if lifetime == "exp_far_future":
        claims["exp"] = 10**30
    elif lifetime == "exp_beyond_ttl":
        claims["exp"] = now + 601
    elif lifetime == "iat_in_future":
        claims.update(iat=now + 3600, exp=now + 3600 + 60)
    else:
        del claims["iat"]
    with pytest.raises(AuthenticationFailed):
        tokens.verify(_forged(claims))
