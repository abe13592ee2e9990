"""Gateway (core runtime + FIT-Connect adapter) and sandbox Zustelldienst, both over HTTP.

The gateway gets its own small catalog (only the FIT-Connect services, no trust-level
minimum) so these tests exercise the channel and stay independent of the tenant catalog.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.fitconnect import testing
from adapters.fitconnect.sandbox.app import create_app as create_sandbox
from adapters.fitconnect.sandbox.config import DEMO_DESTINATION, demo_config
from adapters.fitconnect.sandbox.state import Sandbox
from gateway.api.app import create_app
from tests.support.servers import free_port, serve_app

CATALOG = """\
tenant:
  ars: "150905350535"
  name: Einheitsgemeinde Stadt Tangerhütte
  reference_prefix: TGH
services:
  - leika: "99050012104000"
    name: Gewerbe anmelden
    mappings: [fim.gewerbe-anmelden]
    min_trust_level: none
    channels: [fitconnect]
    queue: gewerbeamt
"""


@pytest.fixture
def mappings_root(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    shutil.copytree(testing.REPO / "mappings" / "fim", root / "mappings" / "fim")
    (root / "mappings" / "catalog").mkdir()
    (root / "mappings" / "catalog" / "tangerhuette.yaml").write_text(CATALOG, encoding="utf-8")
    (root / "schemas").symlink_to(testing.REPO / "schemas")
    return root / "mappings"


@dataclass
class Stack:
    sandbox: Sandbox
    sandbox_url: str
    gateway_url: str
    make_gateway: Callable[..., Any]  # keyword arguments: FIT-Connect adapter options to change
    gateway: Any
    efa: Any
    sandbox_app: Any = None  # app.state: the sandbox's postbox and online service

    def events(self, case_id: str) -> list[str]:
        return self.sandbox.event_names(case_id)


@pytest.fixture
def stack(tmp_path: Path, mappings_root: Path) -> Iterator[Stack]:
    yield from make_stack(tmp_path, mappings_root, "v1")


@pytest.fixture(params=["v1", "v2"])
def any_stack(request: pytest.FixtureRequest, tmp_path: Path, mappings_root: Path) -> Iterator[Stack]:
    """A gateway fetching its destination's submissions with Submission API v1, or with v2."""
    yield from make_stack(tmp_path, mappings_root, request.param)


def make_stack(tmp_path: Path, mappings_root: Path, api_version: str, **extra: Any) -> Iterator[Stack]:
    """``extra``: further adapter options (``postbox``, ``replies``)."""
    from gateway.bootstrap import Gateway
    from gateway.config import Settings

    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    callback = f"{gateway_url}/v1/channels/fitconnect/callbacks/{DEMO_DESTINATION}"
    sandbox_app = create_sandbox(demo_config(callback_url=callback))
    with serve_app(sandbox_app, health_path="/health") as sandbox_url:
        options = testing.gateway_options(sandbox_url, issuer=sandbox_url, destinations=[
            {**testing.gateway_options(sandbox_url)["destinations"][0], "services": [], "api_version": api_version}],
            **extra)
        settings = Settings(data_dir=tmp_path / "data", mappings_dir=mappings_root,
                            adapters={"fitconnect": options}, demo=True, backoff_base_seconds=0.01,
                            backoff_max_seconds=0.02, poll_interval_seconds=0.001)

        def make_gateway(**fitconnect: Any) -> Any:
            if not fitconnect:
                return Gateway.create(settings)
            return Gateway.create(settings.model_copy(update={"adapters": {"fitconnect": {**options, **fitconnect}}}))

        gateway = make_gateway()
        with serve_app(create_app(gateway), port=gateway_port):
            yield Stack(sandbox=sandbox_app.state.sandbox, sandbox_url=sandbox_url, gateway_url=gateway_url,
                        make_gateway=make_gateway, gateway=gateway, efa=testing.efa_sender(sandbox_url),
                        sandbox_app=sandbox_app)
        gateway.close()


def wait_for(condition: Callable[[], Any], seconds: float = 10.0) -> Any:
    """The first truthy value of ``condition``, polled every 50 ms for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")
