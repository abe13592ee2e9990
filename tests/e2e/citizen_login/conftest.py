"""The gateway (with the citizen login, the real catalog and mappings) and the citizen-login
sandbox (identity provider + demo portal), each on its own loopback port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.citizen_login.sandbox.app import create_app as create_idp_sandbox
from adapters.citizen_login.testing import idp_options, login_options
from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from tests.conftest import REPO, SECRETS, make_settings
from tests.support.servers import free_port, serve_app


@dataclass
class Stack:
    gateway: Gateway
    gateway_url: str
    sandbox_url: str

    def token(self, client_id: str = "portal") -> str:
        response = httpx.post(f"{self.gateway_url}/oauth/token", data={
            "grant_type": "client_credentials", "client_id": client_id, "client_secret": SECRETS[client_id]})
        response.raise_for_status()
        return str(response.json()["access_token"])


@contextmanager
def running_stack(data_dir: Path, **login_overrides: Any) -> Iterator[Stack]:
    """The gateway and the sandbox, served; ``login_overrides`` change the citizen login's options."""
    gateway_port, sandbox_port = free_port(), free_port()
    gateway_url, sandbox_url = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{sandbox_port}"
    login: dict[str, Any] = login_options(gateway_url, [sandbox_url], [idp_options(
        metadata_url=f"{sandbox_url}/idp/metadata")], **login_overrides)
    settings = make_settings(data_dir, mappings_dir=REPO / "mappings",
                             fixtures_dir=REPO / "fixtures", adapters={"portal": {}, "citizen_login": login},
                             demo=True)  # the test keys of fixtures/
    environment = {"CITIZEN_LOGIN_SANDBOX_URL": sandbox_url, "CITIZEN_LOGIN_SANDBOX_GATEWAY_URL": gateway_url,
                   "CITIZEN_LOGIN_SANDBOX_CLIENT_ID": "portal", "CITIZEN_LOGIN_SANDBOX_CLIENT_SECRET": "portal-secret"}
    saved = {k: os.environ.get(k) for k in environment}
    os.environ.update(environment)
    try:
        sandbox = create_idp_sandbox()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    gateway = Gateway.create(settings)
    try:
        with serve_app(sandbox, port=sandbox_port), serve_app(create_app(gateway), port=gateway_port):
            yield Stack(gateway=gateway, gateway_url=gateway_url, sandbox_url=sandbox_url)
    finally:
        gateway.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("gateway")) as running:
        yield running


def form_of(page: str) -> tuple[str, dict[str, str]]:
    """The action and the inputs of the first form of an HTML page (a small, strict reader)."""
    from html.parser import HTMLParser

    found: dict[str, Any] = {"action": None, "fields": {}}

    class Reader(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if tag == "form" and found["action"] is None:
                found["action"] = values.get("action")
            elif tag == "input" and values.get("name") and values.get("type") in ("hidden", None):
                found["fields"].setdefault(values["name"], values.get("value") or "")

    Reader().feed(page)
    return str(found["action"]), dict(found["fields"])

