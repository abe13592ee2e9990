"""The E-POST sandbox on a real loopback port, and a sender for it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.hybridmail import testing
from adapters.hybridmail.sandbox.app import create_app
from adapters.hybridmail.sandbox.config import SandboxConfig
from adapters.hybridmail.sandbox.state import EPostSandbox
from adapters.hybridmail.sender import HybridMailSender
from tests.support.servers import serve_app


@dataclass
class Shop:
    url: str
    state: EPostSandbox
    tmp: Path

    def sender(self, **options: object) -> HybridMailSender:
        return HybridMailSender(testing.options(self.url, **options), self.tmp / "work")


@pytest.fixture
def shop_config() -> SandboxConfig:
    return SandboxConfig(step_seconds=0.4)


@pytest.fixture
def shop(tmp_path: Path, shop_config: SandboxConfig) -> Iterator[Shop]:
    app = create_app(shop_config)
    with serve_app(app, health_path="/healthz") as url:
        yield Shop(url, app.state.epost, tmp_path)
