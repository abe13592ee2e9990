"""The SMTP sandbox on real loopback ports: STARTTLS with the TEST certificate, AUTH required."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.email import testing
from adapters.email.sandbox.app import create_app
from adapters.email.sandbox.config import SandboxConfig
from adapters.email.sandbox.store import MailStore
from tests.support.servers import free_port, serve_app


@dataclass
class Relay:
    url: str  # the sandbox's web side
    port: int  # its SMTP listener
    store: MailStore
    mail_dir: Path


def _serve(tmp_path: Path, **config: object) -> Iterator[Relay]:
    port = free_port()
    cfg = SandboxConfig(smtp_port=port, mail_dir=tmp_path / "mail", username=testing.SANDBOX_USER,
                        password=testing.SANDBOX_PASSWORD, **config)  # type: ignore[arg-type]
    app = create_app(cfg)
    with serve_app(app, health_path="/healthz") as url:
        yield Relay(url, port, app.state.mail, tmp_path / "mail")


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    yield from _serve(tmp_path)


@pytest.fixture
def plain_relay(tmp_path: Path) -> Iterator[Relay]:
    """A relay that offers no STARTTLS (and so no AUTH either)."""
    port = free_port()
    app = create_app(SandboxConfig(smtp_port=port, starttls=False))
    with serve_app(app, health_path="/healthz") as url:
        yield Relay(url, port, app.state.mail, tmp_path)
