"""Sandbox Zustelldienst on a real loopback port, and the channel wired against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.fitconnect import plugin, testing
from adapters.fitconnect.outbound import Created, Outbound
from adapters.fitconnect.sandbox.app import create_app
from adapters.fitconnect.sandbox.config import demo_config
from adapters.fitconnect.sandbox.state import Sandbox
from gateway.ports import InboundMessage
from tests.support.servers import serve_app


class Env:
    def __init__(self, url: str, sandbox: Sandbox, tmp: Path) -> None:
        self.url, self.sandbox, self.tmp = url, sandbox, tmp
        self.efa: Outbound = testing.efa_sender(url)

    def wiring(self, **extra: Any) -> plugin.Wiring:
        options = plugin.parse_options(testing.gateway_options(self.url, self.tmp / "sender.json", **extra))
        return plugin.build(options, testing.REPO)

    def fetch_all(self, wiring: plugin.Wiring) -> dict[str, InboundMessage]:
        return {m.source_id: m for m in wiring.source.poll()}

    def events(self, created: Created) -> list[str]:
        return self.sandbox.event_names(created.case_id)

    def listed(self, wiring: plugin.Wiring) -> set[str]:
        dest = wiring.options.destinations[0].id
        return {str(s["submissionId"]) for s in wiring.channel.api.list_submissions(dest, 100)}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Sandbox]]:
    app = create_app(demo_config())
    with serve_app(app, health_path="/health") as url:
        yield url, app.state.sandbox


@pytest.fixture
def env(served: tuple[str, Sandbox], tmp_path: Path) -> Env:
    return Env(served[0], served[1], tmp_path)
