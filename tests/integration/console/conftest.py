"""A gateway with console accounts behind a TestClient, and a small reader for the pages' forms."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.config import ConsoleAccount, ConsoleSettings, TokenLimits
from gateway.errors import InvalidPayload, Problem, UpstreamUnavailable
from gateway.ports import CommittedCase, InboundMessage, VerifiedSubmission
from gateway.store import tables
from tests.conftest import OTHER_TENANT, TENANT, make_settings, secret_hash
from tests.integration.conftest import portal_message

PASSWORDS = {"leitung": "leitung-passwort-1", "sachbearbeitung": "sachbearbeitung-passwort-2",
             "andere": "andere-kommune-passwort-3"}


def console_settings(**overrides: Any) -> ConsoleSettings:
    accounts = [
        ConsoleAccount(username="leitung", password_hash=secret_hash(PASSWORDS["leitung"]),
                       tenants=[TENANT, OTHER_TENANT], may_view_originals=True),
        ConsoleAccount(username="sachbearbeitung", password_hash=secret_hash(PASSWORDS["sachbearbeitung"]),
                       tenants=[TENANT]),
        ConsoleAccount(username="andere", password_hash=secret_hash(PASSWORDS["andere"]), tenants=[OTHER_TENANT]),
    ]
    values: dict[str, Any] = {"accounts": accounts, "login_limits": TokenLimits(
        requests_per_minute=30, max_failures_per_client=3, max_failures_per_address=10, lockout_seconds=300)}
    values.update(overrides)
    return ConsoleSettings(**values)


class Forms(HTMLParser):
    """Every form of a page: its action, method and named fields (hidden and visible)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append({"action": values.get("action"), "method": values.get("method"), "fields": {}})
        elif tag in ("input", "select") and self.forms and values.get("name"):
            self.forms[-1]["fields"][values["name"]] = values.get("value") or ""


def forms_of(html: str) -> list[dict[str, Any]]:
    reader = Forms()
    reader.feed(html)
    return reader.forms


def form_with_action(html: str, action: str) -> dict[str, Any]:
    for form in forms_of(html):
        if form["action"] == action:
            return form
    raise AssertionError(f"no form posting to {action} on the page")


@dataclass
class ConsoleClient:
    gateway: Gateway
    http: TestClient

    def login(self, username: str, password: str | None = None) -> Any:
        page = self.http.get("/console/anmelden")
        form = form_with_action(page.text, "/console/anmelden")
        fields = {**form["fields"], "benutzername": username,
                  "passwort": PASSWORDS.get(username, "") if password is None else password}
        return self.http.post("/console/anmelden", data=fields, follow_redirects=False)

    def csrf(self, path: str = "/console/") -> str:
        token = form_with_action(self.http.get(path).text, "/console/abmelden")["fields"]["csrf"]
        assert isinstance(token, str) and token
        return token

    def audit(self, action: str) -> list[dict[str, Any]]:
        with self.gateway.db.reading() as conn:
            rows = conn.execute(select(tables.audit).where(tables.audit.c.action == action)
                                .order_by(tables.audit.c.seq)).mappings().all()
        return [dict(r) for r in rows]


def text_of(page: str) -> str:
    """The page's text as a reader sees it (tags dropped, entities decoded, spaces collapsed)."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
def console_gateway(tmp_path: Path) -> Iterator[Gateway]:
    gateway = Gateway.create(make_settings(tmp_path / "gw", console=console_settings(), intake_max_attempts=2,
                                           delivery_max_attempts=2))
    yield gateway
    gateway.close()


@pytest.fixture
def console(console_gateway: Gateway) -> Iterator[ConsoleClient]:
    with TestClient(create_app(console_gateway), base_url="http://testserver") as http:
        yield ConsoleClient(console_gateway, http)


@pytest.fixture
def other_console(console_gateway: Gateway) -> Iterator[ConsoleClient]:
    """A second browser against the same gateway (its own cookies)."""
    with TestClient(create_app(console_gateway), base_url="http://testserver") as http:
        yield ConsoleClient(console_gateway, http)


class BreakableChannel:
    """A pull channel whose verification can be broken (permanently or for a while) and mended,
    built on the portal's own verification; records acknowledgements and rejections."""

    name = "testpull"

    def __init__(self, gateway: Gateway) -> None:
        self.inner = gateway.adapters.channels.get("portal")
        self.broken = False
        self.unavailable = False
        self.ack_down = False
        self.acks: list[str] = []
        self.rejects: list[str] = []

    def verify(self, message: InboundMessage) -> VerifiedSubmission:
        if self.broken:
            raise InvalidPayload("the sender's format is not configured")
        if self.unavailable:
            raise UpstreamUnavailable("the key service does not answer")
        return self.inner.verify(message)

    def acknowledge(self, message: InboundMessage, case: CommittedCase) -> None:
        if self.ack_down:
            raise UpstreamUnavailable("the source does not answer")
        self.acks.append(message.source_id)

    def reject(self, message: InboundMessage, problem: Problem) -> None:
        self.rejects.append(message.source_id)


def pull_message(source_id: str | None = None, tenant: str = TENANT, **overrides: Any) -> InboundMessage:
    message = portal_message(source_id, tenant=tenant, **overrides)
    return InboundMessage(channel="testpull", source_id=message.source_id, payload=message.payload,
                          media_type=message.media_type, received_at=message.received_at, tenant_ars=tenant)


@pytest.fixture
def channel(console_gateway: Gateway) -> BreakableChannel:
    found = BreakableChannel(console_gateway)
    console_gateway.adapters.channels.register("testpull", found)
    return found


def quarantined(gateway: Gateway, channel: BreakableChannel, tenant: str = TENANT, **overrides: Any) -> str:
    """The inbox id of a message quarantined through ``channel`` (broken for it, then mended)."""
    channel.broken = True
    received = gateway.pipeline.receive(pull_message(tenant=tenant, **overrides))
    gateway.worker.run_until_idle()
    channel.broken = False
    assert gateway.pipeline.outcome(received.inbox_id).state == "quarantined"
    return received.inbox_id


def inbox_state(gateway: Gateway, inbox_id: str) -> str:
    return gateway.pipeline.outcome(inbox_id).state
