"""Sandbox Zustelldienst on a real loopback port, and the channel wired against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.fitconnect.sandbox.app import create_app
from adapters.fitconnect.sandbox.config import demo_config
from adapters.fitconnect.sandbox.state import Sandbox
from adapters.fitconnect.testing import SandboxEnv
from tests.support.servers import serve_app


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Sandbox]]:
    app = create_app(demo_config())
    with serve_app(app, health_path="/health") as url:
        yield url, app.state.sandbox


@pytest.fixture
def env(served: tuple[str, Sandbox], tmp_path: Path) -> SandboxEnv:
    return SandboxEnv(served[0], served[1], tmp_path)
