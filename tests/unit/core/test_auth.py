from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from gateway.api.auth import TokenService
from gateway.errors import AuthenticationFailed, Forbidden, TokenRequestRefused
from tests.conftest import SECRETS, make_settings


@pytest.fixture
def tokens(tmp_path: Path) -> TokenService:
    return TokenService(make_settings(tmp_path))


def test_issued_token_verifies_with_its_scopes(tokens: TokenService) -> None:
    issued = tokens.issue("fach", SECRETS["fach"], None)
    principal = tokens.verify(str(issued["access_token"]))
    assert principal.client_id == "fach"
    assert principal.scopes == {"cases:read", "cases:write"}
    principal.require("cases:read")
    with pytest.raises(Forbidden):
        principal.require("applications:submit")


def test_requested_scope_narrows_but_never_widens(tokens: TokenService) -> None:
    issued = tokens.issue("fach", SECRETS["fach"], "cases:read")
    assert tokens.verify(str(issued["access_token"])).scopes == {"cases:read"}
    with pytest.raises(TokenRequestRefused):
        tokens.issue("fach", SECRETS["fach"], "admin")


@pytest.mark.parametrize("client_id,secret", [("fach", "wrong"), ("nobody", "fach-secret"), ("fach", "")])
def test_wrong_credentials_are_refused(tokens: TokenService, client_id: str, secret: str) -> None:
    with pytest.raises(AuthenticationFailed):
        tokens.issue(client_id, secret, None)


def test_tampered_token_is_refused(tokens: TokenService) -> None:
    token = str(tokens.issue("portal", SECRETS["portal"], None)["access_token"])
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(AuthenticationFailed):
        tokens.verify(f"{header}.{forged}.{signature}")


def test_alg_none_is_refused(tokens: TokenService) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').decode().rstrip("=")
    payload = base64.urlsafe_b64encode(json.dumps(
        {"iss": "rathaus-gateway", "aud": "rathaus-gateway", "sub": "admin", "scope": "admin",
         "exp": int(time.time()) + 60}).encode()).decode().rstrip("=")
    with pytest.raises(AuthenticationFailed):
        tokens.verify(f"{header}.{payload}.")


def test_expired_token_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = TokenService(make_settings(tmp_path, token_ttl_seconds=60))
    token = str(tokens.issue("portal", SECRETS["portal"], None)["access_token"])
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(AuthenticationFailed):
        tokens.verify(token)


def test_token_of_another_key_is_refused(tmp_path: Path, tokens: TokenService) -> None:
    other = TokenService(make_settings(tmp_path, token_signing_key="another-signing-key-0123456789abcdefXYZ"))
    token = str(other.issue("admin", SECRETS["admin"], None)["access_token"])
    with pytest.raises(AuthenticationFailed):
        tokens.verify(token)
